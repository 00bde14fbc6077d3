import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import { Rcode, RRType } from "./constants.ts";
import { edeOption, readEde, responseEdns } from "./edns.ts";
import { decodeMessage, emptyMessage, encodeMessage, type Message } from "./message.ts";
import { readName, WireError } from "./name.ts";
import { parseQuery } from "./query.ts";

const vectors = JSON.parse(
  readFileSync(new URL("../../../test/fixtures/dns-wire-vectors.json", import.meta.url), "utf8"),
);

function generate(desc: string): Uint8Array {
  if (desc.startsWith("255 bytes")) {
    const b = new Uint8Array(255);
    for (let i = 0; i < 127; i++) b.set([1, 0x61], i * 2);
    return b;
  }
  if (desc.startsWith("256 bytes")) {
    const b = new Uint8Array(256);
    for (let i = 0; i < 128; i++) b.set([1, 0x61], i * 2);
    return b;
  }
  if (desc.startsWith("403 bytes")) {
    const b = new Uint8Array(403);
    for (let i = 0; i < 100; i++) b.set([1, 0x61], i * 2);
    b[200] = 0;
    for (let i = 0; i < 100; i++) b.set([1, 0x61], 201 + i * 2);
    b.set([0xc0, 0x00], 401);
    return b;
  }
  if (desc.startsWith("16386 bytes")) {
    const b = new Uint8Array(16386);
    for (let i = 0; i <= 16382; i += 2) {
      const v = 0xc000 | i;
      b[i + 2] = v >> 8;
      b[i + 3] = v & 0xff;
    }
    return b;
  }
  throw new Error(`unknown generator ${desc}`);
}

test("name decoding vectors (dns-wire-vectors.json)", () => {
  for (const v of vectors.name_decoding.vectors as {
    hex?: string;
    generator?: string;
    offset: number;
    expect: string;
  }[]) {
    const buf = v.hex !== undefined ? Buffer.from(v.hex, "hex") : generate(v.generator!);
    const label = v.hex ?? v.generator!;
    if (v.expect.startsWith("error")) {
      assert.throws(() => readName(buf, v.offset), WireError, label);
    } else {
      const name = readName(buf, v.offset).name;
      const m = /^ok: "(.*)"/.exec(v.expect);
      if (m) assert.equal(name === "" ? "." : name, m[1], label);
      else assert.equal(name, Array(127).fill("a").join("."), label);
    }
  }
});

test("RFC 8484 examples decode; our encoding matches them byte for byte", () => {
  for (const r of vectors.doh_rfc8484.requests as { message_hex?: string; body_hex?: string }[]) {
    const hex = r.message_hex ?? r.body_hex!;
    const p = parseQuery(Buffer.from(hex, "hex"));
    assert.ok(p.ok);
    const m = decodeMessage(Buffer.from(hex, "hex"));
    assert.equal(encodeMessage(m).toString("hex"), hex);
  }
  const resp = Buffer.from(vectors.doh_rfc8484.response_example.body_hex, "hex");
  const m = decodeMessage(resp);
  assert.equal(m.answers[0]!.data, "2001:db8:abcd:12:1:2:3:4");
  assert.equal(m.answers[0]!.ttl, 3709);
  assert.equal(encodeMessage(m).toString("hex"), resp.toString("hex"));
});

test("round trip with dns-packet as an independent decoder and encoder", () => {
  const msg: Message = {
    ...emptyMessage(0x1234),
    qr: true,
    rd: true,
    ra: true,
    rcode: Rcode.NOERROR,
    questions: [{ name: "WwW.Example.com", type: RRType.A, class: 1 }],
    answers: [
      { name: "www.example.com", type: RRType.CNAME, class: 1, ttl: 300, data: "edge.example.net" },
      { name: "edge.example.net", type: RRType.A, class: 1, ttl: 60, data: "192.0.2.1" },
      { name: "edge.example.net", type: RRType.AAAA, class: 1, ttl: 60, data: "2001:db8::1" },
      {
        name: "example.com",
        type: RRType.MX,
        class: 1,
        ttl: 60,
        data: { preference: 10, exchange: "mail.example.com" },
      },
      {
        name: "example.com",
        type: RRType.TXT,
        class: 1,
        ttl: 60,
        data: [Buffer.from("v=spf1 -all")],
      },
    ],
    authorities: [
      {
        name: "example.com",
        type: RRType.SOA,
        class: 1,
        ttl: 60,
        data: {
          mname: "ns.example.com",
          rname: "host.example.com",
          serial: 1,
          refresh: 2,
          retry: 3,
          expire: 4,
          minimum: 5,
        },
      },
    ],
    edns: responseEdns(true, [edeOption(15, "Blocked by test")]),
  };
  const wire = encodeMessage(msg);
  const theirs = dnsPacket.decode(wire);
  assert.equal(theirs.id, 0x1234);
  assert.equal(theirs.answers!.length, 5);
  assert.equal((theirs.answers![0] as { data: string }).data, "edge.example.net");
  assert.equal((theirs.answers![2] as { data: string }).data, "2001:db8::1");
  assert.ok(wire.length < dnsPacket.encode(theirs).length + 40, "names are compressed");
  const back = decodeMessage(wire);
  assert.equal(back.questions[0]!.name, "WwW.Example.com");
  // Compression is case-insensitive (RFC 4343 §3), so a suffix may take the case seen first.
  const mx = back.answers[3]!.data as { preference: number; exchange: string };
  assert.equal(mx.exchange.toLowerCase(), "mail.example.com");
  assert.deepEqual(readEde(back.edns), [{ infoCode: 15, extraText: "Blocked by test" }]);
  assert.equal(back.edns!.do, true);
  // And the other direction: decode what dns-packet encodes.
  const q = dnsPacket.encode({
    type: "query",
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: "AAAA", name: "Example.ORG" }],
    additionals: [
      {
        type: "OPT",
        name: ".",
        udpPayloadSize: 4096,
        flags: dnsPacket.DNSSEC_OK,
        options: [],
      } as never,
    ],
  });
  const p = parseQuery(q);
  assert.ok(p.ok);
  assert.equal(p.query.qname, "example.org");
  assert.equal(p.query.qnameRaw, "Example.ORG");
  assert.deepEqual(p.query.edns, {
    udpSize: 4096,
    version: 0,
    do: true,
    padding: false,
    nsid: false,
  });
});

