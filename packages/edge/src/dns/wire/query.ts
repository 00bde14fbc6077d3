// The hot-path query parser: header, the one question and the OPT record, without decoding
// anything else. It classifies malformed input the way RFC 1035 §4.1.1 and RFC 6891 §7 ask:
// too short to carry an ID or a response (QR=1) → drop (answering a response invites loops);
// opcode other than QUERY → NOTIMP (with the question echoed when it is readable); QDCOUNT ≠ 1,
// bad names, truncated sections, several OPTs or an OPT outside the additional section
// (RFC 6891 §6.1.1) → FORMERR; EDNS version ≠ 0 → BADVERS. Like unbound, a query is also
// FORMERR when it is marked truncated (TC), carries answer or authority records or any
// additional record besides its OPT, or asks for a meta-TYPE that only has meaning inside a
// transaction (OPT, TKEY, TSIG, MAILA, MAILB, 128–248; RFC 6895 §3.1). The OPT of a query that
// is FORMERR or NOTIMP is still read, so the answer carries one (RFC 6891 §6.1.1).

import { MalformedBytes, u8, u16 } from "../../net/bytes.ts";
import { EdnsOption, Opcode, Rcode, RRType } from "./constants.ts";
import { lowerName, readName, skipName, WireError } from "./name.ts";

interface QueryEdns {
  udpSize: number;
  version: number;
  do: boolean;
  /** The query carried a Padding option (RFC 7830): answers over DoT/DoH are padded. */
  padding: boolean;
  /** The query asked for the name server identifier (RFC 5001 §2.3). */
  nsid: boolean;
}

export interface ParsedQuery {
  id: number;
  rd: boolean;
  cd: boolean;
  ad: boolean;
  opcode: number;
  /** Question name as sent (echoed back with its case, RFC 1035 §7.3 / 0x20). */
  qnameRaw: string;
  /** Lowercased question name, no trailing dot; "" is the root. */
  qname: string;
  qtype: number;
  qclass: number;
  edns: QueryEdns | undefined;
}

type QueryParse =
  | { readonly ok: true; readonly query: ParsedQuery }
  /** `rcode` to answer with, or "drop". `id`/`question` are known when they could be read. */
  | {
      readonly ok: false;
      readonly action: "drop" | "respond";
      readonly rcode: number;
      readonly id: number;
      readonly reason: string;
      readonly query?: ParsedQuery;
      /** The query's OPT when the question could not be echoed (QDCOUNT ≠ 1). */
      readonly edns?: QueryEdns;
    };

export function parseQuery(buf: Uint8Array): QueryParse {
  if (buf.length < 12) return { ok: false, action: "drop", rcode: 0, id: 0, reason: "short" };
  const id = u16(buf, 0);
  const flags = u16(buf, 2);
  if (flags & 0x8000) return { ok: false, action: "drop", rcode: 0, id, reason: "response" };
  const opcode = (flags >>> 11) & 0xf;
  // RFC 1035 §4.1.1: an opcode we do not implement is NOTIMP whatever else is wrong.
  const notimp = opcode !== Opcode.QUERY;
  const qd = u16(buf, 4);
  const an = u16(buf, 6);
  const ns = u16(buf, 8);
  const ar = u16(buf, 10);
  if (qd !== 1) {
    const edns = ednsBeyondQuestions(buf, qd, an + ns, ar);
    const r = notimp ? notImplemented(id) : malformed(id, "qdcount");
    return edns ? { ...r, edns } : r;
  }
  // Set once the question is read: a FORMERR later on still echoes it, and the OPT once seen.
  let query: ParsedQuery | undefined;
  try {
    const n = readName(buf, 12);
    let o = n.end;
    if (o + 4 > buf.length) throw new WireError("truncated question");
    query = {
      id,
      rd: (flags & 0x0100) !== 0,
      ad: (flags & 0x0020) !== 0,
      cd: (flags & 0x0010) !== 0,
      opcode,
      qnameRaw: n.name,
      qname: lowerName(n.name),
      qtype: u16(buf, o),
      qclass: u16(buf, o + 2),
      edns: undefined,
    };
    o += 4;
    readRecords(buf, o, an + ns, ar, query);
    if (notimp) return { ...notImplemented(id), query };
    // Records a query has no use for, a truncated query, a meta-TYPE as the question.
    if (an + ns > 0 || ar > (query.edns ? 1 : 0)) return { ...malformed(id, "records"), query };
    if (flags & 0x0200) return { ...malformed(id, "truncated"), query };
    if (isMetaType(query.qtype)) return { ...malformed(id, "meta_type"), query };
    if (query.edns && query.edns.version !== 0)
      return { ok: false, action: "respond", rcode: Rcode.BADVERS, id, reason: "badvers", query };
    return { ok: true, query };
  } catch (e) {
    if (!(e instanceof MalformedBytes)) throw e;
    const r = notimp ? notImplemented(id) : malformed(id, "malformed");
    return query ? { ...r, query } : r;
  }
}

