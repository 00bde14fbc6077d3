// Integration: the edge's DNS answers on the wire, header bit by header bit, against fake
// upstreams on loopback — what RFC 1035, RFC 4035, RFC 6891 and friends ask, and what unbound
// does as a forwarder.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { EdgeConfigFile, ResolverSettings } from "@gatehouse/contract";
import { Ede, EdnsOption, Rcode, RRType } from "../src/dns/wire/constants.ts";
import { readEde } from "../src/dns/wire/edns.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import {
  a,
  buildQuery,
  dohQuery,
  dotQuery,
  type FakeUpstream,
  type FakeZoneEntry,
  has,
  startFakeUpstream,
  tcpExchange,
  udpQuery,
  udpRaw,
} from "./dns-helpers.ts";

/** A query with another opcode (RFC 1035 §4.1.1: bits 14–11 of the flags). */
function withOpcode(q: Buffer, opcode: number): Buffer {
  const b = Buffer.from(q);
  b[2] = (b[2]! & 0x87) | (opcode << 3);
  return b;
}

/** Ask over UDP and decode; fails the test on silence. */
async function ask(port: number, bytes: Uint8Array, from?: string) {
  const r = await udpRaw(port, bytes, { timeoutMs: 3000, ...(from ? { from } : {}) });
  assert.ok(r, "no answer");
  return decodeMessage(r);
}

function config(
  upstream: FakeUpstream,
  extra: Partial<EdgeConfigFile> = {},
  resolver: Partial<ResolverSettings> = {},
): EdgeConfigFile {
  return {
    resolver: {
      upstreams: [{ address: upstream.address, timeoutMs: 1000 }],
      cache: { serveStale: false, prefetch: false },
      // The fake upstreams sign nothing: AD here is the upstream's, as without validation
      // (validating: dns-dnssec.test.ts).
      dnssec: { validate: false },
      ...resolver,
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.1", "::1"] }],
    lists: [],
    policies: [],
    edge: { dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] } },
    ...extra,
  };
}

function portsOf(edge: Edge): { udp: number; tcp: number } {
  return {
    udp: Number(edge.addresses.dns.udp[0]!.split(":").pop()),
    tcp: Number(edge.addresses.dns.tcp[0]!.split(":").pop()),
  };
}

/** An edge on loopback forwarding to a fake upstream serving `zone`, for one describe block. */
function edgeFixture(
  zone: Map<string, FakeZoneEntry>,
  extra: Partial<EdgeConfigFile> = {},
  resolver: Partial<ResolverSettings> = {},
): { up: FakeUpstream; edge: Edge; ports: { udp: number; tcp: number } } {
  const f = {} as { up: FakeUpstream; edge: Edge; ports: { udp: number; tcp: number } };
  before(async () => {
    f.up = await startFakeUpstream(zone);
    f.edge = await startEdge({ config: config(f.up, extra, resolver), log: () => {} });
    f.ports = portsOf(f.edge);
  });
  after(async () => {
    await f.edge.close();
    await f.up.close();
  });
  return f;
}

/** Config with one policy blocking the list `ads` (ads.example) in `mode`. */
function blockAds(mode: "null" | "nxdomain" = "null"): Partial<EdgeConfigFile> {
  return {
    lists: [{ id: "l1", name: "ads", type: "domain", items: ["ads.example"] }],
    policies: [
      {
        id: "p-ads",
        name: "Block ads",
        type: "dns",
        enabled: true,
        precedence: 10,
        expression: "any(dns.domains[*] in $ads)",
        action: "block",
        settings: { blockMode: mode },
      },
    ],
  };
}

