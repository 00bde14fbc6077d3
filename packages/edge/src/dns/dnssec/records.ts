// DNSSEC record data (RFC 4034 §2–§5, RFC 5155 §3) read from the raw RDATA the wire codec keeps
// for these types, canonical forms (RFC 4034 §6: names, ordering, RR wire form) and the
// presentation form of trust anchors (DS and DNSKEY lines as in a zone file).

import { trustAnchorLines } from "@gatehouse/contract/trust-anchors";
import { parseIpv4 } from "@gatehouse/rules";
import { ipv6Words } from "../../net/ip-address.ts";
import { RRType } from "../wire/constants.ts";
import type { MxData, ResourceRecord, SoaData, SrvData } from "../wire/message.ts";
import { lowerName, nameToLabels, readName, WireError } from "../wire/name.ts";
import { canonicalNames } from "../wire/rdata-names.ts";

export interface RrsigData {
  readonly typeCovered: number;
  readonly algorithm: number;
  readonly labels: number;
  readonly originalTtl: number;
  readonly expiration: number;
  readonly inception: number;
  readonly keyTag: number;
  /** Lowercased. */
  readonly signer: string;
  readonly signature: Uint8Array;
  /** The RDATA up to the signature, signer name in canonical (lowercase) form: RFC 4034 §3.1.8.1. */
  readonly signedPrefix: Uint8Array;
}

export interface DnskeyData {
  readonly flags: number;
  readonly protocol: number;
  readonly algorithm: number;
  readonly publicKey: Uint8Array;
  readonly rdata: Uint8Array;
}

export interface DsData {
  readonly keyTag: number;
  readonly algorithm: number;
  readonly digestType: number;
  readonly digest: Uint8Array;
}

export interface NsecData {
  /** Lowercased. */
  readonly next: string;
  readonly types: TypeBitmap;
}

export interface Nsec3Data {
  readonly hashAlgorithm: number;
  readonly flags: number;
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly nextHash: Uint8Array;
  readonly types: TypeBitmap;
}

/** DNSKEY flag bits (RFC 4034 §2.1.1, RFC 5011 §3). */
export const ZONE_KEY = 0x0100;
export const REVOKED = 0x0080;
/** NSEC3 opt-out flag (RFC 5155 §3.1.2.1). */
export const OPT_OUT = 0x01;

const bytesOf = (d: unknown): Uint8Array => {
  if (!(d instanceof Uint8Array)) throw new WireError("DNSSEC RDATA is not raw bytes");
  return d;
};

const u8 = (b: Uint8Array, o: number): number => {
  const v = b[o];
  if (v === undefined) throw new WireError("DNSSEC RDATA too short");
  return v;
};
const u16 = (b: Uint8Array, o: number): number => (u8(b, o) << 8) | u8(b, o + 1);
const u32 = (b: Uint8Array, o: number): number => ((u16(b, o) << 16) | u16(b, o + 2)) >>> 0;

/** Type bitmap (RFC 4034 §4.1.2): window blocks, checked for order and size. */
export class TypeBitmap {
  private readonly windows = new Map<number, Uint8Array>();

  constructor(b: Uint8Array, start: number) {
    let o = start;
    let last = -1;
    while (o < b.length) {
      const win = b[o];
      const len = b[o + 1];
      if (win === undefined || len === undefined) throw new WireError("type bitmap truncated");
      if (win <= last || len === 0 || len > 32 || o + 2 + len > b.length)
        throw new WireError("bad type bitmap window");
      this.windows.set(win, b.subarray(o + 2, o + 2 + len));
      last = win;
      o += 2 + len;
    }
  }

  has(type: number): boolean {
    const w = this.windows.get(type >>> 8);
    if (!w) return false;
    const bit = type & 0xff;
    const byte = bit >>> 3;
    const bits = w[byte];
    return bits !== undefined && (bits & (0x80 >>> (bit & 7))) !== 0;
  }
}

export function parseRrsig(rr: ResourceRecord): RrsigData {
  const b = bytesOf(rr.data);
  if (b.length < 19) throw new WireError("RRSIG RDATA too short");
  const signerRead = readName(b, 18);
  const signer = lowerName(signerRead.name);
  const signerWire = nameWire(signer);
  const signedPrefix = new Uint8Array(18 + signerWire.length);
  signedPrefix.set(b.subarray(0, 18), 0);
  signedPrefix.set(signerWire, 18);
  return {
    typeCovered: u16(b, 0),
    algorithm: u8(b, 2),
    labels: u8(b, 3),
    originalTtl: u32(b, 4),
    expiration: u32(b, 8),
    inception: u32(b, 12),
    keyTag: u16(b, 16),
    signer,
    signature: b.subarray(signerRead.end),
    signedPrefix,
  };
}

