// The DNSSEC core against published vectors, no tools needed: key tags and DS digests, one
// signature per algorithm over the RFC's RRset (RFC 5702 §6 RSASHA256/512, RFC 6605 §6
// ECDSA P-256/P-384, RFC 8080 §6.1 Ed25519 with erratum 4935), NSEC3 hashes (RFC 5155 Appendix A)
// and the NXDOMAIN proof of RFC 5155 Appendix B.1, canonical name order (RFC 4034 §6.1) and
// trust-anchor parsing. The vectors are copied from those RFCs (numbers and base64 only).

import assert from "node:assert/strict";
import { test } from "node:test";
import { RRType } from "../wire/constants.ts";
import type { ResourceRecord } from "../wire/message.ts";
import { ROOT_ANCHORS } from "./anchors.ts";
import {
  base32hex,
  dsMatches,
  fromBase32hex,
  importKey,
  keyTag,
  nsec3Hash,
  verifySignature,
} from "./crypto.ts";
import { Denial } from "./denial.ts";
import {
  compareNames,
  nameWire,
  parseAnchors,
  parseDnskey,
  parseRrsig,
  signedData,
} from "./records.ts";
import { Budget, verifyRrset } from "./verify-rrset.ts";

const u16 = (v: number) => [(v >>> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

/** "20100909100439" → seconds. */
function sigTime(s: string): number {
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(s)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
}

function dnskeyRr(owner: string, flags: number, alg: number, b64: string): ResourceRecord {
  const key = Buffer.from(b64, "base64");
  return {
    name: owner,
    type: RRType.DNSKEY,
    class: 1,
    ttl: 3600,
    data: Uint8Array.from([...u16(flags), 3, alg, ...key]),
  };
}

function rrsigRr(
  owner: string,
  covered: number,
  alg: number,
  labels: number,
  ttl: number,
  exp: string,
  inc: string,
  tag: number,
  signer: string,
  sig: string,
): ResourceRecord {
  return {
    name: owner,
    type: RRType.RRSIG,
    class: 1,
    ttl,
    data: Uint8Array.from([
      ...u16(covered),
      alg,
      labels,
      ...u32(ttl),
      ...u32(sigTime(exp)),
      ...u32(sigTime(inc)),
      ...u16(tag),
      ...nameWire(signer),
      ...Buffer.from(sig, "base64"),
    ]),
  };
}

const A = (name: string, ip: string): ResourceRecord => ({
  name,
  type: RRType.A,
  class: 1,
  ttl: 3600,
  data: ip,
});

interface Vector {
  name: string;
  key: ResourceRecord;
  tag: number;
  rrset: ResourceRecord[];
  sig: ResourceRecord;
  at: number;
  ds?: { type: number; hex: string };
}

const vectors: Vector[] = [
  {
    name: "RFC 5702 §6.1 RSASHA256",
    key: dnskeyRr(
      "example.net",
      256,
      8,
      "AwEAAcFcGsaxxdgiuuGmCkVImy4h99CqT7jwY3pexPGcnUFtR2Fh36BponcwtkZ4cAgtvd4Qs8PkxUdp6p/DlUmObdk=",
    ),
    tag: 9033,
    rrset: [A("www.example.net", "192.0.2.91")],
    sig: rrsigRr(
      "www.example.net",
      RRType.A,
      8,
      3,
      3600,
      "20300101000000",
      "20000101000000",
      9033,
      "example.net",
      "kRCOH6u7l0QGy9qpC9l1sLncJcOKFLJ7GhiUOibu4teYp5VE9RncriShZNz85mwlMgNEacFYK/lPtPiVYP4bwg==",
    ),
    at: sigTime("20100101000000"),
  },
  {
    name: "RFC 5702 §6.2 RSASHA512",
    key: dnskeyRr(
      "example.net",
      256,
      10,
      "AwEAAdHoNTOW+et86KuJOWRDp1pndvwb6Y83nSVXXyLA3DLroROUkN6X0O6pnWnjJQujX/AyhqFDxj13tOnD9u/1kTg7cV6rklMrZDtJCQ5PCl/D7QNPsgVsMu1J2Q8gpMpztNFLpPBz1bWXjDtaR7ZQBlZ3PFY12ZTSncorffcGmhOL",
    ),
    tag: 3740,
    rrset: [A("www.example.net", "192.0.2.91")],
    sig: rrsigRr(
      "www.example.net",
      RRType.A,
      10,
      3,
      3600,
      "20300101000000",
      "20000101000000",
      3740,
      "example.net",
      "tsb4wnjRUDnB1BUi+t6TMTXThjVnG+eCkWqjvvjhzQL1d0YRoOe0CbxrVDYd0xDtsuJRaeUw1ep94PzEWzr0iGYgZBWm/zpq+9fOuagYJRfDqfReKBzMweOLDiNa8iP5g9vMhpuv6OPlvpXwm9Sa9ZXIbNl1MBGk0fthPgxdDLw=",
    ),
    at: sigTime("20100101000000"),
  },
  {
    name: "RFC 6605 §6.1 ECDSAP256SHA256",
    key: dnskeyRr(
      "example.net",
      257,
      13,
      "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
    ),
    tag: 55648,
    rrset: [A("www.example.net", "192.0.2.1")],
    sig: rrsigRr(
      "www.example.net",
      RRType.A,
      13,
      3,
      3600,
      "20100909100439",
      "20100812100439",
      55648,
      "example.net",
      "qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==",
    ),
    at: sigTime("20100901000000"),
    ds: { type: 2, hex: "b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17" },
  },
  {
    name: "RFC 6605 §6.2 ECDSAP384SHA384",
    key: dnskeyRr(
      "example.net",
      257,
      14,
      "xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+OB+v8/uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40",
    ),
    tag: 10771,
    rrset: [A("www.example.net", "192.0.2.1")],
    sig: rrsigRr(
      "www.example.net",
      RRType.A,
      14,
      3,
      3600,
      "20100909102025",
      "20100812102025",
      10771,
      "example.net",
      "/L5hDKIvGDyI1fcARX3z65qrmPsVz73QD1Mr5CEqOiLP95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJNuydCuzWTSSPdz7wnqXL5bdcJzusdnI0RSMROxxwGipWcJm",
    ),
    at: sigTime("20100901000000"),
    ds: {
      type: 4,
      hex: "72d7b62976ce06438e9c0bf319013cf801f09ecc84b8d7e9495f27e305c6a9b0563a9b5f4d288405c3008a946df983d6",
    },
  },
  {
    name: "RFC 8080 §6.1 ED25519 (erratum 4935)",
    key: dnskeyRr("example.com", 257, 15, "l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4="),
    tag: 3613,
    rrset: [
      {
        name: "example.com",
        type: RRType.MX,
        class: 1,
        ttl: 3600,
        data: { preference: 10, exchange: "mail.example.com" },
      },
    ],
    sig: rrsigRr(
      "example.com",
      RRType.MX,
      15,
      2,
      3600,
      "20150819220000",
      "20150729220000",
      3613,
      "example.com",
      "oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==",
    ),
    at: sigTime("20150801000000"),
    ds: { type: 2, hex: "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b" },
  },
];

for (const v of vectors) {
  test(`${v.name}: key tag, DS digest and signature`, async () => {
    const key = parseDnskey(v.key);
    assert.equal(keyTag(key.rdata), v.tag);
    if (v.ds) {
      const owner = v.key.name;
      const ds = {
        keyTag: v.tag,
        algorithm: key.algorithm,
        digestType: v.ds.type,
        digest: Buffer.from(v.ds.hex, "hex"),
      };
      assert.ok(dsMatches(owner, ds, key), "DS matches");
      const wrong = Buffer.from(v.ds.hex, "hex");
      wrong[0]! ^= 1;
      assert.ok(!dsMatches(owner, { ...ds, digest: wrong }, key), "a changed digest does not");
    }
    const k = importKey(key);
    assert.ok(k, "key imports");
    const sig = parseRrsig(v.sig);
    const data = signedData(sig, v.rrset);
    assert.ok(await verifySignature(key.algorithm, k, data, sig.signature), "signature verifies");
    // Canonical form: the owner's case and the RRset order do not matter.
    const upper = v.rrset.map((r) => ({ ...r, name: r.name.toUpperCase() }));
    assert.ok(await verifySignature(key.algorithm, k, signedData(sig, upper), sig.signature));
    // Tampered data does not verify.
    const changed = v.rrset.map((r) =>
      r.type === RRType.A
        ? { ...r, data: "192.0.2.99" }
        : { ...r, data: { preference: 20, exchange: "mail.example.com" } },
    );
    assert.ok(!(await verifySignature(key.algorithm, k, signedData(sig, changed), sig.signature)));
    // verifyRrset: in the window → ok; after expiration → EDE 7; before inception → EDE 8.
    const tk = [{ data: key, tag: v.tag, key: k }];
    const zone = sig.signer;
    const ok = await verifyRrset(v.rrset, [sig], zone, tk, v.at, new Budget(10, 10));
    assert.equal(ok.ok, true);
    const late = await verifyRrset(
      v.rrset,
      [sig],
      zone,
      tk,
      sig.expiration + 1,
      new Budget(10, 10),
    );
    assert.deepEqual(late.ok ? 0 : late.ede, 7);
    const early = await verifyRrset(
      v.rrset,
      [sig],
      zone,
      tk,
      sig.inception - 1,
      new Budget(10, 10),
    );
    assert.deepEqual(early.ok ? 0 : early.ede, 8);
    const bad = await verifyRrset(changed, [sig], zone, tk, v.at, new Budget(10, 10));
    assert.deepEqual(bad.ok ? 0 : bad.ede, 6);
    const none = await verifyRrset(v.rrset, [], zone, tk, v.at, new Budget(10, 10));
    assert.deepEqual(none.ok ? 0 : none.ede, 10);
    const noKey = await verifyRrset(v.rrset, [sig], zone, [], v.at, new Budget(10, 10));
    assert.deepEqual(noKey.ok ? 0 : noKey.ede, 9);
    await assert.rejects(
      verifyRrset(v.rrset, [sig], zone, tk, v.at, new Budget(10, 0)),
      /too many/,
    );
  });
}

test("RFC 5155 Appendix A: NSEC3 hashes of the example zone (SHA-1, 12 iterations, salt aabbccdd)", () => {
  const salt = Buffer.from("aabbccdd", "hex");
  const expect: [string, string][] = [
    ["example", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"],
    ["a.example", "35mthgpgcu1qg68fab165klnsnk3dpvl"],
    ["ai.example", "gjeqe526plbf1g8mklp59enfd789njgi"],
    ["ns1.example", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"],
    ["ns2.example", "q04jkcevqvmu85r014c7dkba38o0ji5r"],
    ["w.example", "k8udemvp1j2f7eg6jebps17vp3n8i58h"],
    ["*.w.example", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"],
    ["x.w.example", "b4um86eghhds6nea196smvmlo4ors995"],
    ["y.w.example", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"],
    ["x.y.w.example", "2vptu5timamqttgl4luu9kg21e0aor3s"],
    ["c.x.w.example", "0va5bpr2ou0vk0lbqeeljri88laipsfh"],
    ["*.x.w.example", "92pqneegtaue7pjatc3l3qnk738c6v5m"],
  ];
  for (const [name, hash] of expect) {
    assert.equal(base32hex(nsec3Hash(name, salt, 12)), hash, name);
    assert.equal(base32hex(fromBase32hex(hash)!), hash);
  }
  // Case does not matter (the owner is hashed in canonical form by the caller).
  assert.equal(fromBase32hex("0P9M")?.length, 2);
});

/** NSEC3 RDATA from its presentation fields. */
function nsec3Rr(
  hashLabel: string,
  flags: number,
  iterations: number,
  saltHex: string,
  next: string,
  types: number[],
): ResourceRecord {
  const salt = Buffer.from(saltHex, "hex");
  const nextHash = fromBase32hex(next)!;
  return {
    name: `${hashLabel}.example`,
    type: RRType.NSEC3,
    class: 1,
    ttl: 3600,
    data: Uint8Array.from([
      1,
      flags,
      ...u16(iterations),
      salt.length,
      ...salt,
      nextHash.length,
      ...nextHash,
      ...bitmap(types),
    ]),
  };
}

function bitmap(types: number[]): number[] {
  const out: number[] = [];
  const windows = new Map<number, number[]>();
  for (const t of types) {
    const w = windows.get(t >>> 8) ?? [];
    w.push(t & 0xff);
    windows.set(t >>> 8, w);
  }
  for (const [win, bits] of [...windows].sort((a, b) => a[0] - b[0])) {
    const len = (Math.max(...bits) >>> 3) + 1;
    const bytes = new Array<number>(len).fill(0);
    for (const b of bits) bytes[b >>> 3]! |= 0x80 >>> (b & 7);
    out.push(win, len, ...bytes);
  }
  return out;
}

function nsecRr(owner: string, next: string, types: number[]): ResourceRecord {
  return {
    name: owner,
    type: RRType.NSEC,
    class: 1,
    ttl: 3600,
    data: Uint8Array.from([...nameWire(next), ...bitmap(types)]),
  };
}

test("RFC 5155 Appendix B.1: the NXDOMAIN proof for a.c.x.w.example (and with opt-out: insecure)", () => {
  const T = RRType;
  const records = (flags: number) => [
    nsec3Rr(
      "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
      flags,
      12,
      "aabbccdd",
      "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
      [T.MX, T.DNSKEY, T.NS, T.SOA, 51, T.RRSIG],
    ),
    nsec3Rr(
      "b4um86eghhds6nea196smvmlo4ors995",
      flags,
      12,
      "aabbccdd",
      "gjeqe526plbf1g8mklp59enfd789njgi",
      [T.MX, T.RRSIG],
    ),
    nsec3Rr(
      "35mthgpgcu1qg68fab165klnsnk3dpvl",
      flags,
      12,
      "aabbccdd",
      "b4um86eghhds6nea196smvmlo4ors995",
      [T.NS, T.DS, T.RRSIG],
    ),
  ];
  const d = new Denial("example", records(0));
  assert.equal(d.nxdomain("a.c.x.w.example"), "proven");
  // x.w.example exists (matching NSEC3): no NXDOMAIN proof for it, but NODATA for AAAA.
  assert.equal(d.nxdomain("x.w.example"), "missing");
  assert.equal(d.nodata("x.w.example", T.AAAA), "proven");
  assert.equal(d.nodata("x.w.example", T.MX), "missing");
  // Without the wildcard-covering record the proof is incomplete.
  assert.equal(
    new Denial("example", records(0).slice(0, 2)).nxdomain("a.c.x.w.example"),
    "missing",
  );
  // The same records with the opt-out flag make the answer insecure, not secure.
  assert.equal(new Denial("example", records(1)).nxdomain("a.c.x.w.example"), "insecure");
  // RFC 9276: too many iterations → insecure.
  const heavy = [
    nsec3Rr(
      "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
      0,
      151,
      "aabbccdd",
      "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
      [T.NS],
    ),
  ];
  const h = new Denial("example", heavy);
  assert.equal(h.tooManyIterations, true);
  assert.equal(h.nxdomain("a.example"), "insecure");
});

test("NSEC proofs (RFC 4035 Appendix B shapes): NXDOMAIN, NODATA, empty non-terminal, wildcard, delegations", () => {
  const T = RRType;
  const zone = [
    nsecRr("example", "a.example", [T.NS, T.SOA, T.MX, T.RRSIG, T.NSEC, T.DNSKEY]),
    nsecRr("a.example", "ai.example", [T.NS, T.DS, T.RRSIG, T.NSEC]),
    nsecRr("ai.example", "b.example", [T.A, T.HINFO, T.AAAA, T.RRSIG, T.NSEC]),
    nsecRr("b.example", "ns1.example", [T.NS, T.RRSIG, T.NSEC]),
    nsecRr("ns1.example", "ns2.example", [T.A, T.RRSIG, T.NSEC]),
    nsecRr("ns2.example", "*.w.example", [T.A, T.RRSIG, T.NSEC]),
    nsecRr("*.w.example", "x.w.example", [T.MX, T.RRSIG, T.NSEC]),
    nsecRr("x.w.example", "x.y.w.example", [T.MX, T.RRSIG, T.NSEC]),
    nsecRr("x.y.w.example", "xx.example", [T.MX, T.RRSIG, T.NSEC]),
    nsecRr("xx.example", "example", [T.A, T.HINFO, T.AAAA, T.RRSIG, T.NSEC]),
  ];
  const d = new Denial("example", zone);
  // B.2 name error: ml.example is covered by b.example→ns1.example, *.example by example→a.example.
  assert.equal(d.nxdomain("ml.example"), "proven");
  assert.equal(new Denial("example", [zone[3]!]).nxdomain("ml.example"), "missing");
  // B.3 no data.
  assert.equal(d.nodata("ns1.example", T.MX), "proven");
  assert.equal(d.nodata("ns1.example", T.A), "missing");
  // Empty non-terminal: y.w.example (next name x.y.w.example is below it).
  assert.equal(d.nodata("y.w.example", T.A), "proven");
  // Wildcard NODATA: a.z.w.example has no AAAA through *.w.example.
  assert.equal(d.nodata("a.z.w.example", T.AAAA), "proven");
  assert.equal(d.nodata("a.z.w.example", T.MX), "missing");
  // Wildcard answer: a.z.w.example does not exist itself.
  assert.equal(d.wildcardAnswer("a.z.w.example", "w.example"), "proven");
  assert.equal(d.wildcardAnswer("x.w.example", "w.example"), "missing");
  // Chain of trust: b.example is an unsigned delegation, a.example a signed one, ai.example no cut.
  assert.equal(d.dsDenial("b.example"), "unsigned-delegation");
  assert.equal(d.dsDenial("a.example"), "missing");
  assert.equal(d.dsDenial("ai.example"), "no-cut");
  // Names below a delegation are not proven absent by the parent's NSEC (RFC 6840 §4.1).
  assert.equal(d.nxdomain("x.b.example"), "missing");
});

test("canonical name order (RFC 4034 §6.1)", () => {
  const sorted = [
    "example",
    "a.example",
    "yljkjljk.a.example",
    "Z.a.example",
    "zABC.a.EXAMPLE",
    "z.example",
    "\\001.z.example",
    "*.z.example",
    "\\200.z.example",
  ];
  for (let i = 0; i + 1 < sorted.length; i++)
    assert.ok(compareNames(sorted[i]!, sorted[i + 1]!) < 0, `${sorted[i]} < ${sorted[i + 1]}`);
  assert.equal(compareNames("A.Example", "a.example"), 0);
});

test("trust anchors: the built-in root anchors (KSK-2017, KSK-2024) and parse errors with line numbers", () => {
  const root = parseAnchors(ROOT_ANCHORS);
  assert.deepEqual(
    root.map((a) => [a.owner, a.ds?.keyTag, a.ds?.algorithm, a.ds?.digestType]),
    [
      ["", 20326, 8, 2],
      ["", 38696, 8, 2],
    ],
  );
  const k = parseAnchors(
    "; comment\nexample.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n",
  );
  assert.equal(k[0]!.owner, "example.com");
  assert.equal(keyTag(k[0]!.dnskey!.rdata), 3613);
  assert.throws(() => parseAnchors(". IN A 192.0.2.1"), /line 1: only DS and DNSKEY/);
  assert.throws(() => parseAnchors("\n\nexample DS 1 8 2 00"), /line 3: .*fully qualified/);
  assert.throws(() => parseAnchors(". DS 1 8 2 zz"), /not hex/);
});