describe("CD bit (RFC 4035 §3.2.2)", () => {
  const zone = new Map<string, FakeZoneEntry>([
    ["bogus.example/1", { servfailUnlessCd: true, answers: [a("bogus.example", "192.0.2.66")] }],
    [
      "slow-bogus.example/1",
      {
        servfailUnlessCd: true,
        delayMs: 150,
        answers: [a("slow-bogus.example", "192.0.2.67")],
      },
    ],
  ]);
  const f = edgeFixture(zone);

  test("an answer fetched with CD=1 is never served to a client that did not set CD", async () => {
    // Twice with CD=1: the second is answered by the packet cache's fast path.
    for (let i = 0; i < 2; i++) {
      const r = await udpQuery(f.ports.udp, "bogus.example", { cd: true });
      assert.equal(r?.rcode, Rcode.NOERROR);
      assert.equal(r?.cd, true);
      assert.equal(r?.answers[0]?.data, "192.0.2.66");
    }
    // Without CD: not from the answer cache nor the packet cache — the upstream's SERVFAIL.
    for (let i = 0; i < 2; i++) {
      const r = await udpQuery(f.ports.udp, "bogus.example");
      assert.equal(r?.rcode, Rcode.SERVFAIL);
      assert.equal(r?.cd, false);
      assert.equal(r?.answers.length, 0);
    }
    const [tcp] = await tcpExchange(f.ports.tcp, [buildQuery("bogus.example")]);
    assert.equal(decodeMessage(tcp!).rcode, Rcode.SERVFAIL);
    // And CD=1 still gets its own cached answer.
    const again = await udpQuery(f.ports.udp, "bogus.example", { cd: true });
    assert.equal(again?.answers[0]?.data, "192.0.2.66");
  });

  test("concurrent CD=1 and CD=0 misses are not merged into one upstream query", async () => {
    const [withCd, without] = await Promise.all([
      udpQuery(f.ports.udp, "slow-bogus.example", { cd: true, timeoutMs: 3000 }),
      udpQuery(f.ports.udp, "slow-bogus.example", { timeoutMs: 3000 }),
    ]);
    assert.equal(withCd?.rcode, Rcode.NOERROR);
    assert.equal(withCd?.answers[0]?.data, "192.0.2.67");
    assert.equal(without?.rcode, Rcode.SERVFAIL);
    assert.equal(f.up.counts.get("slow-bogus.example"), 2);
  });
});

