// IP text → numbers, for CIDR matching and the rules engine's IpValue. IPv4 is one uint32;
// IPv6 four uint32 words, most significant first. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d, what a dual-stack socket reports for IPv4 peers) is normalised to IPv4 where
// the caller asks for it, so one location network covers both socket kinds.

import { isIPv4, isIPv6 } from "node:net";
import type { IpValue } from "@gatehouse/rules";

export type IpWords = [number, number, number, number];

/** Dotted quad → uint32, or -1 when not a strict IPv4 address. */
export function parseIpv4(s: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 255) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
      if (parts > 4) return -1;
    } else if (c >= 0x30 && c <= 0x39) {
      // No leading zeros (ambiguous octal in some parsers).
      if (digits > 0 && part === 0) return -1;
      part = part * 10 + (c - 0x30);
      if (++digits > 3) return -1;
    } else return -1;
  }
  return parts === 4 ? value >>> 0 : -1;
}

/** IPv6 text → four words, or undefined. Accepts an embedded IPv4 tail and a zone id. */
export function parseIpv6(text: string): IpWords | undefined {
  const pct = text.indexOf("%");
  const s = pct === -1 ? text : text.slice(0, pct);
  if (!isIPv6(s)) return undefined;
  const hextets: number[] = [];
  const dbl = s.indexOf("::");
  const parsePart = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const groups = part.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g);
        if (v4 < 0) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  if (dbl === -1) {
    const all = parsePart(s);
    if (all?.length !== 8) return undefined;
    hextets.push(...all);
  } else {
    const head = parsePart(s.slice(0, dbl));
    const tail = parsePart(s.slice(dbl + 2));
    if (!head || !tail) return undefined;
    const zeros = 8 - head.length - tail.length;
    if (zeros < 1) return undefined;
    hextets.push(...head, ...new Array<number>(zeros).fill(0), ...tail);
  }
  return [
    ((hextets[0]! << 16) | hextets[1]!) >>> 0,
    ((hextets[2]! << 16) | hextets[3]!) >>> 0,
    ((hextets[4]! << 16) | hextets[5]!) >>> 0,
    ((hextets[6]! << 16) | hextets[7]!) >>> 0,
  ];
}

/** True for ::ffff:0:0/96. */
export function isV4Mapped(w: readonly number[]): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/** Parse to the rules engine's IpValue; v4-mapped IPv6 becomes IPv4 when `unmap`. */
export function toIpValue(s: string, unmap = true): IpValue | undefined {
  if (isIPv4(s)) {
    const v4 = parseIpv4(s);
    return v4 < 0 ? undefined : { family: 4, v4 };
  }
  const w = parseIpv6(s);
  if (!w) return undefined;
  if (unmap && isV4Mapped(w)) return { family: 4, v4: w[3] };
  return { family: 6, w };
}

export interface Cidr {
  readonly family: 4 | 6;
  /** IPv4: [addr]; IPv6: four words. Host bits cleared. */
  readonly words: readonly number[];
  readonly prefix: number;
}

/** Mask for the top `bits` (0..32) of a word. */
export function topMask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** "10.0.0.0/8", "2001:db8::/32", or a bare address (= /32 or /128). Throws on bad input. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const addr = slash === -1 ? text.trim() : text.slice(0, slash).trim();
  const v4 = parseIpv4(addr);
  const max = v4 >= 0 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1).trim();
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max)
      throw new Error(`bad prefix length in "${text}"`);
    prefix = Number(p);
  }
  if (v4 >= 0) return { family: 4, words: [(v4 & topMask(prefix)) >>> 0], prefix };
  const w = parseIpv6(addr);
  if (!w) throw new Error(`"${text}" is not an IP address or CIDR`);
  // A v4-mapped network is an IPv4 network for matching purposes.
  if (isV4Mapped(w) && prefix >= 96) {
    const p4 = prefix - 96;
    return { family: 4, words: [(w[3] & topMask(p4)) >>> 0], prefix: p4 };
  }
  const masked = w.map((x, i) => (x & topMask(prefix - i * 32)) >>> 0);
  return { family: 6, words: masked, prefix };
}

/** IPv6 words → canonical-ish text (for logs; RFC 5952 zero compression). */
export function formatIpv6(w: readonly number[]): string {
  const h: number[] = [];
  for (const x of w) h.push(x >>> 16, x & 0xffff);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (h[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && h[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = h.map((x) => x.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
