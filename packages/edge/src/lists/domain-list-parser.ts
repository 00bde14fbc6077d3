// Domain list text formats, parsed straight from the file's bytes: the common lines (a plain
// name, a hosts line, `||name^`) go into the hash sets without making a string per line, so a
// million-line list loads in well under a second; every other line (wildcards, regexes,
// exceptions, modifiers, dnsmasq lines, Pi-hole regexes) is decoded and read by the contract's
// line parser (contract/domain-rules.ts), which control uses too. A line that cannot be used is
// skipped and counted, never fatal.

import type { DomainListFormat } from "@gatehouse/contract";
import { parseDomainLine } from "@gatehouse/contract/domain-rules";
import { HOSTS_SELF_NAMES } from "@gatehouse/contract/schemes";
import { u8 } from "../net/bytes.ts";
import { type DomainListBuilder, type DomainParseStats, noteRejected } from "./domain-list.ts";

export type { DomainListFormat } from "@gatehouse/contract";

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const HASH = 0x23;
const BANG = 0x21;
const DOT = 0x2e;
const PIPE = 0x7c;
const CARET = 0x5e;
const LBRACKET = 0x5b;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === CR;
}

/**
 * Validate `buf[start,end)` as a host name and lowercase it in place (the buffer is the parser's
 * own copy). Letters, digits, `-`, `_` (seen in real lists), dots between non-empty labels,
 * labels ≤ 63, name ≤ 253; one trailing dot is dropped. Returns the end, or -1 when invalid.
 */
function normaliseNameBytes(buf: Uint8Array, start: number, end: number): number {
  if (end > start && buf[end - 1] === DOT) end--;
  const len = end - start;
  if (len <= 0 || len > 253) return -1;
  let labelLen = 0;
  for (let i = start; i < end; i++) {
    let c = u8(buf, i);
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
    const c = u8(buf, i);
    if (c === 0x3a) colon = true;
    else if (c === DOT) dots++;
    else if (!(c >= 0x30 && c <= 0x39)) onlyV4 = false;
  }
  return colon || (onlyV4 && dots === 3);
}

function isHostsSelf(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start > 24) return false;
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(u8(buf, i));
  return HOSTS_SELF_NAMES.has(s);
}

/**
 * Parse a domain list into `into`. The buffer is modified (lowercased in place): pass a private
 * copy. `firstLine` numbers the buffer's first line (for the rejected-line samples); returns the
 * number after the last line read.
 */
export function parseDomainList(
  buf: Uint8Array,
  format: DomainListFormat,
  into: DomainListBuilder,
  stats: DomainParseStats,
  firstLine = 1,
): number {
  const n = buf.length;
  let pos = 0;
  let line = firstLine;
  // A UTF-8 byte-order mark is not part of the first line.
  if (n >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
  while (pos < n) {
    let lineEnd = pos;
    while (lineEnd < n && buf[lineEnd] !== LF) lineEnd++;
    parseLine(buf, pos, lineEnd, format, into, stats, line++);
    pos = lineEnd + 1;
  }
  return line;
}

function parseLine(
  buf: Uint8Array,
  start: number,
  end: number,
  format: DomainListFormat,
  into: DomainListBuilder,
  stats: DomainParseStats,
  lineNo: number,
): void {
  while (start < end && isSpace(u8(buf, start))) start++;
  while (end > start && isSpace(u8(buf, end - 1))) end--;
  if (start === end) return;
  const first = u8(buf, start);
  if (first === HASH || first === BANG) return;
  // `[Adblock Plus 2.0]` style headers.
  if (first === LBRACKET && buf[end - 1] === 0x5d) return;
  if (fastLine(buf, start, end, format, into)) {
    stats.accepted++;
    return;
  }
  // Anything else: decoded and read by the shared line parser.
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("utf8");
  const r = parseDomainLine(text, format);
  switch (r.kind) {
    case "names":
      // The line is decoded: its bytes may be overwritten (an adopted arena, DomainSetBuilder).
      into.block.consumed(buf, end);
      for (const name of r.names) into.block.addString(name);
      stats.accepted++;
      return;
    case "rule":
      into.addRule(r.rule, lineNo);
      stats.accepted++;
      return;
    case "skip":
      return;
    case "unsupported":
      stats.unsupported++;
      return;
    case "invalid":
      noteRejected(stats, lineNo, text, r.reason);
      return;
  }
}

/**
 * The lines that need no string: a plain name, `||name^`, a hosts line of valid names. Returns
 * false (nothing added) for anything else, which the slow path then reads.
 */
function fastLine(
  buf: Uint8Array,
  start: number,
  end: number,
  format: DomainListFormat,
  into: DomainListBuilder,
): boolean {
  const first = u8(buf, start);
  if (format === "regex" || format === "dnsmasq") return false;
  if (first === PIPE) {
    if (format !== "auto" && format !== "adblock") return false;
    if (buf[start + 1] !== PIPE || buf[end - 1] !== CARET) return false;
    const e = normaliseNameBytes(buf, start + 2, end - 1);
    if (e < 0) return false;
    into.block.addBytes(buf, start + 2, e);
    return true;
  }
  let t = start;
  while (t < end && !isSpace(u8(buf, t))) t++;
  if (t < end) {
    // hosts: ADDRESS NAME... [# comment]
    if (format !== "auto" && format !== "hosts") return false;
    if (!looksLikeAddress(buf, start, t)) return false;
    // Validate every name first so a bad one leaves the line to the slow path whole.
    let p = t;
    while (p < end) {
      while (p < end && isSpace(u8(buf, p))) p++;
      if (p >= end || buf[p] === HASH) break;
      const s = p;
      while (p < end && !isSpace(u8(buf, p))) p++;
      if (normaliseNameBytes(buf, s, p) < 0) return false;
    }
    let any = false;
    p = t;
    while (p < end) {
      while (p < end && isSpace(u8(buf, p))) p++;
      if (p >= end || buf[p] === HASH) break;
      const s = p;
      while (p < end && !isSpace(u8(buf, p))) p++;
      const e = normaliseNameBytes(buf, s, p);
      if (!isHostsSelf(buf, s, e)) {
        into.block.addBytes(buf, s, e);
        any = true;
      }
    }
    return any;
  }
  if (format === "hosts" || format === "adblock") return false;
  const e = normaliseNameBytes(buf, start, end);
  if (e < 0) return false;
  into.block.addBytes(buf, start, e);
  return true;
}