describe("locally generated error answers echo the header (RFC 1035 §4.1.1)", () => {
  const zone = new Map<string, FakeZoneEntry>([
    ["a.example/1", { answers: [a("a.example", "192.0.2.1")] }],
    ["fail.example/1", { rcode: Rcode.SERVFAIL }],
  ]);
  const f = edgeFixture(zone);

  test("NOTIMP echoes the opcode, ID, RD, CD and question, with RA and EDNS", async () => {
    for (const opcode of [15, 2, 5]) {
      const q = withOpcode(buildQuery("a.example", { id: 0x4242, cd: true }), opcode);
      const r = await ask(f.ports.udp, q);
      assert.equal(r.rcode, Rcode.NOTIMP);
      assert.equal(r.opcode, opcode);
      assert.equal(r.id, 0x4242);
      assert.deepEqual(
        [r.qr, r.rd, r.cd, r.ra, r.ad, r.aa],
        [true, true, true, true, false, false],
      );
      assert.deepEqual(r.questions, [{ name: "a.example", type: 1, class: 1 }]);
      assert.equal(r.edns?.version, 0);
    }
    // RD=0 is echoed as 0; a body we cannot read still gets NOTIMP with the opcode.
    const norec = withOpcode(buildQuery("a.example", { rd: false }), 15);
    assert.equal((await ask(f.ports.udp, norec)).rd, false);
    const garbage = withOpcode(Buffer.from("abcd0100000100000000000003", "hex"), 15);
    const g = await ask(f.ports.udp, garbage);
    assert.deepEqual([g.rcode, g.opcode, g.id, g.rd, g.ra], [Rcode.NOTIMP, 15, 0xabcd, true, true]);
    assert.equal(g.questions.length, 0);
  });

  test("FORMERR echoes ID, opcode and RD when the header is readable", async () => {
    // QDCOUNT 2.
    const two = Buffer.from(buildQuery("a.example", { id: 0x1111, cd: true }));
    two[5] = 2;
    const r = await ask(f.ports.udp, two);
    assert.deepEqual(
      [r.rcode, r.id, r.opcode, r.qr, r.rd, r.cd, r.ra],
      [Rcode.FORMERR, 0x1111, 0, true, true, true, true],
    );
  });

  test("an OPT record in the answer or authority section, or two OPTs, is FORMERR (RFC 6891 §6.1.1)", async () => {
    const q = buildQuery("a.example", { id: 0x2222 });
    // Move the OPT (ARCOUNT 1) into the answer section, then into the authority section.
    for (const at of [6, 8]) {
      const b = Buffer.from(q);
      b.writeUInt16BE(0, 10);
      b.writeUInt16BE(1, at);
      const r = await ask(f.ports.udp, b);
      assert.equal(r.rcode, Rcode.FORMERR, `OPT counted at offset ${at}`);
      assert.equal(r.id, 0x2222);
    }
    const opt = q.subarray(q.length - 11);
    const twice = Buffer.concat([q, opt]);
    twice.writeUInt16BE(2, 10);
    assert.equal((await ask(f.ports.udp, twice)).rcode, Rcode.FORMERR);
  });

  test("REFUSED to an unknown client has RA clear; to a known client (RD=0 aside) RA set", async () => {
    const r = await ask(f.ports.udp, buildQuery("a.example", { id: 7, cd: true }), "127.0.0.2");
    assert.deepEqual([r.rcode, r.id, r.rd, r.cd, r.ra], [Rcode.REFUSED, 7, true, true, false]);
    const n = await ask(f.ports.udp, withOpcode(buildQuery("a.example"), 15), "127.0.0.2");
    assert.deepEqual([n.rcode, n.opcode, n.ra], [Rcode.NOTIMP, 15, false]);
    // Zone transfers are REFUSED locally (as unbound does) to a known client: RA set.
    const axfr = await ask(f.ports.udp, buildQuery("a.example", { type: 252 }));
    assert.deepEqual([axfr.rcode, axfr.ra, axfr.rd], [Rcode.REFUSED, true, true]);
  });

  test("SERVFAIL echoes RD and CD and sets RA", async () => {
    const r = await ask(f.ports.udp, buildQuery("fail.example", { id: 9, cd: true }));
    assert.deepEqual(
      [r.rcode, r.id, r.opcode, r.rd, r.cd, r.ra],
      [Rcode.SERVFAIL, 9, 0, true, true, true],
    );
  });

  test("dig +opcode=15 gets its NOTIMP (no timeout on a mismatched opcode)", {
    skip: has("dig") ? false : "dig not installed",
  }, async () => {
    const out = await new Promise<string>((resolve) =>
      execFile(
        "dig",
        ["@127.0.0.1", "-p", String(f.ports.udp), "+opcode=15", "+tries=1", "+time=3", "a.example"],
        (_e, stdout) => resolve(stdout),
      ),
    );
    assert.match(out, /opcode: RESERVED15, status: NOTIMP/);
    assert.match(out, /flags: qr rd ra;/);
  });
});

