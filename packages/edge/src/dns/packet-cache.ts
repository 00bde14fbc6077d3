// The fast path. For a configuration whose DNS policies read only fields of the question and
// the location (and answer fields, which are fixed for a cached answer's lifetime) and use no
// schedules, the whole response to (location, qname, qtype, qclass, EDNS/DO, AD, CD) is a pure
// function of the config and the cached answer. So the encoded response is kept, and a repeat
// query is answered by copying it and patching the ID, the RD flag, the question's letter case and
// the TTLs (aged since storage) — no full decode, no policy evaluation, no encode. Anything
// unusual (an NSID or Padding option, EDNS version ≠ 0, compression in the question, a stale or
// rewritten answer, an entry near expiry that should be prefetched) takes the full pipeline.
// The cache is bounded by bytes (half of `resolver.cache.maxBytes`) and by entries.

import type { Location } from "@gatehouse/contract";
import { u8, u16 } from "../net/bytes.ts";
import type { PolicyPhase } from "../policy/policy-set.ts";
import type { PendingCount } from "../telemetry/pending-counts.ts";
import type { RecordTemplate } from "../telemetry/query-log.ts";
import { approxBytes, TYPED_ARRAY_BYTES } from "./cache/bytes.ts";
import type { EntryUse } from "./cache/dns-cache.ts";
import { LruMap } from "./cache/lru-map.ts";
import { EdnsOption, RRType } from "./wire/constants.ts";
import { maxUdpResponse } from "./wire/edns.ts";
import { skipName } from "./wire/name.ts";

export interface PacketEntry {
  /** The encoded answer, in memory of its own (not a slice of a larger buffer). */
  readonly bytes: Buffer;
  /**
   * The TTL fields to age, as pairs of (offset, TTL as stored), OPT excluded; empty for
   * synthesized answers. A plain array: small integers are stored inline, where a typed array
   * costs two objects (200 bytes) for a few numbers.
   */
  readonly ttls: readonly number[];
  readonly storedAt: number;
  readonly expiresAt: number;
  /** When to leave the fast path so the pipeline can prefetch (0 = never). */
  readonly refreshAt: number;
  readonly questionEnd: number;
  /**
   * The lowercased question (name, type, class) as on the wire, to confirm a lookup: a binary
   * string (one char a byte), which costs a third of a typed array's objects.
   */
  readonly question: string;
  readonly edns: 0 | 1 | 2;
  /**
   * The AD and CD bits of the query it answers (header byte 3 & 0x30): CD=1 answers are kept
   * apart (RFC 4035 §3.2.2), and without DO the query's AD decides the answer's (RFC 6840 §5.8).
   */
  readonly adcd: number;
  readonly location: Location | undefined;
  /**
   * The use counter of the DNS cache entry the answer came from (undefined for a policy's
   * synthesized answer): a repeat counts as a hit on it, so a popular entry is prefetched when
   * it nears expiry. Not the entry itself, which the answer cache may evict meanwhile.
   */
  readonly use: EntryUse | undefined;
  /** The query-log fields this entry's answers share (the first answer's record, as a hit). */
  readonly template: RecordTemplate;
  /** The matched policy's action and phase, for the policy-match counter. */
  readonly policyAction: string | undefined;
  readonly policyPhase: PolicyPhase | undefined;
  /** Counters the metrics resolve once for this answer (DnsQueryEvent.memo). */
  readonly tallies: (PendingCount | undefined)[];
  /** What the entry holds, as counted against the byte bound (packetEntryBytes). */
  readonly size: number;
}

/**
 * What a packet entry costs beyond its bytes, question, TTLs and template: the entry object,
 * its buffer's objects, the tallies array, three heap numbers, its node in the LRU list and its
 * slot in the map (measured: bench/dns/cache-bytes.ts).
 */
export const PACKET_ENTRY_BYTES = 600;

/** The bytes an entry with these parts holds, as the packet cache counts them. */
export function packetEntryBytes(
  bytes: Uint8Array,
  question: string,
  ttls: readonly number[],
  template: RecordTemplate,
): number {
  return (
    PACKET_ENTRY_BYTES +
    TYPED_ARRAY_BYTES +
    bytes.byteLength +
    approxBytes(question) +
    approxBytes(ttls) +
    approxBytes(template)
  );
}

/** Fields whose values are fixed for a given (location, qname, qtype, qclass) or answer. */
export const MEMOIZABLE_FIELDS: ReadonlySet<string> = new Set([
  "dns.fqdn",
  "dns.domains",
  "dns.query_rtype",
  "dns.query_class",
  "dns.location",
  "dns.location_name",
  "dns.resolved_ips",
  "dns.response.cname",
  "dns.response.mx",
  "dns.response.ptr",
  "dns.response.txt",
  "dns.response.rcode",
]);

