// The fast path. For a configuration whose DNS policies read only fields of the question and
// the location (and answer fields, which are fixed for a cached answer's lifetime) and use no
// schedules, the whole response to (location, qname, qtype, qclass, EDNS/DO) is a pure function
// of the config and the cached answer. So the encoded response is kept, and a repeat query is
// answered by copying it and patching the ID, the RD/CD flags, the question's letter case and
// the TTLs (aged since storage) — no full decode, no policy evaluation, no encode. Anything
// unusual (EDNS options other than none, version ≠ 0, compression in the question, a stale or
// rewritten answer, an entry near expiry that should be prefetched) takes the full pipeline.

import type { Location, LogAction, QueryLogRecord } from "@gatehouse/contract";
import type { CompiledPolicy } from "../policy/policy-set.ts";
import { RRType } from "./wire/constants.ts";
import { maxUdpResponse } from "./wire/edns.ts";
import { skipName } from "./wire/name.ts";

export interface PacketEntry {
  readonly bytes: Buffer;
  /** Offsets of TTL fields to age (OPT excluded); empty for synthesized answers. */
  readonly ttlOffsets: Uint16Array;
  readonly ttls: Uint32Array;
  readonly storedAt: number;
  readonly expiresAt: number;
  /** When to leave the fast path so the pipeline can prefetch (0 = never). */
  readonly refreshAt: number;
  readonly questionEnd: number;
  readonly action: LogAction;
  readonly policy: CompiledPolicy | undefined;
  readonly location: Location | undefined;
  readonly rcode: string;
  readonly qtypeName: string;
  readonly cache: "hit" | "none";
  /** The list behind a block (query log). */
  readonly list: string | undefined;
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
  /** Lowercased name bytes as a binary string. */
  name: string;
  qtype: number;
  qclass: number;
  /** 0: no EDNS, 1: EDNS, 2: EDNS with DO. */
  edns: 0 | 1 | 2;
  udpSize: number;
  questionEnd: number;
}

const fq: FastQuery = { name: "", qtype: 0, qclass: 0, edns: 0, udpSize: 0, questionEnd: 0 };

/**
 * Parse a plain query: QR=0, opcode 0, one question without compression, no answer/authority
 * records, at most an OPT (version 0) as the only additional. Returns a shared object (valid
 * until the next call) or undefined for anything else.
 */
export function parseFastQuery(b: Uint8Array): FastQuery | undefined {
  const n = b.length;
  if (n < 17 || n > 512) return undefined;
  // QR=0, opcode=0 (byte 2 bits 7..3), QDCOUNT=1, ANCOUNT=NSCOUNT=0, ARCOUNT ≤ 1.
  if (
    (b[2]! & 0xf8) !== 0 ||
    b[4] !== 0 ||
    b[5] !== 1 ||
    b[6] !== 0 ||
    b[7] !== 0 ||
    b[8] !== 0 ||
    b[9] !== 0 ||
    b[10] !== 0
  )
    return undefined;
  const ar = b[11]!;
  if (ar > 1) return undefined;
  let o = 12;
  let name = "";
  for (;;) {
    if (o >= n) return undefined;
    const len = b[o]!;
    if (len === 0) break;
    if (len > 63 || o + 1 + len >= n) return undefined;
    if (name.length > 0) name += ".";
    for (let i = o + 1; i <= o + len; i++) {
      let c = b[i]!;
      if (c === 0x2e || c === 0x5c || c < 0x21 || c > 0x7e) return undefined; // escapes: slow path
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      name += String.fromCharCode(c);
    }
    o += 1 + len;
    if (o - 12 > 255) return undefined;
  }
  o++;
  if (o + 4 > n) return undefined;
  fq.name = name;
  fq.qtype = (b[o]! << 8) | b[o + 1]!;
  fq.qclass = (b[o + 2]! << 8) | b[o + 3]!;
  o += 4;
  fq.questionEnd = o;
  if (ar === 0) {
    if (o !== n) return undefined;
    fq.edns = 0;
    fq.udpSize = 512;
    return fq;
  }
  // OPT: root name, type 41, class = UDP size, TTL = ext-rcode/version/flags, RDLEN.
  if (o + 11 > n || b[o] !== 0 || b[o + 1] !== 0 || b[o + 2] !== RRType.OPT) return undefined;
  if (b[o + 5] !== 0 || b[o + 6] !== 0) return undefined; // ext rcode and version 0
  const rdlen = (b[o + 9]! << 8) | b[o + 10]!;
  if (o + 11 + rdlen !== n) return undefined;
  fq.udpSize = (b[o + 3]! << 8) | b[o + 4]!;
  fq.edns = b[o + 7]! & 0x80 ? 2 : 1;
  return fq;
}

