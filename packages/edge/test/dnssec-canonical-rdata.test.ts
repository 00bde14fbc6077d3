// Canonical RDATA (RFC 4034 §6.2, RFC 6840 §5.1) for every type whose RDATA holds names, the rare
// ones too: a zone with MD, MF, MB, MG, MR, MINFO, RP, AFSDB, RT, PX, NAPTR, KX, A6 (and the
// common NS, SOA, MX, SRV, DNAME), every RDATA name in mixed case, is signed by ldns-signzone
// (which signs the lowercased form) with an ECDSA P-256 and an Ed25519 key made by ldns-keygen;
// the records, read back as wire RDATA (`ldns-read-zone -U`), go through our codec and must
// verify, with their letter case as served. Also: HINFO and NSEC are not lowercased (RFC 6840
// §5.1), a tampered record fails, and the decoder writes compressed names of those types out in
// full (RFC 3597 §4). Skipped, with the reason, without the ldns tools.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { importKey, keyTag } from "../src/dns/dnssec/crypto.ts";
import { canonicalRdata, nameWire, parseDnskey, parseRrsig } from "../src/dns/dnssec/records.ts";
import { Budget, type TrustedKey, verifyRrset } from "../src/dns/dnssec/verify-rrset.ts";
import { RRType } from "../src/dns/wire/constants.ts";
import {
  decodeMessage,
  encodeMessage,
  type Message,
  type ResourceRecord,
} from "../src/dns/wire/message.ts";
import { has } from "./dns-helpers.ts";

const TOOLS = ["ldns-keygen", "ldns-signzone", "ldns-read-zone"];
const missing = TOOLS.filter((t) => !has(t));

const ZONE = `$ORIGIN Rare.Test.
$TTL 3600
@      IN SOA  Ns1.Rare.Test. HostMaster.Rare.Test. 1 3600 600 86400 300
@      IN NS   Ns1.Rare.Test.
ns1    IN A    192.0.2.1
md     IN MD   Mail.Example.
mf     IN MF   Mail.Example.
mb     IN MB   Box.Example.
mg     IN MG   Group.Example.
mr     IN MR   ReName.Example.
minfo  IN MINFO RMail.Example. EMail.Example.
hinfo  IN HINFO "Intel" "LINUX"
rp     IN RP   Admin.Example. Txt.Example.
afsdb  IN AFSDB 1 AFS.Example.
rt     IN RT   10 Relay.Example.
px     IN PX   10 Map822.Example. MapX400.Example.
naptr  IN NAPTR 100 10 "S" "SIP+D2U" "" _Sip._Udp.Example.
kx     IN KX   10 Kx.Example.
; A6 (ldns reads no A6 presentation, and signs RDATA given as \\# as it is, so the name is
; lowercase here; its lowercasing is checked on its own below): prefix 64, suffix ::1:2:3:4,
; prefix name prefix.example.
a6     IN TYPE38 \\# 25 40 0001000200030004 06707265666978 076578616d706c6500
mx     IN MX   10 Mail.Example.
srv    IN SRV  0 5 5060 SipServer.Example.
dname  IN DNAME Target.Example.
`;

/** The types whose signatures the test checks, by code (RFC 4034 §6.2's list, present here). */
const NAMED_TYPES: Record<string, number> = {
  NS: 2,
  MD: 3,
  MF: 4,
  SOA: 6,
  MB: 7,
  MG: 8,
  MR: 9,
  HINFO: 13,
  MINFO: 14,
  MX: 15,
  RP: 17,
  AFSDB: 18,
  RT: 21,
  PX: 26,
  SRV: 33,
  NAPTR: 35,
  KX: 36,
  A6: 38,
  DNAME: 39,
};

interface Signed {
  keys: TrustedKey[];
  /** Owner/type → the RRset and its RRSIGs, decoded from one message our codec encoded. */
  sets: Map<string, { rrset: ResourceRecord[]; sigs: ResourceRecord[] }>;
  nsec: ResourceRecord[];
}

/** `owner ttl IN TYPEn \# len hex` lines (ldns-read-zone -U) → records with wire RDATA. */
function readUnknownFormat(text: string): ResourceRecord[] {
  const out: ResourceRecord[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+(\d+)\s+IN\s+TYPE(\d+)\s+\\#\s+\d+\s*([0-9a-fA-F ]*)$/.exec(line.trim());
    if (!m) continue;
    out.push({
      name: m[1]!.replace(/\.$/, ""),
      type: Number(m[3]),
      class: 1,
      ttl: Number(m[2]),
      data: Uint8Array.from(Buffer.from(m[4]!.replace(/ /g, ""), "hex")),
    });
  }
  return out;
}

