// Domain names inside the RDATA of the types the codec keeps as bytes (every type message.ts does
// not decode into fields). Two jobs, both driven by one layout table:
//  - decoding: RFC 1035 types (MD, MF, MB, MG, MR, MINFO) may carry compressed names, and
//    RFC 3597 §4 says a receiver must also decompress RP, AFSDB, RT, SIG, PX, NXT and NAPTR;
//    their RDATA is kept with every name written out in full (letter case kept), so the bytes
//    mean the same in any message they are written into;
//  - canonical form (RFC 4034 §6.2 as amended by RFC 6840 §5.1, which drops NSEC): the names in
//    the RDATA of NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX, RP, AFSDB, RT, SIG, PX,
//    NXT, NAPTR, KX, SRV, DNAME, A6 and RRSIG are lowercased before a signature is checked
//    (HINFO, also listed, holds no names). The types decoded into fields are lowercased where
//    they are decoded (dnssec/records.ts); this covers the rest.

import { u8 } from "../../net/bytes.ts";
import { WireError } from "./name.ts";

/** A run of fixed octets, a domain name, a <character-string>, A6's prefix and suffix, the rest. */
type Field = number | "name" | "string" | "a6" | "rest";

const LAYOUTS: ReadonlyMap<number, readonly Field[]> = new Map<number, readonly Field[]>([
  [3, ["name"]], // MD
  [4, ["name"]], // MF
  [7, ["name"]], // MB
  [8, ["name"]], // MG
  [9, ["name"]], // MR
  [14, ["name", "name"]], // MINFO
  [17, ["name", "name"]], // RP
  [18, [2, "name"]], // AFSDB
  [21, [2, "name"]], // RT
  [24, [18, "name", "rest"]], // SIG
  [26, [2, "name", "name"]], // PX
  [30, ["name", "rest"]], // NXT
  [35, [4, "string", "string", "string", "name"]], // NAPTR
  [36, [2, "name"]], // KX
  [38, ["a6"]], // A6
  [46, [18, "name", "rest"]], // RRSIG
]);

/** Types whose names a receiver decompresses (RFC 1035 §3.3, RFC 3597 §4). */
const DECOMPRESSED = new Set([3, 4, 7, 8, 9, 14, 17, 18, 21, 24, 26, 30, 35]);

/**
 * The RDATA at `buf[start, start+len)` with every name decompressed, or undefined when `type`
 * carries no compressible names (the caller keeps the bytes as they are).
 */
export function expandRData(
  buf: Uint8Array,
  type: number,
  start: number,
  len: number,
): Uint8Array | undefined {
  const layout = DECOMPRESSED.has(type) ? LAYOUTS.get(type) : undefined;
  return layout === undefined ? undefined : walk(buf, start, start + len, layout, false);
}

/**
 * Canonical RDATA (RFC 4034 §6.2): `rdata` (uncompressed, as the decoder keeps it) with the
 * letters of its names lowercased, for the types that list names; other types unchanged.
 */
export function canonicalNames(type: number, rdata: Uint8Array): Uint8Array {
  const layout = LAYOUTS.get(type);
  return layout ? walk(rdata, 0, rdata.length, layout, true) : rdata;
}

function walk(
  buf: Uint8Array,
  start: number,
  end: number,
  layout: readonly Field[],
  lower: boolean,
): Uint8Array {
  // Names grow by at most 253 octets when decompressed (a 2-octet pointer to a 255-octet name).
  const out = new Uint8Array(end - start + 255 * layout.length);
  let o = start;
  let n = 0;
  const copy = (count: number) => {
    if (o + count > end) throw new WireError("RDATA too short for its type");
    out.set(buf.subarray(o, o + count), n);
    o += count;
    n += count;
  };
  for (const f of layout) {
    if (typeof f === "number") copy(f);
    else if (f === "rest") copy(end - o);
    else if (f === "string") copy(1 + (o < end ? u8(buf, o) : 0));
    else if (f === "a6") {
      // RFC 2874 §3.1.1: prefix length, the address suffix's octets, a name only for prefix > 0.
      const prefix = o < end ? u8(buf, o) : 0;
      if (prefix > 128) throw new WireError("A6 prefix length over 128");
      copy(1 + Math.ceil((128 - prefix) / 8));
      if (prefix > 0) n = copyName(buf, o, end, out, n, lower, (next) => (o = next));
    } else n = copyName(buf, o, end, out, n, lower, (next) => (o = next));
  }
  if (o !== end) throw new WireError("RDATA longer than its type's fields");
  return out.slice(0, n);
}

/** Copy the name at `buf[at]` into `out[n]` uncompressed; `moved` gets the offset after it. */
function copyName(
  buf: Uint8Array,
  at: number,
  end: number,
  out: Uint8Array,
  n: number,
  lower: boolean,
  moved: (next: number) => void,
): number {
  let pos = at;
  let after = -1;
  let wire = 0;
  for (;;) {
    if (pos >= (after === -1 ? end : buf.length)) throw new WireError("name overruns RDATA");
    const len = u8(buf, pos);
    if ((len & 0xc0) === 0xc0) {
      if (lower) throw new WireError("compressed name in canonical RDATA");
      if (pos + 1 >= end && after === -1) throw new WireError("name overruns RDATA");
      const target = ((len & 0x3f) << 8) | u8(buf, pos + 1);
      if (target >= pos) throw new WireError("bad pointer (forward pointer)");
      if (after === -1) after = pos + 2;
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new WireError("bad label type in RDATA name");
    wire += len + 1;
    if (wire > 255) throw new WireError("name too long");
    if (pos + 1 + len > (after === -1 ? end : buf.length))
      throw new WireError("name overruns RDATA");
    out[n++] = len;
    for (let i = pos + 1; i <= pos + len; i++) {
      const c = u8(buf, i);
      out[n++] = lower && c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
    if (len === 0) {
      moved(after === -1 ? pos + 1 : after);
      return n;
    }
    pos += len + 1;
  }
}
