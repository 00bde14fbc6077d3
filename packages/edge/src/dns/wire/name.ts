// Domain names on the wire (RFC 1035 §3.1, §4.1.4). Text form: labels joined by ".", no
// trailing dot, the root is "". Label bytes map 1:1 to chars (a binary string); a "." or "\"
// inside a label is escaped as "\." / "\\" (RFC 4343 §2.1 master-file escapes), so splitting on
// unescaped dots is lossless.
//
// Decoding protects against hostile input: label length ≤ 63 (top bits 00; 01 and 10 are
// reserved/obsolete label types and rejected), compression pointers (top bits 11) may only
// point strictly backwards — which also makes loops impossible — and the total wire length,
// counted across jumps, is ≤ 255 octets (§2.3.4).

import { MalformedBytes, u8 } from "../../net/bytes.ts";

/** A malformed DNS message (a `MalformedBytes`, so one catch covers short reads too). */
export class WireError extends MalformedBytes {
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

interface NameRead {
  /** Name as written (case preserved). */
  name: string;
  /** Offset just past the name at the starting position (not at a jump target). */
  end: number;
}

/**
 * Where readName assembles a name's text: a name is at most 255 octets on the wire and an
 * escape doubles a char, so 512 always suffice. The text is made in one piece, a flat
 * string: appending char by char made a rope of one 32-byte node per char, which a cache entry
 * kept (about 450 bytes for a 14-char name; docs/benchmarks.md, "Edge memory").
 */
const scratch = Buffer.allocUnsafeSlow(512);

/** Read a possibly-compressed name at `offset`. Throws WireError. */
export function readName(buf: Uint8Array, offset: number): NameRead {
  let pos = offset;
  let end = -1;
  let wireLen = 0;
  let n = 0;
  for (;;) {
    if (pos >= buf.length) throw new WireError("buffer overflow");
    const len = u8(buf, pos);
    const top = len & 0xc0;
    if (top === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError("buffer overflow (half pointer)");
      const target = ((len & 0x3f) << 8) | u8(buf, pos + 1);
      if (target >= pos)
        throw new WireError(
          target === pos ? "bad pointer (pointer to itself)" : "bad pointer (forward pointer)",
        );
      if (end === -1) end = pos + 2;
      pos = target;
      continue;
    }
    if (top !== 0) throw new WireError(`bad label (top bits ${top === 0x40 ? "01" : "10"})`);
    wireLen += len + 1;
    if (wireLen > 255) throw new WireError("name too long");
    if (len === 0) {
      if (end === -1) end = pos + 1;
      return { name: n === 0 ? "" : scratch.toString("latin1", 0, n), end };
    }
    if (pos + 1 + len > buf.length) throw new WireError("buffer overflow");
    if (n > 0) scratch[n++] = 0x2e;
    for (let i = pos + 1; i <= pos + len; i++) {
      const c = u8(buf, i);
      if (c === 0x2e || c === 0x5c) scratch[n++] = 0x5c;
      scratch[n++] = c;
    }
    pos += len + 1;
  }
}

/** Skip a name without building it (for sections the hot path does not read). */
export function skipName(buf: Uint8Array, offset: number): number {
  let pos = offset;
  let wireLen = 0;
  for (;;) {
    if (pos >= buf.length) throw new WireError("buffer overflow");
    const len = u8(buf, pos);
    const top = len & 0xc0;
    if (top === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError("buffer overflow (half pointer)");
      const target = ((len & 0x3f) << 8) | u8(buf, pos + 1);
      // Validate the target too, so a message the hot path accepts decodes fully later.
      if (target >= pos) throw new WireError("bad pointer");
      readNameLength(buf, target, wireLen);
      return pos + 2;
    }
    if (top !== 0) throw new WireError("bad label");
    wireLen += len + 1;
    if (wireLen > 255) throw new WireError("name too long");
    if (len === 0) return pos + 1;
    if (pos + 1 + len > buf.length) throw new WireError("buffer overflow");
    pos += len + 1;
  }
}

function readNameLength(buf: Uint8Array, offset: number, already: number): void {
  let pos = offset;
  let wireLen = already;
  for (;;) {
    if (pos >= buf.length) throw new WireError("buffer overflow");
    const len = u8(buf, pos);
    const top = len & 0xc0;
    if (top === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError("buffer overflow (half pointer)");
      const target = ((len & 0x3f) << 8) | u8(buf, pos + 1);
      if (target >= pos) throw new WireError("bad pointer");
      pos = target;
      continue;
    }
    if (top !== 0) throw new WireError("bad label");
    wireLen += len + 1;
    if (wireLen > 255) throw new WireError("name too long");
    if (len === 0) return;
    if (pos + 1 + len > buf.length) throw new WireError("buffer overflow");
    pos += len + 1;
  }
}

/** Split text into label byte arrays, honouring "\." "\\" and "\DDD" escapes. Throws on bad names. */
export function nameToLabels(name: string): Uint8Array[] {
  if (name === "" || name === ".") return [];
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  let total = 1;
  const n = name.endsWith(".") && !name.endsWith("\\.") ? name.length - 1 : name.length;
  for (let i = 0; i < n; i++) {
    let c = name.charCodeAt(i);
    if (c === 0x5c) {
      const d = name.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d) && Number(d) <= 255) {
        c = Number(d);
        i += 3;
      } else if (i + 1 < n) {
        c = name.charCodeAt(++i);
      } else throw new WireError(`bad escape in name "${name}"`);
    } else if (c === 0x2e) {
      if (cur.length === 0) throw new WireError(`empty label in name "${name}"`);
      labels.push(Uint8Array.from(cur));
      total += cur.length + 1;
      cur = [];
      continue;
    }
    if (c > 255) throw new WireError(`name "${name}" has a non-byte character`);
    cur.push(c);
    if (cur.length > 63) throw new WireError(`label longer than 63 octets in "${name}"`);
  }
  if (cur.length === 0) throw new WireError(`empty label in name "${name}"`);
  labels.push(Uint8Array.from(cur));
  total += cur.length + 1;
  if (total > 255) throw new WireError(`name longer than 255 octets: "${name.slice(0, 40)}…"`);
  return labels;
}

/** ASCII-lowercase a name (DNS names compare case-insensitively, RFC 4343). */
export function lowerName(name: string): string {
  // Fast path: most names are already lowercase.
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return asciiLower(name);
  }
  return name;
}

function asciiLower(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x41 && c <= 0x5a ? String.fromCharCode(c | 0x20) : s[i];
  }
  return out;
}

/** Unescaped form for rule fields and logs: "\." stays a dot-in-label only in wire terms. */
export function isSubdomainOf(name: string, suffix: string): boolean {
  if (suffix === "") return true;
  return (
    name === suffix ||
    (name.endsWith(suffix) && name.charCodeAt(name.length - suffix.length - 1) === 0x2e)
  );
}