describe("RD=0 (no recursion wanted)", () => {
  const zone = new Map<string, FakeZoneEntry>([
    ["cached.example/1", { answers: [a("cached.example", "192.0.2.10")] }],
    ["never.example/1", { answers: [a("never.example", "192.0.2.11")] }],
  ]);
  const f = edgeFixture(zone, blockAds());

  test("cache hits and misses are REFUSED with EDE 20, as unbound's default; upstream not asked", async () => {
    // Cached (and in the packet cache) by two RD=1 queries first.
    for (let i = 0; i < 2; i++)
      assert.equal((await udpQuery(f.ports.udp, "cached.example"))?.rcode, Rcode.NOERROR);
    for (const name of ["cached.example", "never.example"]) {
      const r = await udpQuery(f.ports.udp, name, { rd: false, id: 77 });
      assert.deepEqual([r?.rcode, r?.id, r?.rd, r?.ra], [Rcode.REFUSED, 77, false, true]);
      assert.equal(r?.answers.length, 0);
      assert.deepEqual(
        readEde(r?.edns).map((e) => e.infoCode),
        [Ede.NOT_AUTHORITATIVE],
      );
      const [tcp] = await tcpExchange(f.ports.tcp, [buildQuery(name, { rd: false })]);
      assert.equal(decodeMessage(tcp!).rcode, Rcode.REFUSED);
    }
    assert.equal(f.up.counts.get("never.example"), undefined);
    assert.equal(f.up.counts.get("cached.example"), 1);
    assert.equal(f.edge.queryLog.peekNewest(1)[0]!.reason, "no_recursion");
  });

  test("local answers (special names, blocks) are still given", async () => {
    const local = await udpQuery(f.ports.udp, "localhost", { rd: false });
    assert.deepEqual([local?.rcode, local?.answers[0]?.data], [Rcode.NOERROR, "127.0.0.1"]);
    const blocked = await udpQuery(f.ports.udp, "ads.example", { rd: false });
    assert.deepEqual([blocked?.rcode, blocked?.answers[0]?.data], [Rcode.NOERROR, "0.0.0.0"]);
    assert.equal(blocked?.rd, false);
  });
});

describe("ANY (RFC 8482)", () => {
  const zone = new Map<string, FakeZoneEntry>([
    [
      "multi.example/*",
      {
        answers: [
          a("multi.example", "192.0.2.5"),
          ...Array.from({ length: 20 }, (_, i) => ({
            name: "multi.example",
            type: RRType.TXT,
            class: 1,
            ttl: 300,
            data: [Buffer.alloc(200, 0x61 + i)],
          })),
        ],
      },
    ],
  ]);
  const f = edgeFixture(zone, blockAds("nxdomain"));

  test("ANY gets one synthesized HINFO over UDP and TCP; the upstream is not asked", async () => {
    const q = buildQuery("Multi.Example", { type: RRType.ANY, udpSize: 4096 });
    const udp = await udpRaw(f.ports.udp, q);
    const [tcp] = await tcpExchange(f.ports.tcp, [q]);
    for (const raw of [udp!, tcp!]) {
      const r = decodeMessage(raw);
      assert.equal(r.rcode, Rcode.NOERROR);
      assert.equal(r.tc, false);
      assert.deepEqual(r.questions, [{ name: "Multi.Example", type: RRType.ANY, class: 1 }]);
      assert.equal(r.answers.length, 1);
      const rr = r.answers[0]!;
      assert.deepEqual([rr.name, rr.type, rr.class], ["Multi.Example", RRType.HINFO, 1]);
      assert.deepEqual(
        Buffer.from(rr.data as Uint8Array),
        Buffer.from("\x07RFC8482\x00", "latin1"),
      );
      // No amplification: the answer is about the size of the query.
      assert.ok(raw.length < q.length + 40, `answer of ${raw.length} bytes`);
    }
    assert.equal(f.up.counts.get("multi.example"), undefined);
    assert.equal(f.edge.queryLog.peekNewest(1)[0]!.reason, "rfc8482_any");
    // Other types still resolve in full.
    const txt = await udpQuery(f.ports.udp, "multi.example", { type: RRType.TXT, udpSize: 4096 });
    assert.equal(txt?.rcode, Rcode.NOERROR);
  });

  test("a blocked name stays blocked for ANY", async () => {
    const r = await udpQuery(f.ports.udp, "ads.example", { type: RRType.ANY });
    assert.equal(r?.rcode, Rcode.NXDOMAIN);
  });
});

describe("upstream UDP loss (RFC 1035 §7.2)", () => {
  const zone = new Map<string, FakeZoneEntry>([
    ["lost.example/1", { dropUdp: 1, answers: [a("lost.example", "192.0.2.20")] }],
    [
      "udp-blocked.example/1",
      { udpSilent: true, answers: [a("udp-blocked.example", "192.0.2.21")] },
    ],
  ]);
  const f = edgeFixture(zone);

  test("a lost UDP packet is sent again: answered before the deadline, not SERVFAIL", async () => {
    const r = await udpQuery(f.ports.udp, "lost.example", { timeoutMs: 3000 });
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "192.0.2.20");
    assert.equal(f.up.counts.get("lost.example"), 2, "the first datagram and one retransmission");
  });

  test("an upstream that never answers over UDP is asked over TCP before SERVFAIL", async () => {
    const r = await udpQuery(f.ports.udp, "udp-blocked.example", { timeoutMs: 4000 });
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "192.0.2.21");
  });
});

