// The zone-file parser: RFC 1035 §5 syntax it must read, errors that name the line, and a fuzz
// run (random mutations of a valid zone) that must end in records or a ZoneFileError, never
// anything else, within bounded time.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkBundle } from "../src/validate.ts";
import { parseZoneFile, ZoneFileError } from "../src/zone-file.ts";

const ZONE = `$ORIGIN lan.test.
$TTL 1h
@   IN  SOA ns1.lan.test. hostmaster.lan.test. (
            2026120701 ; serial
            3600 600 1w 300 )
        NS  ns1            ; owner from the line before
ns1     A   192.0.2.53
nas 300 IN  A 192.168.1.10
nas IN 60   AAAA ::ffff:192.0.2.1
www     CNAME nas
txt     TXT "a \\"quoted\\" ; not a comment" plain \\065BC
*.dyn   A   192.168.1.99
$ORIGIN sub
host    A   10.0.0.1
_x._tcp.lan.test. SRV 1 2 3 host.sub.lan.test.
@       CAA 128 issuewild ";"
`;

describe("zone files", () => {
  it("reads directives, parentheses, comments, escapes, relative and blank owners", () => {
    const rs = parseZoneFile(ZONE, "lan.test");
    const view = rs.map((r) => [r.name, r.type, r.ttl, r.data, r.line]);
    assert.deepEqual(view, [
      [
        "lan.test",
        "SOA",
        3600,
        {
          mname: "ns1.lan.test",
          rname: "hostmaster.lan.test",
          serial: 2026120701,
          refresh: 3600,
          retry: 600,
          expire: 604800,
          minimum: 300,
        },
        3,
      ],
      ["lan.test", "NS", 3600, "ns1.lan.test", 6],
      ["ns1.lan.test", "A", 3600, "192.0.2.53", 7],
      ["nas.lan.test", "A", 300, "192.168.1.10", 8],
      ["nas.lan.test", "AAAA", 60, "::ffff:192.0.2.1", 9],
      ["www.lan.test", "CNAME", 3600, "nas.lan.test", 10],
      ["txt.lan.test", "TXT", 3600, ['a "quoted" ; not a comment', "plain", "ABC"], 11],
      ["*.dyn.lan.test", "A", 3600, "192.168.1.99", 12],
      ["host.sub.lan.test", "A", 3600, "10.0.0.1", 14],
      [
        "_x._tcp.lan.test",
        "SRV",
        3600,
        { priority: 1, weight: 2, port: 3, target: "host.sub.lan.test" },
        15,
      ],
      ["sub.lan.test", "CAA", 3600, { flags: 128, tag: "issuewild", value: ";" }, 16],
    ]);
  });

  it("names the line of every error", () => {
    const bad: [string, RegExp][] = [
      ["a A 300.1.1.1", /line 1: not an IPv4 address/],
      ["\n\na AAAA 1::2::3", /line 3: not an IPv6 address/],
      ["a HINFO x y", /line 1: record type "HINFO" is not supported/],
      ["other.example. A 192.0.2.1", /outside the zone lan.test/],
      ["a MX 10", /MX takes 2 fields/],
      ['a TXT "unterminated', /unterminated quoted string/],
      ["@ SOA a b ( 1 2 3 4", /unbalanced \(/],
      ["bad..name A 192.0.2.1", /not a valid name/],
      ["a.*.b A 192.0.2.1", /not a valid name/],
      ["a CNAME *.x", /not a valid name/],
      ["$INCLUDE other.zone", /\$INCLUDE is not supported/],
      ["a CH A 192.0.2.1", /class CH is not supported/],
      [`a TXT "${"x".repeat(256)}"`, /longer than 255 octets/],
    ];
    for (const [text, re] of bad) {
      assert.throws(
        () => parseZoneFile(text, "lan.test"),
        (e: unknown) => {
          assert.ok(e instanceof ZoneFileError, text);
          assert.match((e as Error).message, re, text);
          return true;
        },
      );
    }
  });

  it("fuzz: mutated zones parse or fail with a ZoneFileError, quickly", () => {
    let seed = 0x2545f491;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const alphabet = ' \t\n();"\\.@*$0123456789abcdefAINSOXTMRVCPQ:-_';
    const t0 = performance.now();
    for (let i = 0; i < 3000; i++) {
      const chars = [...ZONE];
      for (let k = 0, n = 1 + rnd(8); k < n; k++) {
        const at = rnd(chars.length);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)]!);
        else chars[at] = alphabet[rnd(alphabet.length)]!;
      }
      const text = chars.join("");
      try {
        const rs = parseZoneFile(text, "lan.test");
        for (const r of rs) assert.ok(r.name === "lan.test" || r.name.endsWith(".lan.test"), text);
      } catch (e) {
        if (!(e instanceof ZoneFileError))
          throw new Error(`${String(e)} for ${JSON.stringify(text)}`);
      }
    }
    assert.ok(performance.now() - t0 < 20_000, "3,000 mutated zones parse in bounded time");
  });

  it("a bundle with a local zone that does not parse is refused with the line named", () => {
    const bundle = {
      schemaVersion: 1,
      version: 1,
      resolver: { upstreams: [{ address: "udp://192.0.2.1:53" }] },
      locations: [],
      lists: [],
      policies: [],
      localZones: [
        { id: "z", name: "lan.test", zone: "ok A 192.0.2.1\nbad A 999.0.0.1", transferTo: ["xx"] },
        { id: "y", name: "LAN.test.", zone: "" },
      ],
    };
    assert.deepEqual(checkBundle(bundle), [
      { path: "/localZones/0/zone", message: 'line 2: not an IPv4 address: "999.0.0.1"' },
      { path: "/localZones/0/transferTo/0", message: 'not an address or CIDR: "xx"' },
      { path: "/localZones/1/name", message: 'duplicate local zone "lan.test"' },
    ]);
  });
});
