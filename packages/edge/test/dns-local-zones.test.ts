// Local zones on the wire: authoritative answers (AA; NXDOMAIN vs NODATA, each with the zone's
// SOA and the RFC 2308 TTL), every record type local DNS needs, wildcards, empty non-terminals,
// CNAMEs inside and out of the zone, zones limited to a location, and AXFR over TCP to the
// listed secondaries only, checked with dig (skipped without it) and ldns-verify-zone-style
// parsing of what dig received.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { parseZoneFile } from "@gatehouse/contract";
import { Rcode, RRType } from "../src/dns/wire/constants.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import {
  a,
  buildQuery,
  type FakeUpstream,
  has,
  startFakeUpstream,
  tcpExchange,
  udpQuery,
} from "./dns-helpers.ts";

const run = promisify(execFile);

const ZONE = `$TTL 600
@        IN SOA ns1 hostmaster ( 2026120701 3600 600 86400 300 )
@           NS    ns1
ns1         A     192.0.2.53
nas      300 IN A 192.168.1.10
nas         AAAA  fd00::10
www         CNAME nas
out         CNAME a.example.
@           MX    10 mail
mail        A     192.168.1.25
@           TXT   "v=spf1 mx -all" "second string"
_ldap._tcp  SRV   0 5 389 nas
@           CAA   0 issue "ca.example"
*.dyn       A     192.168.1.99
x.y         A     192.168.1.77 ; y.lan.test exists only as an empty non-terminal
`;

const REVERSE = `10 PTR nas.lan.test.`;