describe("upstream without EDNS (RFC 6891 §6.2.2)", () => {
  const zone = new Map<string, FakeZoneEntry>([
    ["old.example/1", { formerrOnEdns: true, answers: [a("old.example", "192.0.2.30")] }],
    ["old2.example/1", { formerrOnEdns: true, answers: [a("old2.example", "192.0.2.31")] }],
    ["broken.example/1", { rcode: Rcode.FORMERR }],
  ]);
  const f = edgeFixture(zone);

  test("FORMERR to EDNS: asked again without it, remembered for the upstream; the client keeps EDNS", async () => {
    const r = await udpQuery(f.ports.udp, "old.example", { do: true });
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "192.0.2.30");
    assert.equal(r?.edns?.version, 0);
    assert.equal(r?.edns?.do, true);
    assert.equal(f.up.counts.get("old.example"), 2, "with EDNS, then without");
    // Remembered: the next question to this upstream goes without EDNS at once.
    const r2 = await udpQuery(f.ports.udp, "old2.example");
    assert.equal(r2?.answers[0]?.data, "192.0.2.31");
    assert.equal(f.up.counts.get("old2.example"), 1);
  });

  test("FORMERR without EDNS too is SERVFAIL, never passed to the client", async () => {
    const r = await udpQuery(f.ports.udp, "broken.example");
    assert.equal(r?.rcode, Rcode.SERVFAIL);
    assert.equal(f.edge.queryLog.peekNewest(1)[0]!.reason, "upstream_rcode");
  });
});

describe("0x20 toward an upstream that does not echo the case", () => {
  const zone = new Map<string, FakeZoneEntry>([
    [
      "lowercase-echo.example/1",
      { lowercaseEcho: true, answers: [a("lowercase-echo.example", "192.0.2.40")] },
    ],
    [
      "another-lowercase.example/1",
      { lowercaseEcho: true, answers: [a("another-lowercase.example", "192.0.2.41")] },
    ],
  ]);
  const f = edgeFixture(zone, {}, { use0x20: true });

  test("asked again in plain case at once, then in plain case; the client's case is echoed", async () => {
    const r = await udpQuery(f.ports.udp, "LowerCase-Echo.example", { timeoutMs: 3000 });
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "192.0.2.40");
    assert.equal(r?.questions[0]?.name, "LowerCase-Echo.example");
    assert.equal(f.up.counts.get("lowercase-echo.example"), 2, "mixed case, then plain");
    const r2 = await udpQuery(f.ports.udp, "another-lowercase.example");
    assert.equal(r2?.answers[0]?.data, "192.0.2.41");
    assert.equal(f.up.counts.get("another-lowercase.example"), 1);
  });
});

describe("AD bit (RFC 6840 §5.7–5.8): the edge does not validate", () => {
  const zone = new Map<string, FakeZoneEntry>([
    ["signed.example/1", { ad: true, answers: [a("signed.example", "192.0.2.60")] }],
  ]);
  const f = edgeFixture(zone, {
    policies: [
      {
        id: "p-alias",
        name: "Alias",
        type: "dns",
        enabled: true,
        precedence: 10,
        expression: 'dns.fqdn == "alias.example"',
        action: "override",
        settings: { overrideHost: "signed.example" },
      },
    ],
  });

  test("an unauthenticated (UDP) upstream's AD is not passed on, whatever the client asks", async () => {
    for (const o of [{ ad: true }, { do: true }, { ad: true, do: true }, {}]) {
      const r = await udpQuery(f.ports.udp, "signed.example", o);
      assert.equal(r?.answers[0]?.data, "192.0.2.60");
      assert.equal(r?.ad, false, JSON.stringify(o));
    }
  });

  test("synthesized answers (blocks, rewrites, special names) never carry AD", async () => {
    for (const name of ["alias.example", "localhost", "x.invalid"]) {
      const r = await udpQuery(f.ports.udp, name, { ad: true, do: true });
      assert.equal(r?.ad, false, name);
    }
  });
});