export function parseDnskey(rr: ResourceRecord): DnskeyData {
  const b = bytesOf(rr.data);
  if (b.length < 5) throw new WireError("DNSKEY RDATA too short");
  return {
    flags: u16(b, 0),
    protocol: u8(b, 2),
    algorithm: u8(b, 3),
    publicKey: b.subarray(4),
    rdata: b,
  };
}

export function parseDs(rr: ResourceRecord): DsData {
  const b = bytesOf(rr.data);
  if (b.length < 5) throw new WireError("DS RDATA too short");
  return { keyTag: u16(b, 0), algorithm: u8(b, 2), digestType: u8(b, 3), digest: b.subarray(4) };
}

export function parseNsec(rr: ResourceRecord): NsecData {
  const b = bytesOf(rr.data);
  const n = readName(b, 0);
  return { next: lowerName(n.name), types: new TypeBitmap(b, n.end) };
}

export function parseNsec3(rr: ResourceRecord): Nsec3Data {
  const b = bytesOf(rr.data);
  if (b.length < 6) throw new WireError("NSEC3 RDATA too short");
  const saltLen = u8(b, 4);
  const hashAt = 5 + saltLen;
  if (hashAt >= b.length) throw new WireError("NSEC3 RDATA too short");
  const hashLen = u8(b, hashAt);
  const typesAt = hashAt + 1 + hashLen;
  if (hashLen === 0 || typesAt > b.length) throw new WireError("NSEC3 hash overruns RDATA");
  return {
    hashAlgorithm: u8(b, 0),
    flags: u8(b, 1),
    iterations: u16(b, 2),
    salt: b.subarray(5, hashAt),
    nextHash: b.subarray(hashAt + 1, typesAt),
    types: new TypeBitmap(b, typesAt),
  };
}

// ---------------------------------------------------------------- names

/** Uncompressed wire form of a (text) name; callers lowercase first for canonical form. */
export function nameWire(name: string): Uint8Array {
  const labels = nameToLabels(name);
  let len = 1;
  for (const l of labels) len += l.length + 1;
  const out = new Uint8Array(len);
  let o = 0;
  for (const l of labels) {
    out[o++] = l.length;
    out.set(l, o);
    o += l.length;
  }
  out[o] = 0;
  return out;
}

/** Number of labels, the root counting none (RFC 4034 §3.1.3 counts a leading `*` separately). */
export function labelCount(name: string): number {
  return name === "" ? 0 : nameToLabels(name).length;
}

/** The rightmost `n` labels of a name (its ancestor with `n` labels). */
export function ancestorWithLabels(name: string, n: number): string {
  const labels = splitLabels(name);
  return labels.slice(labels.length - n).join(".");
}

/** Text labels split on unescaped dots (escapes kept). */
export function splitLabels(name: string): string[] {
  if (name === "") return [];
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x2e) {
      out.push(name.slice(start, i));
      start = i + 1;
    }
  }
  out.push(name.slice(start));
  return out;
}

/** The parent of a name ("" for a TLD; undefined for the root). */
export function parentName(name: string): string | undefined {
  if (name === "") return undefined;
  const labels = splitLabels(name);
  return labels.slice(1).join(".");
}

/**
 * Canonical DNS name order (RFC 4034 §6.1): labels compared right to left as lowercase octet
 * strings, a name sorting before its descendants. Negative, zero or positive.
 */