/** A zone of about 300 KB on the wire: an AXFR of it takes several messages (RFC 5936 §2.2). */
const BIG_RECORDS = 6000;
function bigZone(): string {
  const lines = ["$TTL 3600", "@ IN SOA ns1 hostmaster ( 7 3600 600 86400 300 )", "@ NS ns1"];
  for (let i = 0; i < BIG_RECORDS - 1; i++) {
    const h = `host-${String(i).padStart(5, "0")}`;
    if (i % 3 === 0) lines.push(`${h} A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    else if (i % 3 === 1) lines.push(`${h} AAAA fd00::${i.toString(16)}`);
    else lines.push(`${h} TXT "inventory tag ${i}, rack ${i % 40}, row ${i % 7}"`);
  }
  return lines.join("\n");
}
const BIG = bigZone();

/** The messages of one AXFR over TCP: until the closing SOA (or an error, or 5 s). */
function axfr(port: number, zone: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    let soas = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`AXFR incomplete after 5 s: ${out.length} messages`));
    }, 5000);
    const finish = () => {
      clearTimeout(timer);
      s.end();
      resolve(out);
    };
    s.on("error", reject);
    s.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + msg.length);
        out.push(msg);
        const m = decodeMessage(msg);
        soas += m.answers.filter((r) => r.type === RRType.SOA).length;
        if (soas >= 2 || m.rcode !== Rcode.NOERROR) return finish();
      }
    });
    const q = buildQuery(zone, { type: 252 });
    const f = Buffer.alloc(2 + q.length);
    f.writeUInt16BE(q.length);
    f.set(q, 2);
    s.write(f);
  });
}

function config(up: FakeUpstream): EdgeConfigFile {
  return {
    resolver: {
      upstreams: [{ address: up.address, timeoutMs: 300 }],
      cache: { prefetch: false },
      // The fake upstream signs nothing (validation: dns-dnssec.test.ts).
      dnssec: { validate: false },
    },
    locations: [
      { id: "lo", name: "Loopback", networks: ["127.0.0.1"] },
      { id: "office", name: "Office", networks: ["10.1.0.0/16"] },
    ],
    lists: [],
    policies: [
      {
        id: "p-block",
        name: "Blocked local name",
        type: "dns",
        enabled: true,
        precedence: 1,
        expression: 'dns.fqdn == "blocked.lan.test"',
        action: "block",
      },
    ],
    localZones: [
      { id: "z1", name: "lan.test", zone: ZONE, transferTo: ["127.0.0.1/32"] },
      { id: "z2", name: "1.168.192.in-addr.arpa", zone: REVERSE },
      { id: "z3", name: "office.test", zone: "printer A 10.1.0.5", locations: ["office"] },
      { id: "z4", name: "big.test", zone: BIG, transferTo: ["127.0.0.1"] },
    ],
    edge: { dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] } },
  };
}

describe("local zones", () => {
  let up: FakeUpstream;
  let edge: Edge;
  let port: number;
  let tcpPort: number;
  before(async () => {
    up = await startFakeUpstream(
      new Map([
        ["a.example/1", { answers: [a("a.example", "192.0.2.1")] }],
        ["printer.office.test/1", { answers: [a("printer.office.test", "203.0.113.9")] }],
      ]),
    );
    edge = await startEdge({ config: config(up), log: () => {} });
    port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
    tcpPort = Number(edge.addresses.dns.tcp[0]!.split(":").pop());
  });
  after(async () => {
    await edge.close();
    await up.close();
  });

  test("records of every type, authoritative", async () => {
    const cases: [string, number, unknown[]][] = [
      ["nas.lan.test", RRType.A, ["192.168.1.10"]],
      ["NAS.lan.test", RRType.AAAA, ["fd00::10"]],
      ["lan.test", RRType.MX, [{ preference: 10, exchange: "mail.lan.test" }]],
      ["lan.test", RRType.NS, ["ns1.lan.test"]],
      [
        "_ldap._tcp.lan.test",
        RRType.SRV,
        [{ priority: 0, weight: 5, port: 389, target: "nas.lan.test" }],
      ],
      ["10.1.168.192.in-addr.arpa", RRType.PTR, ["nas.lan.test"]],
    ];
    for (const [name, type, data] of cases) {
      const r = await udpQuery(port, name, { type });
      assert.equal(r?.rcode, Rcode.NOERROR, name);
      assert.equal(r?.aa, true, `${name}: AA`);
      assert.deepEqual(
        r?.answers.map((x) => x.data),
        data,
        name,
      );
      assert.equal(r?.answers[0]?.name, name, `${name}: owner as asked`);
    }
    const txt = await udpQuery(port, "lan.test", { type: RRType.TXT });
    assert.deepEqual(
      (txt!.answers[0]!.data as Uint8Array[]).map((b) => Buffer.from(b).toString()),
      ["v=spf1 mx -all", "second string"],
    );
    const caa = await udpQuery(port, "lan.test", { type: RRType.CAA });
    assert.deepEqual(
      [...(caa!.answers[0]!.data as Uint8Array)],
      [0, 5, ...Buffer.from("issue"), ...Buffer.from("ca.example")],
    );
    assert.equal(up.counts.get("nas.lan.test"), undefined, "never forwarded");
    assert.equal(edge.queryLog.peekNewest(1)[0]?.reason, "local_zone");
  });

  test("NXDOMAIN vs NODATA, both with the SOA at the negative TTL", async () => {
    const nx = await udpQuery(port, "nothing.lan.test");
    assert.equal(nx?.rcode, Rcode.NXDOMAIN);
    assert.equal(nx?.aa, true);
    assert.equal(nx?.authorities[0]?.type, RRType.SOA);
    assert.equal(nx?.authorities[0]?.ttl, 300, "min(SOA TTL 600, MINIMUM 300)");
    const nodata = await udpQuery(port, "mail.lan.test", { type: RRType.AAAA });
    assert.equal(nodata?.rcode, Rcode.NOERROR);
    assert.equal(nodata?.answers.length, 0);
    assert.equal(nodata?.authorities[0]?.type, RRType.SOA);
    const ent = await udpQuery(port, "y.lan.test");
    assert.equal(ent?.rcode, Rcode.NOERROR, "an empty non-terminal exists");
    assert.equal(ent?.answers.length, 0);
    const below = await udpQuery(port, "z.x.y.lan.test");
    assert.equal(below?.rcode, Rcode.NXDOMAIN);
  });

  test("wildcards, CNAMEs in and out of the zone", async () => {
    const w = await udpQuery(port, "host7.dyn.lan.test");
    assert.equal(w?.answers[0]?.data, "192.168.1.99");
    assert.equal(w?.answers[0]?.name, "host7.dyn.lan.test");
    const deep = await udpQuery(port, "a.b.dyn.lan.test");
    assert.equal(deep?.answers[0]?.data, "192.168.1.99", "a wildcard covers deeper names");
    const inZone = await udpQuery(port, "www.lan.test");
    assert.deepEqual(
      inZone?.answers.map((x) => x.data),
      ["nas.lan.test", "192.168.1.10"],
    );
    const out = await udpQuery(port, "out.lan.test");
    assert.deepEqual(
      out?.answers.map((x) => x.data),
      ["a.example", "192.0.2.1"],
    );
    const cnameQ = await udpQuery(port, "www.lan.test", { type: RRType.CNAME });
    assert.deepEqual(
      cnameQ?.answers.map((x) => x.data),
      ["nas.lan.test"],
    );
  });

  test("a zone limited to a location is not served to others", async () => {
    const r = await udpQuery(port, "printer.office.test");
    assert.equal(r?.answers[0]?.data, "203.0.113.9", "loopback is not in Office: forwarded");
  });

  test("AXFR over TCP to a listed secondary; refused over UDP and for other zones", async () => {
    const [raw] = await tcpExchange(tcpPort, [buildQuery("lan.test", { type: 252 })]);
    const m = decodeMessage(raw!);
    assert.equal(m.rcode, Rcode.NOERROR);
    assert.equal(m.aa, true);
    assert.equal(m.answers[0]?.type, RRType.SOA);
    assert.equal(m.answers.at(-1)?.type, RRType.SOA);
    assert.equal(m.answers.length, 15);
    const [other] = await tcpExchange(tcpPort, [
      buildQuery("1.168.192.in-addr.arpa", { type: 252 }),
    ]);
    assert.equal(decodeMessage(other!).rcode, Rcode.REFUSED, "no transferTo: refused");
    const udp = await udpQuery(port, "lan.test", { type: 252 });
    assert.equal(udp?.rcode, Rcode.REFUSED, "never over UDP");
  });

  test("dig AXFR receives the zone, and what it receives parses back to the same records", {
    skip: has("dig") ? false : "dig is not installed",
  }, async () => {
    const { stdout } = await run("dig", [
      "+nocmd",
      "+nostats",
      "+nocomments",
      "-p",
      String(tcpPort),
      "@127.0.0.1",
      "lan.test",
      "AXFR",
    ]);
    const lines = stdout.split("\n").filter((l) => l.trim() !== "" && !l.startsWith(";"));
    assert.equal(lines.length, 15, stdout);
    // The transfer read back as a zone file (SOA twice: drop the closing one).
    const again = parseZoneFile(lines.slice(0, -1).join("\n"), "lan.test");
    const mine = parseZoneFile(ZONE, "lan.test");
    const key = (r: { name: string; type: string; data: unknown }) =>
      `${r.name} ${r.type} ${JSON.stringify(r.data)}`;
    assert.deepEqual(again.map(key).sort(), mine.map(key).sort());
  });

  test("AXFR of a zone larger than a message: several messages, SOA first and last", async () => {
    const msgs = await axfr(tcpPort, "big.test");
    assert.ok(msgs.length >= 5, `${msgs.length} messages`);
    const decoded = msgs.map((b) => decodeMessage(b));
    const id = decoded[0]!.id;
    const records = decoded.flatMap((m) => m.answers);
    for (const [i, m] of decoded.entries()) {
      assert.ok(msgs[i]!.length <= 65_535);
      assert.equal(m.id, id, "every message answers the same query");
      assert.equal(m.rcode, Rcode.NOERROR);
      assert.equal(m.aa, true);
      // RFC 5936 §2.2.1: the question in the first message; later ones may leave it out.
      assert.equal(m.questions.length, i === 0 ? 1 : 0);
    }
    assert.equal(records.length, BIG_RECORDS + 2, "SOA, every record, SOA");
    assert.equal(records[0]!.type, RRType.SOA);
    assert.equal(records.at(-1)!.type, RRType.SOA);
    assert.equal(records.slice(1, -1).filter((r) => r.type === RRType.SOA).length, 0);
    const names = new Set(records.map((r) => r.name));
    assert.ok(names.has("host-05998.big.test") && names.has("host-00000.big.test"));
    // The small zone still fits one message.
    const small = await axfr(tcpPort, "lan.test");
    assert.equal(small.length, 1);
  });

  for (const tool of ["dig", "kdig"] as const) {
    test(`${tool} AXFR of a zone larger than 64 KB receives every record`, {
      skip: has(tool) ? false : `${tool} is not installed`,
    }, async () => {
      const args =
        tool === "dig"
          ? ["+nocmd", "+nocomments", "-p", String(tcpPort), "@127.0.0.1", "big.test", "AXFR"]
          : ["-p", String(tcpPort), "@127.0.0.1", "big.test", "AXFR"];
      const { stdout } = await run(tool, args, { maxBuffer: 64 * 1024 * 1024 });
      const lines = stdout.split("\n").filter((l) => l.trim() !== "" && !l.startsWith(";"));
      assert.equal(lines.length, BIG_RECORDS + 2, stdout.slice(-500));
      // Each tool counts the messages it read: more than one.
      const messages =
        tool === "dig"
          ? /XFR size: \d+ records \(messages (\d+)/.exec(stdout)?.[1]
          : /Received \d+ B \((\d+) messages/.exec(stdout)?.[1];
      assert.ok(Number(messages) > 1, stdout.slice(-500));
      // Read back as a zone file (SOA twice: drop the closing one), the same records.
      const again = parseZoneFile(lines.slice(0, -1).join("\n"), "big.test");
      const key = (r: { name: string; type: string; data: unknown }) =>
        `${r.name} ${r.type} ${JSON.stringify(r.data)}`;
      assert.deepEqual(again.map(key).sort(), parseZoneFile(BIG, "big.test").map(key).sort());
      // ldns's own parser reads what was transferred as a zone: every record (the SOA left out
      // with -n), and it exits non-zero on a record it cannot parse.
      if (has("ldns-read-zone")) {
        const file = join(mkdtempSync(join(tmpdir(), "gh-axfr-")), "big.test.zone");
        writeFileSync(file, `${lines.slice(0, -1).join("\n")}\n`);
        const read = await run("ldns-read-zone", ["-n", file], { maxBuffer: 64 << 20 });
        assert.equal(read.stdout.split("\n").filter((l) => l.trim() !== "").length, BIG_RECORDS);
        rmSync(dirname(file), { recursive: true, force: true });
      }
    });
  }
});