/**
 * Skip `records` answer/authority records from `offset` (an OPT there is malformed) and read
 * the `ar` additional ones; the first OPT's EDNS goes into `into.edns` as soon as its fixed
 * part is read (so a FORMERR for what follows still answers with an OPT, as RFC 6891 §6.1.1
 * asks). Throws WireError when malformed.
 */
function readRecords(
  buf: Uint8Array,
  offset: number,
  records: number,
  ar: number,
  into: { edns: QueryEdns | undefined },
): void {
  let o = offset;
  let edns: QueryEdns | undefined;
  for (let i = 0; i < records; i++) o = skipRecord(buf, o);
  for (let i = 0; i < ar; i++) {
    const start = o;
    o = skipName(buf, o);
    if (o + 10 > buf.length) throw new WireError("truncated record");
    const type = u16(buf, o);
    if (type === RRType.OPT) {
      if (edns) throw new WireError("more than one OPT record");
      const udpSize = u16(buf, o + 2);
      const version = u8(buf, o + 5);
      const doBit = (u8(buf, o + 6) & 0x80) !== 0;
      edns = { udpSize, version, do: doBit, padding: false, nsid: false };
      into.edns = edns;
      if (buf[start] !== 0) throw new WireError("OPT owner is not the root");
      readOptions(buf, o + 10, o + 10 + u16(buf, o + 8), edns);
    }
    const rdlen = u16(buf, o + 8);
    o += 10 + rdlen;
    if (o > buf.length) throw new WireError("RDATA overruns the message");
  }
}

/** The OPT of a query whose question count is not 1, when the message can be read. */
function ednsBeyondQuestions(
  buf: Uint8Array,
  qd: number,
  records: number,
  ar: number,
): QueryEdns | undefined {
  const into: { edns: QueryEdns | undefined } = { edns: undefined };
  try {
    let o = 12;
    for (let i = 0; i < qd; i++) {
      o = skipName(buf, o) + 4;
      if (o > buf.length) return undefined;
    }
    readRecords(buf, o, records, ar, into);
    return into.edns;
  } catch (e) {
    if (e instanceof MalformedBytes) return into.edns;
    throw e;
  }
}

/**
 * QTYPEs that are not data a resolver can look up (RFC 6895 §3.1): OPT, the meta- and
 * Q-TYPEs 128–254 except the zone transfers (refused elsewhere), and ANY (answered locally).
 */
function isMetaType(t: number): boolean {
  return t === RRType.OPT || (t >= 128 && t <= 254 && t !== 251 && t !== 252);
}

/** Note the options of an OPT's RDATA the edge acts on; a truncated option is malformed. */
function readOptions(buf: Uint8Array, start: number, end: number, edns: QueryEdns): void {
  if (end > buf.length) throw new WireError("RDATA overruns the message");
  let p = start;
  while (p < end) {
    if (p + 4 > end) throw new WireError("truncated EDNS option");
    const code = u16(buf, p);
    const len = u16(buf, p + 2);
    p += 4 + len;
    if (p > end) throw new WireError("EDNS option overruns OPT RDATA");
    if (code === EdnsOption.PADDING) edns.padding = true;
    else if (code === EdnsOption.NSID) edns.nsid = true;
  }
}

function notImplemented(id: number) {
  return { ok: false, action: "respond", rcode: Rcode.NOTIMP, id, reason: "opcode" } as const;
}

function malformed(id: number, reason: string) {
  return { ok: false, action: "respond", rcode: Rcode.FORMERR, id, reason } as const;
}

/** Skip an answer or authority record; an OPT there is malformed (RFC 6891 §6.1.1). */
function skipRecord(buf: Uint8Array, offset: number): number {
  let o = skipName(buf, offset);
  if (o + 10 > buf.length) throw new WireError("truncated record");
  if (u16(buf, o) === RRType.OPT) throw new WireError("OPT outside the additional section");
  const rdlen = u16(buf, o + 8);
  o += 10 + rdlen;
  if (o > buf.length) throw new WireError("RDATA overruns the message");
  return o;
}

/** Read just the question of a message (for matching upstream answers). */
export function readQuestion(
  buf: Uint8Array,
): { name: string; type: number; class: number } | undefined {
  if (buf.length < 12 || u16(buf, 4) !== 1) return undefined;
  try {
    const n = readName(buf, 12);
    if (n.end + 4 > buf.length) return undefined;
    return {
      name: n.name,
      type: u16(buf, n.end),
      class: u16(buf, n.end + 2),
    };
  } catch {
    return undefined;
  }
}
