// Full DNS message decode and encode (RFC 1035 §4), for messages the edge builds itself and for
// upstream answers it caches. Known RDATA types whose fields hold names (CNAME, NS, PTR, DNAME,
// MX, SOA, SRV) are decoded so names can be re-compressed against our own message; everything
// else is kept as raw bytes (RFC 3597 §4: unknown types never use compression). The EDNS OPT
// pseudo-record (RFC 6891 §6.1) is lifted out of the additional section into `edns`.

import { isIPv4, isIPv6 } from "node:net";
import { formatIpv6, parseIpv4 } from "@gatehouse/rules";
import { u16 as readU16, u32 as readU32, u8 } from "../../net/bytes.ts";
import { ipv6Words } from "../../net/ip-address.ts";
import { RRType } from "./constants.ts";
import { lowerName, nameToLabels, readName, WireError } from "./name.ts";
import { expandRData } from "./rdata-names.ts";

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface MxData {
  preference: number;
  exchange: string;
}
export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}
export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/**
 * A: dotted quad; AAAA: IPv6 text; CNAME/NS/PTR/DNAME: a name; MX/SOA/SRV: objects;
 * TXT: the character-strings; anything else: the raw RDATA.
 */
export type RData = string | MxData | SoaData | SrvData | Uint8Array[] | Uint8Array;

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RData;
}

export interface EdnsOptionData {
  code: number;
  data: Uint8Array;
}

export interface Edns {
  udpSize: number;
  version: number;
  /** Upper 8 bits of the 12-bit extended RCODE (RFC 6891 §6.1.3). */
  extRcode: number;
  /** DNSSEC OK (RFC 3225). */
  do: boolean;
  /** The other 15 flag bits (must be zero; never echoed). */
  z: number;
  options: EdnsOptionData[];
}

export interface Message {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** Full 12-bit response code (the low 4 bits in the header, the rest in OPT). */
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
  edns?: Edns;
}