export function compareNames(a: string, b: string): number {
  const la = nameToLabels(lowerName(a));
  const lb = nameToLabels(lowerName(b));
  let i = la.length - 1;
  let j = lb.length - 1;
  for (; i >= 0 && j >= 0; i--, j--) {
    const x = la[i];
    const y = lb[j];
    if (x === undefined || y === undefined) break; // i, j stay within both label lists
    const c = compareBytes(x, y);
    if (c !== 0) return c;
  }
  return la.length - lb.length;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    // i < n ≤ both lengths: the fallbacks never apply.
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------- canonical RR form

/** A name of a decoded record's RDATA in canonical form: uncompressed and lowercased. */
function pushName(parts: Uint8Array[], name: string): void {
  parts.push(nameWire(lowerName(name)));
}

function concat(parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function be16(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}
function be32(v: number): Uint8Array {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** Canonical RDATA of a decoded record (RFC 4034 §6.2: names uncompressed and lowercased). */
export function canonicalRdata(rr: ResourceRecord): Uint8Array {
  const d = rr.data;
  switch (rr.type) {
    case RRType.A: {
      const v = parseIpv4(d as string);
      if (v === undefined) throw new WireError("bad A address");
      return be32(v);
    }
    case RRType.AAAA: {
      const w = ipv6Words(d as string);
      if (!w) throw new WireError("bad AAAA address");
      return concat(w.map(be32));
    }
    case RRType.CNAME:
    case RRType.NS:
    case RRType.PTR:
    case RRType.DNAME:
      return nameWire(lowerName(d as string));
    case RRType.MX: {
      const mx = d as MxData;
      const parts = [be16(mx.preference)];
      pushName(parts, mx.exchange);
      return concat(parts);
    }
    case RRType.SRV: {
      const s = d as SrvData;
      const parts = [be16(s.priority), be16(s.weight), be16(s.port)];
      pushName(parts, s.target);
      return concat(parts);
    }
    case RRType.SOA: {
      const s = d as SoaData;
      const parts: Uint8Array[] = [];
      pushName(parts, s.mname);
      pushName(parts, s.rname);
      for (const v of [s.serial, s.refresh, s.retry, s.expire, s.minimum]) parts.push(be32(v));
      return concat(parts);
    }
    case RRType.TXT: {
      const parts: Uint8Array[] = [];
      for (const s of d as Uint8Array[]) parts.push(Uint8Array.of(s.length), s);
      return concat(parts);
    }
    default:
      // The rarer types that hold names (MINFO, RP, AFSDB, NAPTR, KX, A6, …): rdata-names.ts.
      return canonicalNames(rr.type, bytesOf(d));
  }
}

/**
 * The signed data of an RRset (RFC 4034 §3.1.8.1): the RRSIG RDATA prefix, then each RR in
 * canonical order (sorted by canonical RDATA, duplicates removed) as owner | type | class |
 * original TTL | RDLENGTH | RDATA, the owner replaced by `*.<closest encloser>` when the RRSIG
 * labels field says the RRset was expanded from a wildcard.
 */
export function signedData(sig: RrsigData, rrset: readonly ResourceRecord[]): Uint8Array {
  const [first] = rrset;
  if (first === undefined) throw new Error("internal: signedData of an empty RRset");
  let owner = lowerName(first.name);
  const n = labelCount(owner);
  if (sig.labels < n) owner = `*.${ancestorWithLabels(owner, sig.labels)}`.replace(/\.$/, "");
  const ownerWire = nameWire(owner);
  const rdatas = rrset.map(canonicalRdata).sort(compareBytes);
  const head = concat([ownerWire, be16(first.type), be16(first.class), be32(sig.originalTtl)]);
  const parts: Uint8Array[] = [sig.signedPrefix];
  let prev: Uint8Array | undefined;
  for (const r of rdatas) {
    if (prev && compareBytes(prev, r) === 0) continue;
    parts.push(head, be16(r.length), r);
    prev = r;
  }
  return concat(parts);
}

// ---------------------------------------------------------------- presentation (trust anchors)

export interface AnchorRecord {
  /** Lowercased owner, no trailing dot ("" for the root). */
  readonly owner: string;
  readonly type: typeof RRType.DS | typeof RRType.DNSKEY;
  readonly ds?: DsData;
  readonly dnskey?: DnskeyData;
}

/**
 * Trust anchors from their config text (contract's trustAnchorLines checks the syntax and names
 * the line at fault): DS records as they are, DNSKEY records as RDATA.
 */
export function parseAnchors(text: string): AnchorRecord[] {
  return trustAnchorLines(text).map((l): AnchorRecord => {
    try {
      nameWire(l.owner);
    } catch (e) {
      throw new Error(`trust anchor line ${l.line}: ${(e as Error).message}`);
    }
    const [a, b, c] = l.numbers;
    if (l.type === "DS")
      return {
        owner: l.owner,
        type: RRType.DS,
        ds: { keyTag: a, algorithm: b, digestType: c, digest: Buffer.from(l.data, "hex") },
      };
    const rdata = concat([be16(a), Uint8Array.of(b, c), Buffer.from(l.data, "base64")]);
    return {
      owner: l.owner,
      type: RRType.DNSKEY,
      dnskey: { flags: a, protocol: b, algorithm: c, publicKey: rdata.subarray(4), rdata },
    };
  });
}