test("query parse classification", () => {
  const base = Buffer.from(
    "12340100000100000000000003777777076578616d706c6503636f6d0000010001",
    "hex",
  );
  const mutate = (f: (b: Buffer) => void) => {
    const b = Buffer.from(base);
    f(b);
    return b;
  };
  const cases: [string, Uint8Array, string][] = [
    ["short", base.subarray(0, 11), "drop"],
    ["response", mutate((b) => (b[2]! |= 0x80)), "drop"],
    ["notify opcode", mutate((b) => (b[2] = 0x20)), `respond ${Rcode.NOTIMP}`],
    ["qdcount 2", mutate((b) => (b[5] = 2)), `respond ${Rcode.FORMERR}`],
    ["qdcount 0", mutate((b) => (b[5] = 0)), `respond ${Rcode.FORMERR}`],
    ["truncated question", base.subarray(0, base.length - 2), `respond ${Rcode.FORMERR}`],
    ["label > 63", mutate((b) => (b[12] = 0x40)), `respond ${Rcode.FORMERR}`],
    ["arcount without record", mutate((b) => (b[11] = 1)), `respond ${Rcode.FORMERR}`],
  ];
  // Like unbound: TC set, records beside the OPT, meta-TYPEs → FORMERR with the question echoed.
  const a = "c00c000100010000012c0004c0000201"; // www.example.com A 192.0.2.1, name compressed
  const opt = "0000290200000000000000";
  const echoed: [string, Uint8Array, string][] = [
    ["tc set", mutate((b) => (b[2]! |= 0x02)), "truncated"],
    ["qtype OPT", mutate((b) => (b[b.length - 3] = 41)), "meta_type"],
    ["qtype TSIG", mutate((b) => (b[b.length - 3] = 250)), "meta_type"],
    ["qtype 128", mutate((b) => (b[b.length - 3] = 128)), "meta_type"],
    [
      "an answer record",
      Buffer.concat([mutate((b) => (b[7] = 1)), Buffer.from(a, "hex")]),
      "records",
    ],
    [
      "an additional record besides the OPT",
      Buffer.concat([mutate((b) => (b[11] = 2)), Buffer.from(opt + a, "hex")]),
      "records",
    ],
  ];
  for (const [name, buf, reason] of echoed) {
    const p = parseQuery(buf);
    assert.ok(!p.ok && p.action === "respond", name);
    assert.deepEqual(
      [p.rcode, p.reason, p.query?.qname],
      [Rcode.FORMERR, reason, "www.example.com"],
    );
  }
  const single = parseQuery(Buffer.concat([mutate((b) => (b[11] = 1)), Buffer.from(opt, "hex")]));
  assert.ok(single.ok && single.query.edns?.udpSize === 512, "one OPT alone is fine");
  for (const qd of [0, 2]) {
    // FORMERR to QDCOUNT ≠ 1 still reads the OPT, so the answer carries one (RFC 6891 §6.1.1).
    const withOpt = Buffer.concat([
      mutate((b) => {
        b[5] = qd;
        b[11] = 1;
      }),
      ...(qd === 2 ? [base.subarray(12)] : []),
      Buffer.from(opt, "hex"),
    ]);
    const p = parseQuery(
      qd === 0 ? Buffer.concat([withOpt.subarray(0, 12), withOpt.subarray(base.length)]) : withOpt,
    );
    assert.ok(!p.ok, `qdcount ${qd}`);
    assert.deepEqual([p.rcode, p.edns?.udpSize], [Rcode.FORMERR, 512], `qdcount ${qd}`);
  }
  for (const [name, buf, want] of cases) {
    const p = parseQuery(buf);
    assert.ok(!p.ok, name);
    assert.equal(p.action === "drop" ? "drop" : `respond ${p.rcode}`, want, name);
  }
  const ok = parseQuery(base);
  assert.ok(ok.ok && ok.query.id === 0x1234 && ok.query.qtype === 1 && ok.query.rd);
});

test("truncation to the requester's size sets TC and keeps question and OPT", () => {
  const msg: Message = {
    ...emptyMessage(1),
    qr: true,
    questions: [{ name: "big.example", type: RRType.TXT, class: 1 }],
    answers: Array.from({ length: 20 }, () => ({
      name: "big.example",
      type: RRType.TXT,
      class: 1,
      ttl: 1,
      data: [new Uint8Array(100).fill(0x61)],
    })),
    edns: responseEdns(false),
  };
  const wire = encodeMessage(msg, { maxSize: 512 });
  assert.ok(wire.length <= 512);
  const d = decodeMessage(wire);
  assert.equal(d.tc, true);
  assert.equal(d.questions.length, 1);
  assert.equal(d.answers.length, 0);
  assert.ok(d.edns);
  assert.equal(encodeMessage(msg, { maxSize: 4096 }).length > 2000, true);
});