export function emptyMessage(id = 0): Message {
  return {
    id,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
}

// ---------------------------------------------------------------- decode

function u16(buf: Uint8Array, o: number): number {
  if (o + 2 > buf.length) throw new WireError("buffer overflow");
  return readU16(buf, o);
}
function u32(buf: Uint8Array, o: number): number {
  if (o + 4 > buf.length) throw new WireError("buffer overflow");
  return readU32(buf, o);
}

function decodeRData(buf: Uint8Array, type: number, start: number, len: number): RData {
  const end = start + len;
  const within = (o: number) => {
    if (o !== end) throw new WireError(`RDATA length mismatch for type ${type}`);
  };
  switch (type) {
    case RRType.A:
      if (len !== 4) throw new WireError("A record RDATA is not 4 octets");
      return `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`;
    case RRType.AAAA: {
      if (len !== 16) throw new WireError("AAAA record RDATA is not 16 octets");
      return formatIpv6([
        u32(buf, start),
        u32(buf, start + 4),
        u32(buf, start + 8),
        u32(buf, start + 12),
      ]);
    }
    case RRType.CNAME:
    case RRType.NS:
    case RRType.PTR:
    case RRType.DNAME: {
      const r = readName(buf, start);
      within(r.end);
      return r.name;
    }
    case RRType.MX: {
      const preference = u16(buf, start);
      const r = readName(buf, start + 2);
      within(r.end);
      return { preference, exchange: r.name };
    }
    case RRType.SRV: {
      const priority = u16(buf, start);
      const weight = u16(buf, start + 2);
      const port = u16(buf, start + 4);
      const r = readName(buf, start + 6);
      within(r.end);
      return { priority, weight, port, target: r.name };
    }
    case RRType.SOA: {
      const m = readName(buf, start);
      const r = readName(buf, m.end);
      const o = r.end;
      within(o + 20);
      return {
        mname: m.name,
        rname: r.name,
        serial: u32(buf, o),
        refresh: u32(buf, o + 4),
        retry: u32(buf, o + 8),
        expire: u32(buf, o + 12),
        minimum: u32(buf, o + 16),
      };
    }
    case RRType.TXT: {
      const out: Uint8Array[] = [];
      let o = start;
      while (o < end) {
        const l = u8(buf, o);
        if (o + 1 + l > end) throw new WireError("TXT string overruns RDATA");
        out.push(buf.slice(o + 1, o + 1 + l));
        o += 1 + l;
      }
      return out;
    }
    default:
      // Names in rarer types (MINFO, RP, NAPTR, …) written out in full: rdata-names.ts.
      return expandRData(buf, type, start, len) ?? buf.slice(start, end);
  }
}

function decodeRecords(
  buf: Uint8Array,
  offset: number,
  count: number,
  out: ResourceRecord[],
  msg: Message,
  isAdditional: boolean,
): number {
  let o = offset;
  for (let i = 0; i < count; i++) {
    const n = readName(buf, o);
    o = n.end;
    const type = u16(buf, o);
    const klass = u16(buf, o + 2);
    const ttl = u32(buf, o + 4);
    const rdlen = u16(buf, o + 8);
    o += 10;
    if (o + rdlen > buf.length) throw new WireError("RDATA overruns the message");
    if (type === RRType.OPT) {
      // RFC 6891 §6.1.1: only in the additional section, at most once, owner is the root.
      if (!isAdditional) throw new WireError("OPT outside the additional section");
      if (msg.edns) throw new WireError("more than one OPT record");
      if (n.name !== "") throw new WireError("OPT owner is not the root");
      const options: EdnsOptionData[] = [];
      let p = o;
      while (p < o + rdlen) {
        const code = u16(buf, p);
        const len = u16(buf, p + 2);
        if (p + 4 + len > o + rdlen) throw new WireError("EDNS option overruns OPT RDATA");
        options.push({ code, data: buf.slice(p + 4, p + 4 + len) });
        p += 4 + len;
      }
      msg.edns = {
        udpSize: klass,
        extRcode: ttl >>> 24,
        version: (ttl >>> 16) & 0xff,
        do: (ttl & 0x8000) !== 0,
        z: ttl & 0x7fff,
        options,
      };
    } else {
      out.push({ name: n.name, type, class: klass, ttl, data: decodeRData(buf, type, o, rdlen) });
    }
    o += rdlen;
  }
  return o;
}

/** Decode a whole message. Throws WireError on malformed input. */
export function decodeMessage(buf: Uint8Array): Message {
  if (buf.length < 12) throw new WireError("message shorter than its 12-octet header");
  const flags = u16(buf, 2);
  const msg: Message = {
    id: u16(buf, 0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >>> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
  const qd = u16(buf, 4);
  const an = u16(buf, 6);
  const ns = u16(buf, 8);
  const ar = u16(buf, 10);
  let o = 12;
  for (let i = 0; i < qd; i++) {
    const n = readName(buf, o);
    msg.questions.push({ name: n.name, type: u16(buf, n.end), class: u16(buf, n.end + 2) });
    o = n.end + 4;
  }
  o = decodeRecords(buf, o, an, msg.answers, msg, false);
  o = decodeRecords(buf, o, ns, msg.authorities, msg, false);
  decodeRecords(buf, o, ar, msg.additionals, msg, true);
  if (msg.edns) msg.rcode |= msg.edns.extRcode << 4;
  return msg;
}

// ---------------------------------------------------------------- encode

/** A growable output buffer with name compression (RFC 1035 §4.1.4). */
class WireWriter {
  buf: Buffer;
  len = 0;
  private readonly names = new Map<string, number>();

  constructor(initial = 512) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** Overwrite a u16 written earlier (RDLENGTH, counts). */
  patch16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }

  /** Write a name, compressing against names already written when `compress`. */
  name(name: string, compress = true): void {
    // Almost every name has no escapes: written straight from its text, no label arrays.
    if (name.indexOf("\\") === -1) {
      this.plainName(name, compress);
      return;
    }
    const labels = nameToLabels(name);
    // Suffix keys are the lowercased text of the remaining labels (case-insensitive match).
    const lower = compress ? lowerName(name.endsWith(".") ? name.slice(0, -1) : name) : "";
    let keyPos = 0;
    for (const [i, l] of labels.entries()) {
      if (compress) {
        if (this.pointer(i === 0 ? lower : lower.slice(keyPos))) return;
        keyPos += labelTextLength(lower, keyPos) + 1;
      }
      this.u8(l.length);
      this.bytes(l);
    }
    this.u8(0);
  }

  /**
   * Write a pointer to the suffix `key` (lowercased text) when it was written before (true);
   * else note that it starts here (false).
   */
  private pointer(key: string): boolean {
    const at = this.names.get(key);
    if (at !== undefined) {
      this.u16(0xc000 | at);
      return true;
    }
    if (this.len < 0x4000) this.names.set(key, this.len);
    return false;
  }

  /**
   * `name` without escapes: the same octets, checks and compression keys as the general path.
   * Labels before a compression pointer are checked as they are written; the suffix a pointer
   * stands for was checked when it was first written.
   */
  private plainName(name: string, compress: boolean): void {
    const n = name.endsWith(".") ? name.length - 1 : name.length;
    if (n === 0) {
      this.u8(0);
      return;
    }
    if (n + 2 > 255) throw new WireError(`name longer than 255 octets: "${name.slice(0, 40)}…"`);
    const lower = compress ? lowerName(n === name.length ? name : name.slice(0, n)) : "";
    let start = 0;
    while (start <= n) {
      if (compress && this.pointer(start === 0 ? lower : lower.slice(start))) return;
      let end = name.indexOf(".", start);
      if (end === -1 || end > n) end = n;
      const len = end - start;
      if (len === 0) throw new WireError(`empty label in name "${name}"`);
      if (len > 63) throw new WireError(`label longer than 63 octets in "${name}"`);
      this.ensure(len + 1);
      const buf = this.buf;
      let o = this.len;
      buf[o++] = len;
      for (let i = start; i < end; i++) {
        const c = name.charCodeAt(i);
        if (c > 255) throw new WireError(`name "${name}" has a non-byte character`);
        buf[o++] = c;
      }
      this.len = o;
      start = end + 1;
    }
    this.u8(0);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** Length in text chars of the label starting at `pos` (escapes included). */
function labelTextLength(s: string, pos: number): number {
  let i = pos;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) {
      i += /[0-9]/.test(s[i + 1] ?? "") ? 4 : 2;
      continue;
    }
    if (c === 0x2e) break;
    i++;
  }
  return i - pos;
}

function writeRData(w: WireWriter, rr: ResourceRecord): void {
  const d = rr.data;
  switch (rr.type) {
    case RRType.A: {
      const v = typeof d === "string" ? parseIpv4(d) : undefined;
      if (v === undefined || !isIPv4(d as string))
        throw new WireError(`bad A address "${String(d)}"`);
      w.u32(v);
      return;
    }
    case RRType.AAAA: {
      const words = typeof d === "string" && isIPv6(d) ? ipv6Words(d) : undefined;
      if (!words) throw new WireError(`bad AAAA address "${String(d)}"`);
      for (const x of words) w.u32(x);
      return;
    }
    case RRType.CNAME:
    case RRType.NS:
    case RRType.PTR:
      w.name(d as string);
      return;
    case RRType.DNAME:
      // RFC 6672 §2.5: DNAME targets are not compressed.
      w.name(d as string, false);
      return;
    case RRType.MX: {
      const mx = d as MxData;
      w.u16(mx.preference);
      w.name(mx.exchange);
      return;
    }
    case RRType.SRV: {
      // RFC 2782: the target is not compressed.
      const s = d as SrvData;
      w.u16(s.priority);
      w.u16(s.weight);
      w.u16(s.port);
      w.name(s.target, false);
      return;
    }
    case RRType.SOA: {
      const s = d as SoaData;
      w.name(s.mname);
      w.name(s.rname);
      w.u32(s.serial);
      w.u32(s.refresh);
      w.u32(s.retry);
      w.u32(s.expire);
      w.u32(s.minimum);
      return;
    }
    case RRType.TXT: {
      for (const s of d as Uint8Array[]) {
        if (s.length > 255) throw new WireError("TXT string longer than 255 octets");
        w.u8(s.length);
        w.bytes(s);
      }
      return;
    }
    default:
      w.bytes(d as Uint8Array);
  }
}

function writeRecord(w: WireWriter, rr: ResourceRecord): void {
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const at = w.len;
  w.u16(0);
  writeRData(w, rr);
  w.patch16(at, w.len - at - 2);
}

function writeOpt(w: WireWriter, edns: Edns, rcode: number): void {
  w.u8(0); // root owner
  w.u16(RRType.OPT);
  w.u16(edns.udpSize);
  w.u8((rcode >>> 4) & 0xff);
  w.u8(edns.version);
  w.u16((edns.do ? 0x8000 : 0) | (edns.z & 0x7fff));
  const at = w.len;
  w.u16(0);
  for (const o of edns.options) {
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
  w.patch16(at, w.len - at - 2);
}

interface EncodeOptions {
  /**
   * Maximum size (UDP): when the message is larger, records are dropped and TC is set
   * (RFC 1035 §4.2.1, RFC 6891 §7: header, question and OPT are always kept).
   */
  maxSize?: number;
}

/** Encode a message. Throws WireError when a field cannot be represented. */
export function encodeMessage(msg: Message, opts: EncodeOptions = {}): Buffer {
  const full = encodeSections(msg, msg.tc, true);
  if (opts.maxSize === undefined || full.length <= opts.maxSize) return full;
  return encodeSections(msg, true, false);
}

function encodeSections(msg: Message, tc: boolean, withRecords: boolean): Buffer {
  const w = new WireWriter(512);
  if (msg.rcode > 15 && !msg.edns) throw new WireError("extended RCODE needs an OPT record");
  w.u16(msg.id);
  w.u16(
    (msg.qr ? 0x8000 : 0) |
      ((msg.opcode & 0xf) << 11) |
      (msg.aa ? 0x0400 : 0) |
      (tc ? 0x0200 : 0) |
      (msg.rd ? 0x0100 : 0) |
      (msg.ra ? 0x0080 : 0) |
      (msg.ad ? 0x0020 : 0) |
      (msg.cd ? 0x0010 : 0) |
      (msg.rcode & 0xf),
  );
  w.u16(msg.questions.length);
  w.u16(withRecords ? msg.answers.length : 0);
  w.u16(withRecords ? msg.authorities.length : 0);
  w.u16((withRecords ? msg.additionals.length : 0) + (msg.edns ? 1 : 0));
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  if (withRecords) {
    for (const rr of msg.answers) writeRecord(w, rr);
    for (const rr of msg.authorities) writeRecord(w, rr);
    for (const rr of msg.additionals) writeRecord(w, rr);
  }
  if (msg.edns) writeOpt(w, msg.edns, msg.rcode);
  return w.finish();
}