/** What the fast path learns from a query without decoding it fully. */
export interface FastQuery {
  /** Hash of the lowercased question (name, type, class), EDNS state, AD and CD; a 30-bit SMI. */
  hash: number;
  qtype: number;
  qclass: number;
  /** 0: no EDNS, 1: EDNS, 2: EDNS with DO. */
  edns: 0 | 1 | 2;
  /** The AD and CD bits (0x20, 0x10 of the header's fourth byte). */
  adcd: number;
  udpSize: number;
  questionEnd: number;
}

const fq: FastQuery = {
  hash: 0,
  qtype: 0,
  qclass: 0,
  edns: 0,
  adcd: 0,
  udpSize: 0,
  questionEnd: 0,
};

// A per-process seed, so nobody can precompute names that collide in the packet cache.
const SEED = (Math.random() * 0x7fffffff) | 0;

/**
 * Parse a plain query: QR=0, opcode 0, TC=0, RD=1, one question without compression, no answer/authority
 * records, at most an OPT (version 0) as the only additional. Returns a shared object (valid
 * until the next call) or undefined for anything else. Builds no strings: the question is
 * hashed (FNV-1a over its lowercased wire bytes) as it is checked.
 */
export function parseFastQuery(b: Uint8Array): FastQuery | undefined {
  const n = b.length;
  if (n < 17 || n > 512) return undefined;
  // QR=0, opcode=0 (byte 2 bits 7..3), TC=0 (a truncated query is FORMERR), RD=1 (RD=0 may
  // not be answered from the cache: the recursion stage refuses it), QDCOUNT=1,
  // ANCOUNT=NSCOUNT=0, ARCOUNT ≤ 1.
  if (
    (u8(b, 2) & 0xfb) !== 0x01 ||
    b[4] !== 0 ||
    b[5] !== 1 ||
    b[6] !== 0 ||
    b[7] !== 0 ||
    b[8] !== 0 ||
    b[9] !== 0 ||
    b[10] !== 0
  )
    return undefined;
  const ar = u8(b, 11);
  if (ar > 1) return undefined;
  let o = 12;
  let h = 0x811c9dc5 ^ SEED;
  for (;;) {
    if (o >= n) return undefined;
    const len = u8(b, o);
    h = Math.imul(h ^ len, 0x01000193);
    if (len === 0) break;
    if (len > 63 || o + 1 + len >= n) return undefined;
    for (let i = o + 1; i <= o + len; i++) {
      let c = u8(b, i);
      if (c === 0x2e || c === 0x5c || c < 0x21 || c > 0x7e) return undefined; // escapes: slow path
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      h = Math.imul(h ^ c, 0x01000193);
    }
    o += 1 + len;
    if (o - 12 > 255) return undefined;
  }
  o++;
  if (o + 4 > n) return undefined;
  const qtype = u16(b, o);
  const qclass = u16(b, o + 2);
  fq.qtype = qtype;
  fq.qclass = qclass;
  o += 4;
  fq.questionEnd = o;
  if (ar === 0) {
    if (o !== n) return undefined;
    fq.edns = 0;
    fq.udpSize = 512;
  } else {
    // OPT: root name, type 41, class = UDP size, TTL = ext-rcode/version/flags, RDLEN.
    if (o + 11 > n || b[o] !== 0 || b[o + 1] !== 0 || b[o + 2] !== RRType.OPT) return undefined;
    if (b[o + 5] !== 0 || b[o + 6] !== 0) return undefined; // ext rcode and version 0
    const rdlen = u16(b, o + 9);
    if (o + 11 + rdlen !== n) return undefined;
    // Options that change the answer (NSID, Padding) take the pipeline; others are ignored.
    let p = o + 11;
    while (p < n) {
      if (p + 4 > n) return undefined;
      const code = u16(b, p);
      if (code === EdnsOption.NSID || code === EdnsOption.PADDING) return undefined;
      p += 4 + u16(b, p + 2);
    }
    if (p !== n) return undefined;
    fq.udpSize = u16(b, o + 3);
    fq.edns = u8(b, o + 7) & 0x80 ? 2 : 1;
  }
  h = Math.imul(h ^ qtype, 0x01000193);
  h = Math.imul(h ^ qclass, 0x01000193);
  h = Math.imul(h ^ fq.edns, 0x01000193);
  fq.adcd = u8(b, 3) & 0x30;
  h = Math.imul(h ^ fq.adcd, 0x01000193);
  fq.hash = h & 0x3fffffff;
  return fq;
}

/** The TTL fields of every record but OPT, from an encoded message: (offset, TTL) pairs. */
export function findTtls(buf: Buffer): number[] {
  const counts = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  let o = skipName(buf, 12) + 4;
  const pairs: number[] = [];
  for (let i = 0; i < counts; i++) {
    o = skipName(buf, o);
    const type = buf.readUInt16BE(o);
    if (type !== RRType.OPT) pairs.push(o + 4, buf.readUInt32BE(o + 4));
    o += 10 + buf.readUInt16BE(o + 8);
  }
  return pairs;
}

