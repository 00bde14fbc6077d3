// Domain list text formats, parsed straight from the file's bytes (no per-line strings, so a
// million-line list loads in well under a second):
//   hosts    `0.0.0.0 ads.example.com other.example`   (address, then one or more names)
//   plain    `ads.example.com`                          (one name a line)
//   adblock  `||ads.example.com^`  `@@||good.example^`  (exceptions go to `<list>.allow`)
// `#` and `!` start comments (also after whitespace, as in hosts files); `auto` decides per
// line. Adblock rules with modifiers other than `$important` do not describe a plain DNS block
// (cosmetic, path or per-request options) and are skipped, as are regex and wildcard rules.

import { HOSTS_SELF_NAMES } from "@gatehouse/contract";
import type { DomainSetBuilder } from "./domain-set.ts";

export type DomainListFormat = "auto" | "hosts" | "plain" | "adblock";

export interface DomainParseStats {
  /** Lines that produced a name (block or allow). */
  accepted: number;
  /** Non-empty, non-comment lines that were not understood or held an invalid name. */
  rejected: number;
}

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const HASH = 0x23;
const BANG = 0x21;
const DOT = 0x2e;
const PIPE = 0x7c;
const AT = 0x40;
const CARET = 0x5e;
const DOLLAR = 0x24;
const LBRACKET = 0x5b;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === CR;
}

/**
 * Validate `buf[start,end)` as a host name and lowercase it in place (the buffer is the parser's
 * own copy). Letters, digits, `-`, `_` (seen in real lists), dots between non-empty labels,
 * labels ≤ 63, name ≤ 253; one trailing dot is dropped. Returns the end, or -1 when invalid.
 */
export function normaliseNameBytes(buf: Uint8Array, start: number, end: number): number {
  if (end > start && buf[end - 1] === DOT) end--;
  const len = end - start;
  if (len <= 0 || len > 253) return -1;
  let labelLen = 0;
  for (let i = start; i < end; i++) {
    let c = buf[i]!;
    if (c === DOT) {
      if (labelLen === 0) return -1;
      labelLen = 0;
      continue;
    }
    if (c >= 0x41 && c <= 0x5a) {
      c |= 0x20;
      buf[i] = c;
    } else if (
      !((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)
    ) {
      return -1;
    }
    if (++labelLen > 63) return -1;
  }
  return labelLen === 0 ? -1 : end;
}

/** An address token of a hosts line: digits/dots (IPv4) or anything with a colon (IPv6). */
function looksLikeAddress(buf: Uint8Array, start: number, end: number): boolean {
  let colon = false;
  let onlyV4 = true;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x3a) colon = true;
    else if (c === DOT) dots++;
    else if (!(c >= 0x30 && c <= 0x39)) onlyV4 = false;
  }
  return colon || (onlyV4 && dots === 3);
}

function equalsAscii(buf: Uint8Array, start: number, end: number, s: string): boolean {
  if (end - start !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (buf[start + i] !== s.charCodeAt(i)) return false;
  return true;
}

function isHostsSelf(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start > 24) return false;
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
  return HOSTS_SELF_NAMES.has(s);
}

/**
 * Parse a domain list. `block` receives listed names, `allow` the adblock exceptions. The
 * buffer is modified (lowercased in place): pass a private copy.
 */
export function parseDomainList(
  buf: Uint8Array,
  format: DomainListFormat,
  block: DomainSetBuilder,
  allow: DomainSetBuilder,
): DomainParseStats {
  const stats: DomainParseStats = { accepted: 0, rejected: 0 };
  const n = buf.length;
  let pos = 0;
  // A UTF-8 byte-order mark is not part of the first line.
  if (n >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
  while (pos < n) {
    let lineEnd = pos;
    while (lineEnd < n && buf[lineEnd] !== LF) lineEnd++;
    parseLine(buf, pos, lineEnd, format, block, allow, stats);
    pos = lineEnd + 1;
  }
  return stats;
}

function parseLine(
  buf: Uint8Array,
  start: number,
  end: number,
  format: DomainListFormat,
  block: DomainSetBuilder,
  allow: DomainSetBuilder,
  stats: DomainParseStats,
): void {
  while (start < end && isSpace(buf[start]!)) start++;
  while (end > start && isSpace(buf[end - 1]!)) end--;
  if (start === end) return;
  const first = buf[start]!;
  if (first === HASH || first === BANG) return;
  // `[Adblock Plus 2.0]` style headers.
  if (first === LBRACKET && buf[end - 1] === 0x5d) return;

  let kind = format;
  if (kind === "auto") {
    if (first === PIPE || first === AT) kind = "adblock";
    else {
      let t = start;
      while (t < end && !isSpace(buf[t]!)) t++;
      kind = t < end && looksLikeAddress(buf, start, t) ? "hosts" : "plain";
    }
  }

  if (kind === "adblock") {
    let p = start;
    let target = block;
    if (buf[p] === AT && buf[p + 1] === AT) {
      target = allow;
      p += 2;
    }
    if (buf[p] !== PIPE || buf[p + 1] !== PIPE) {
      stats.rejected++;
      return;
    }
    p += 2;
    let q = p;
    while (q < end && buf[q] !== CARET && buf[q] !== DOLLAR) q++;
    const nameEnd = q;
    if (q < end && buf[q] === CARET) q++;
    if (q < end) {
      // Only `$important` leaves the rule a plain DNS block.
      if (!(buf[q] === DOLLAR && equalsAscii(buf, q + 1, end, "important"))) {
        stats.rejected++;
        return;
      }
    }
    const e = normaliseNameBytes(buf, p, nameEnd);
    if (e < 0) {
      stats.rejected++;
      return;
    }
    target.addBytes(buf, p, e);
    stats.accepted++;
    return;
  }

  if (kind === "hosts") {
    let t = start;
    while (t < end && !isSpace(buf[t]!)) t++;
    if (!looksLikeAddress(buf, start, t)) {
      stats.rejected++;
      return;
    }
    let any = false;
    let bad = false;
    while (t < end) {
      while (t < end && isSpace(buf[t]!)) t++;
      if (t >= end || buf[t] === HASH) break;
      const s = t;
      while (t < end && !isSpace(buf[t]!)) t++;
      const e = normaliseNameBytes(buf, s, t);
      if (e < 0) bad = true;
      else if (!isHostsSelf(buf, s, e)) {
        block.addBytes(buf, s, e);
        any = true;
      }
    }
    if (any) stats.accepted++;
    else if (bad) stats.rejected++;
    return;
  }

  // plain: the first token; anything after it must be a comment.
  let t = start;
  while (t < end && !isSpace(buf[t]!)) t++;
  let rest = t;
  while (rest < end && isSpace(buf[rest]!)) rest++;
  if (rest < end && buf[rest] !== HASH && buf[rest] !== BANG) {
    stats.rejected++;
    return;
  }
  const e = normaliseNameBytes(buf, start, t);
  if (e < 0) {
    stats.rejected++;
    return;
  }
  block.addBytes(buf, start, e);
  stats.accepted++;
}