export function packetKey(locId: string, q: FastQuery): string {
  return `${locId}\u0000${q.qtype}\u0000${q.qclass}\u0000${q.edns}\u0000${q.name}`;
}

/** TTL field offsets of every record but OPT, from an encoded message. */
export function findTtlOffsets(buf: Buffer): { offsets: Uint16Array; ttls: Uint32Array } {
  const counts = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  let o = skipName(buf, 12) + 4;
  const offs: number[] = [];
  const ttls: number[] = [];
  for (let i = 0; i < counts; i++) {
    o = skipName(buf, o);
    const type = buf.readUInt16BE(o);
    if (type !== RRType.OPT) {
      offs.push(o + 4);
      ttls.push(buf.readUInt32BE(o + 4));
    }
    o += 10 + buf.readUInt16BE(o + 8);
  }
  return { offsets: Uint16Array.from(offs), ttls: Uint32Array.from(ttls) };
}

export class PacketCache {
  private readonly map = new Map<string, PacketEntry>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): PacketEntry | undefined {
    return this.map.get(key);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  set(key: string, e: PacketEntry): void {
    if (this.max === 0) return;
    this.map.delete(key);
    this.map.set(key, e);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }

  /**
   * Build the answer for `q` (parsed from `raw`) from `e` at `now`, or undefined when the entry
   * cannot serve it (expired, due for refresh, larger than the client accepts over UDP).
   */
  answer(
    e: PacketEntry,
    raw: Uint8Array,
    q: FastQuery,
    now: number,
    udp: boolean,
  ): Buffer | undefined {
    if (now >= e.expiresAt || (e.refreshAt !== 0 && now >= e.refreshAt)) return undefined;
    const bytes = e.bytes;
    if (udp && bytes.length > maxUdpResponse(q.edns === 0 ? undefined : { udpSize: q.udpSize }))
      return undefined;
    if (q.questionEnd !== e.questionEnd) return undefined;
    const out = Buffer.allocUnsafe(bytes.length);
    bytes.copy(out);
    out[0] = raw[0]!;
    out[1] = raw[1]!;
    // RD and CD are copied from the query (RFC 1035 §4.1.1, RFC 4035 §3.2.2).
    out[2] = (out[2]! & ~0x01) | (raw[2]! & 0x01);
    out[3] = (out[3]! & ~0x10) | (raw[3]! & 0x10);
    // The question as the client wrote it (case preserved; same length by construction).
    out.set(raw.subarray(12, q.questionEnd - 4), 12);
    const offs = e.ttlOffsets;
    if (offs.length > 0) {
      const age = Math.floor((now - e.storedAt) / 1000);
      if (age > 0) {
        const ttls = e.ttls;
        for (let i = 0; i < offs.length; i++) {
          const t = ttls[i]! - age;
          out.writeUInt32BE(Math.max(t, 0), offs[i]!);
        }
      }
    }
    return out;
  }
}

let seq = 0;
const prefix = `f${Date.now().toString(36)}`;

/** The query-log record of a fast-path answer. */
export function fastRecord(
  e: PacketEntry,
  q: FastQuery,
  ip: string,
  transport: string,
  ts: number,
  durationMs: number,
  edgeId?: string,
): QueryLogRecord {
  const rec: QueryLogRecord = {
    ts,
    kind: "dns",
    id: `${prefix}-${(++seq).toString(36)}`,
    client: ip,
    action: e.action,
    transport,
    durationMs,
    qname: q.name,
    qtype: e.qtypeName,
    rcode: e.rcode,
    cache: e.cache,
  };
  if (e.location) rec.location = e.location.id;
  if (e.policy) {
    rec.policyId = e.policy.id;
    rec.policyName = e.policy.name;
    if (e.list) rec.list = e.list;
  }
  if (edgeId) rec.edgeId = edgeId;
  return rec;
}