describe("EDNS padding (RFC 7830, RFC 8467) and NSID (RFC 5001)", () => {
  const zone = new Map<string, FakeZoneEntry>([
    ["a.example/1", { answers: [a("a.example", "192.0.2.1")] }],
  ]);
  const f = edgeFixture(zone, {
    edge: {
      dns: {
        udp: ["127.0.0.1:0"],
        tcp: ["127.0.0.1:0"],
        dot: ["127.0.0.1:0"],
        doh: ["127.0.0.1:0"],
        nsid: "edge-7.test",
      },
      dataDir: mkdtempSync(join(tmpdir(), "gh-edge-wire-")),
    },
  });
  const unnamed = edgeFixture(zone);
  const padding = (n = 0) => ({ code: EdnsOption.PADDING, data: new Uint8Array(n) });
  const nsid = { code: EdnsOption.NSID, data: new Uint8Array(0) };
  const optionCodes = (raw: Buffer) => (decodeMessage(raw).edns?.options ?? []).map((o) => o.code);
  const tls = () => {
    const ca = readFileSync(f.edge.tlsCertFile!, "utf8");
    const port = (k: "dot" | "doh") => Number(f.edge.addresses.dns[k][0]!.split(":").pop());
    return {
      dot: (q: Buffer) => dotQuery(port("dot"), ca, q),
      doh: (q: Buffer) => dohQuery(port("doh"), ca, q),
    };
  };

  test("DoT and DoH answers to padded queries are padded to 468-octet blocks", async () => {
    const { dot, doh } = tls();
    // Unpadded first (twice: the packet cache then holds the answer), then padded.
    for (let i = 0; i < 2; i++) {
      const plain = await dot(buildQuery("a.example"));
      assert.deepEqual(optionCodes(plain), []);
    }
    for (const ask of [dot, doh]) {
      for (let i = 0; i < 2; i++) {
        const raw = await ask(buildQuery("a.example", { ednsOptions: [padding(40)] }));
        const m = decodeMessage(raw);
        assert.equal(m.answers[0]?.data, "192.0.2.1");
        assert.equal(raw.length % 468, 0, `padded answer of ${raw.length} octets`);
        assert.deepEqual(optionCodes(raw), [EdnsOption.PADDING]);
        assert.ok(m.edns!.options[0]!.data.every((b) => b === 0));
      }
    }
  });

  test("answers over UDP and TCP, and to unpadded queries, are not padded", async () => {
    const q = buildQuery("a.example", { ednsOptions: [padding(40)] });
    const udp = await udpRaw(f.ports.udp, q);
    const [tcp] = await tcpExchange(f.ports.tcp, [q]);
    for (const raw of [udp!, tcp!]) assert.deepEqual(optionCodes(raw), []);
    assert.deepEqual(optionCodes(await tls().doh(buildQuery("a.example"))), []);
  });

  test("NSID is sent only when asked for and configured", async () => {
    for (let i = 0; i < 2; i++) {
      const raw = await udpRaw(f.ports.udp, buildQuery("a.example", { ednsOptions: [nsid] }));
      const m = decodeMessage(raw!);
      assert.equal(m.answers[0]?.data, "192.0.2.1");
      const o = m.edns?.options.find((x) => x.code === EdnsOption.NSID);
      assert.equal(Buffer.from(o!.data).toString("utf8"), "edge-7.test");
    }
    assert.deepEqual(optionCodes((await udpRaw(f.ports.udp, buildQuery("a.example")))!), []);
    const other = await udpRaw(unnamed.ports.udp, buildQuery("a.example", { ednsOptions: [nsid] }));
    assert.deepEqual(optionCodes(other!), []);
  });
});