/** A response carrying `records` with their RDATA as given (names uncompressed). */
function rawAnswer(records: readonly ResourceRecord[]): Uint8Array {
  const parts: Buffer[] = [
    Buffer.from([0, 1, 0x84, 0, 0, 0, records.length >> 8, records.length & 0xff, 0, 0, 0, 0]),
  ];
  for (const r of records) {
    const rdata = r.data as Uint8Array;
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(r.type, 0);
    fixed.writeUInt16BE(r.class, 2);
    fixed.writeUInt32BE(r.ttl, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    parts.push(Buffer.from(nameWire(r.name)), fixed, Buffer.from(rdata));
  }
  return Buffer.concat(parts);
}

function sign(dir: string, algorithm: string): Signed {
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  writeFileSync(join(dir, "zone"), ZONE);
  const key = run("ldns-keygen", ["-a", algorithm, "-k", "rare.test"]).trim();
  // NSEC (no -n): the NSEC records show that their next name is left as it is.
  run("ldns-signzone", ["-f", join(dir, `signed-${algorithm}`), join(dir, "zone"), key]);
  const records = readUnknownFormat(
    run("ldns-read-zone", ["-U", "TYPE0", join(dir, `signed-${algorithm}`)]),
  );
  // Through our decoder, as an answer from upstream would be.
  const msg: Message = decodeMessage(rawAnswer(records));
  const keys: TrustedKey[] = msg.answers
    .filter((r) => r.type === RRType.DNSKEY)
    .map((r) => {
      const data = parseDnskey(r);
      return { data, tag: keyTag(r.data as Uint8Array), key: importKey(data)! };
    });
  const sets = new Map<string, { rrset: ResourceRecord[]; sigs: ResourceRecord[] }>();
  const at = (owner: string, type: number) => {
    const k = `${owner.toLowerCase()}/${type}`;
    let s = sets.get(k);
    if (!s) {
      s = { rrset: [], sigs: [] };
      sets.set(k, s);
    }
    return s;
  };
  for (const r of msg.answers) {
    if (r.type === RRType.RRSIG) at(r.name, parseRrsig(r).typeCovered).sigs.push(r);
    else at(r.name, r.type).rrset.push(r);
  }
  return { keys, sets, nsec: msg.answers.filter((r) => r.type === RRType.NSEC) };
}

function check(s: Signed, owner: string, type: number) {
  const set = s.sets.get(`${owner}/${type}`);
  assert.ok(set && set.rrset.length > 0 && set.sigs.length > 0, `${owner}/${type} signed`);
  return verifyRrset(
    set.rrset,
    set.sigs.map(parseRrsig),
    "rare.test",
    s.keys,
    Math.floor(Date.now() / 1000),
    new Budget(10, 100),
  );
}

const OWNER: Record<string, string> = { NS: "rare.test", SOA: "rare.test" };

describe("canonical RDATA of the types that hold names", {
  skip: missing.length > 0 ? `${missing.join(", ")} not installed (apt package ldnsutils)` : false,
}, () => {
  let dir: string;
  const signed = new Map<string, Signed>();
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "gh-canonical-"));
    for (const alg of ["ECDSAP256SHA256", "ED25519"]) signed.set(alg, sign(dir, alg));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const alg of ["ECDSAP256SHA256", "ED25519"]) {
    for (const [name, type] of Object.entries(NAMED_TYPES)) {
      test(`${alg}: ${name} verifies with its RDATA names in the case served`, async () => {
        const r = await check(
          signed.get(alg)!,
          OWNER[name] ?? `${name.toLowerCase()}.rare.test`,
          type,
        );
        assert.ok(r.ok, r.ok ? "" : r.why);
      });
    }
  }

  test("the served letter case is kept in the records; only the signed form is lowercased", () => {
    const s = signed.get("ED25519")!;
    const rp = s.sets.get("rp.rare.test/17")!.rrset[0]!;
    assert.ok(Buffer.from(rp.data as Uint8Array).includes(Buffer.from("Admin")));
    assert.ok(Buffer.from(canonicalRdata(rp)).includes(Buffer.from("admin")));
    // HINFO holds character strings, not names: left as they are (RFC 6840 §5.1 keeps HINFO
    // on the list, with nothing in it to lowercase).
    const hinfo = s.sets.get("hinfo.rare.test/13")!.rrset[0]!;
    assert.deepEqual(canonicalRdata(hinfo), hinfo.data);
    // NSEC's next name is not lowercased (RFC 6840 §5.1 took NSEC off the list).
    const nsec = s.nsec.find((r) => Buffer.from(r.data as Uint8Array).includes(Buffer.from("A6")));
    if (nsec) assert.deepEqual(canonicalRdata(nsec), nsec.data);
  });

  test("A6: the prefix name is lowercased, the prefix length and address suffix are not", () => {
    const rdata = Uint8Array.from([
      64,
      0,
      1,
      0,
      2,
      0x0a,
      0x0b,
      0x4c,
      0x5a,
      ...nameWire("Prefix.EXAMPLE"),
    ]);
    const a6 = { name: "a6.rare.test", type: 38, class: 1, ttl: 60, data: rdata };
    assert.deepEqual(
      [...canonicalRdata(a6)],
      [64, 0, 1, 0, 2, 0x0a, 0x0b, 0x4c, 0x5a, ...nameWire("prefix.example")],
    );
    // Prefix length 0: the whole address, no name; 128: no address octets, only the name.
    const whole = Uint8Array.from([0, ...new Array<number>(16).fill(0x41)]);
    assert.deepEqual(canonicalRdata({ ...a6, data: whole }), whole);
    assert.deepEqual(
      [...canonicalRdata({ ...a6, data: Uint8Array.from([128, ...nameWire("P.Example")]) })],
      [128, ...nameWire("p.example")],
    );
  });

  test("a changed name in the RDATA no longer verifies", async () => {
    const s = signed.get("ECDSAP256SHA256")!;
    const set = s.sets.get("minfo.rare.test/14")!;
    const bytes = Uint8Array.from(set.rrset[0]!.data as Uint8Array);
    const i = Buffer.from(bytes).indexOf(Buffer.from("RMail"));
    bytes[i] = "X".charCodeAt(0);
    const tampered: Signed = {
      ...s,
      sets: new Map([
        ["minfo.rare.test/14", { ...set, rrset: [{ ...set.rrset[0]!, data: bytes }] }],
      ]),
    };
    assert.equal((await check(tampered, "minfo.rare.test", 14)).ok, false);
  });
});