/**
 * Encoded answers by (location, question, EDNS state). Keys are the 30-bit hash of those; the
 * entry keeps the lowercased question bytes, so a lookup is confirmed byte by byte and a hash
 * collision is only a miss (the newer entry replaces the older). Past `max` entries or
 * `maxBytes` (entries' `size`), the entries stored longest ago are dropped (lru-map.ts; a lookup
 * does not refresh them).
 */
export class PacketCache {
  private readonly map = new LruMap<number, PacketEntry>();
  private readonly max: number;
  private readonly maxBytes: number;
  /** The bytes the entries hold, as counted. */
  bytes = 0;
  /** A number per location of the config, mixed into keys so locations do not share slots. */
  private readonly locIds: ReadonlyMap<Location, number>;

  constructor(max: number, maxBytes: number, locations: readonly Location[] = []) {
    this.max = max;
    this.maxBytes = maxBytes;
    this.locIds = new Map(locations.map((l, i) => [l, i + 1]));
  }

  get size(): number {
    return this.map.size;
  }

  /** The key of `q` (just parsed) asked from `loc`. */
  key(q: FastQuery, loc: Location | undefined): number {
    const n = loc ? this.locIds.get(loc) : undefined;
    // A location outside the config's list would only share slots; lookups confirm it anyway.
    return n === undefined ? q.hash : (q.hash ^ Math.imul(n, 0x9e3779b1)) & 0x3fffffff;
  }

  /**
   * The number keying `loc`'s entries apart (0: no location), or -1 for a location outside the
   * config's list (its entries share keys and are told apart only by `get`'s comparison): what
   * the batch socket's C copies key a client by (dns/server/udp-batch.ts).
   */
  classOf(loc: Location | undefined): number {
    return loc === undefined ? 0 : (this.locIds.get(loc) ?? -1);
  }

  /** The entry for `q` (parsed from `raw`) asked from `loc`, if one is held. */
  get(
    key: number,
    raw: Uint8Array,
    q: FastQuery,
    loc: Location | undefined,
  ): PacketEntry | undefined {
    const e = this.map.get(key);
    if (
      !e ||
      e.location !== loc ||
      e.edns !== q.edns ||
      e.adcd !== q.adcd ||
      e.questionEnd !== q.questionEnd
    )
      return undefined;
    const question = e.question;
    for (let i = 0, o = 12; i < question.length; i++, o++) {
      let c = u8(raw, o);
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (c !== question.charCodeAt(i)) return undefined;
    }
    return e;
  }

  set(key: number, e: PacketEntry): void {
    if (this.max === 0 || e.size > this.maxBytes) return;
    const old = this.map.set(key, e);
    if (old !== undefined) this.bytes -= old.size;
    this.bytes += e.size;
    while (this.map.size > this.max || this.bytes > this.maxBytes) {
      const oldest = this.map.oldest();
      if (oldest === undefined) break;
      this.map.evictOldest();
      this.bytes -= oldest.size;
    }
  }

  delete(key: number): void {
    const old = this.map.get(key);
    if (old === undefined) return;
    this.map.delete(key);
    this.bytes -= old.size;
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }

  /** Whether `e` can answer `q` at `now` (not expired, not due for refresh, fits over UDP). */
  usable(e: PacketEntry, q: FastQuery, now: number, udp: boolean): boolean {
    if (now >= e.expiresAt || (e.refreshAt !== 0 && now >= e.refreshAt)) return false;
    // Without EDNS, q.udpSize is 512: the same bound as no EDNS.
    return !udp || e.bytes.length <= maxUdpResponse(q);
  }

  /**
   * Write the answer to `q` (parsed from `raw`) from a usable entry into `out` (at least
   * `e.bytes.length` long): the stored bytes with the query's ID, RD flag and question case,
   * and TTLs aged since storage (AD and CD are the entry's own: they are part of the key).
   * Returns its length.
   */
  write(e: PacketEntry, raw: Uint8Array, q: FastQuery, now: number, out: Buffer): number {
    const bytes = e.bytes;
    out.set(bytes);
    out[0] = u8(raw, 0);
    out[1] = u8(raw, 1);
    // RD is copied from the query (RFC 1035 §4.1.1).
    out[2] = (u8(out, 2) & ~0x01) | (u8(raw, 2) & 0x01);
    // The question as the client wrote it (case preserved; same length by construction).
    for (let i = 12, end = q.questionEnd - 4; i < end; i++) out[i] = u8(raw, i);
    const ttls = e.ttls;
    if (ttls.length > 0) {
      const age = Math.floor((now - e.storedAt) / 1000);
      if (age > 0) {
        for (let i = 0; i < ttls.length; i += 2) {
          const t = (ttls[i + 1] ?? 0) - age;
          out.writeUInt32BE(t > 0 ? t : 0, ttls[i] ?? 0);
        }
      }
    }
    return bytes.length;
  }
}