test("compressed names in MINFO, RP, AFSDB and NAPTR RDATA are written out in full when decoded", () => {
  // A hand-made answer: question rare.test/A, then records whose RDATA names point back at the
  // question name (offset 12), as an RFC 1035 / RFC 3597 §4 sender may do.
  const header = [0, 1, 0x84, 0, 0, 1, 0, 4, 0, 0, 0, 0];
  const qname = [4, ...Buffer.from("Rare"), 4, ...Buffer.from("test"), 0];
  const ptr = [0xc0, 12];
  const rr = (type: number, rdata: number[]) => [
    ...ptr,
    0,
    type,
    0,
    1,
    0,
    0,
    0x0e,
    0x10,
    rdata.length >> 8,
    rdata.length & 0xff,
    ...rdata,
  ];
  const label = (s: string) => [s.length, ...Buffer.from(s)];
  const wire = Uint8Array.from([
    ...header,
    ...qname,
    0,
    1,
    0,
    1,
    ...rr(14, [...label("RMail"), ...ptr, ...label("EMail"), ...ptr]),
    ...rr(17, [...label("Admin"), ...ptr, ...ptr]),
    ...rr(18, [0, 1, ...label("AFS"), ...ptr]),
    ...rr(35, [0, 100, 0, 10, 1, 0x53, 0, 0, ...label("_sip"), ...ptr]),
  ]);
  const m = decodeMessage(wire);
  const full = (...labels: string[]) => [
    ...labels.flatMap(label),
    ...label("Rare"),
    ...label("test"),
    0,
  ];
  assert.deepEqual([...(m.answers[0]!.data as Uint8Array)], [...full("RMail"), ...full("EMail")]);
  assert.deepEqual([...(m.answers[1]!.data as Uint8Array)], [...full("Admin"), ...full()]);
  assert.deepEqual([...(m.answers[2]!.data as Uint8Array)], [0, 1, ...full("AFS")]);
  assert.deepEqual(
    [...(m.answers[3]!.data as Uint8Array)],
    [0, 100, 0, 10, 1, 0x53, 0, 0, ...full("_sip")],
  );
  // Written into another message, the names still mean the same (no stale pointers).
  const again = decodeMessage(encodeMessage({ ...m, questions: [] }));
  assert.deepEqual(again.answers[1]!.data, m.answers[1]!.data);
  // And their canonical form is lowercased.
  assert.ok(Buffer.from(canonicalRdata(m.answers[1]!)).includes(Buffer.from("admin")));
});
