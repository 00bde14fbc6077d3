// IP addresses as the engine reads them: IPv4 as one uint32, IPv6 as four uint32 words, most
// significant first. The text syntax is Rust's std `IpAddr` (what wirefilter parses), with IPv4
// octets that have leading zeros rejected (Decision 6: ambiguous, never read as octal). The one
// IP parser of the project: the edge reads client addresses, networks and answers with it too
// (edge/src/net/ip-address.ts adds zone ids and IPv4-mapped networks on top).
import type { IpValue } from "./api.ts";

/** Dotted quad → uint32; undefined when not a strict IPv4 address. Allocates nothing. */
export function parseIpv4(s: string): number | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 255) return undefined;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
      if (parts > 4) return undefined;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && part === 0) return undefined;
      part = part * 10 + (c - 0x30);
      if (++digits > 3) return undefined;
    } else return undefined;
  }
  return parts === 4 ? value >>> 0 : undefined;
}

/** RFC 4291 §2.2 text forms: groups of 1-4 hex digits, one "::", optional dotted IPv4 tail. */
export function parseIpv6(s: string): [number, number, number, number] | undefined {
  if (s.length < 2) return undefined;
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  if (s.startsWith("::")) {
    gap = 0;
    i = 2;
    if (s.length === 2) return [0, 0, 0, 0];
  } else if (s[0] === ":") {
    return undefined;
  }
  while (i < s.length) {
    let j = i;
    while (j < s.length && s[j] !== ":") j++;
    const part = s.slice(i, j);
    if (part.includes(".")) {
      if (j !== s.length) return undefined;
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      groups.push(v4 >>> 16, v4 & 0xffff);
      i = j;
      break;
    }
    if (part.length === 0 || part.length > 4 || !/^[0-9a-fA-F]+$/.test(part)) return undefined;
    groups.push(Number.parseInt(part, 16));
    if (j === s.length) {
      i = j;
      break;
    }
    // j points at ':'
    if (s[j + 1] === ":") {
      if (gap >= 0) return undefined;
      gap = groups.length;
      i = j + 2;
      if (i === s.length) break;
    } else {
      i = j + 1;
      if (i === s.length) return undefined;
    }
  }
  if (gap >= 0) {
    if (groups.length > 7) return undefined;
    const fill = new Array(8 - groups.length).fill(0);
    groups.splice(gap, 0, ...fill);
  } else if (groups.length !== 8) {
    return undefined;
  }
  // Exactly eight groups by now: the defaults never apply.
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  return [
    ((g0 << 16) | g1) >>> 0,
    ((g2 << 16) | g3) >>> 0,
    ((g4 << 16) | g5) >>> 0,
    ((g6 << 16) | g7) >>> 0,
  ];
}

/** Parses an IPv4 or IPv6 address; undefined when invalid. v4-mapped IPv6 stays IPv6 (§3.6). */
export function parseIp(str: string): IpValue | undefined {
  if (str.includes(":")) {
    const w = parseIpv6(str);
    return w ? { family: 6, w } : undefined;
  }
  const v4 = parseIpv4(str);
  return v4 === undefined ? undefined : { family: 4, v4 };
}

export function formatIp(ip: IpValue): string {
  return ip.family === 4 ? formatIpv4(ip.v4) : formatIpv6(ip.w);
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Four words as RFC 5952 text (lowercase, the longest run of zero groups compressed). */
export function formatIpv6(w: ArrayLike<number>): string {
  if (w.length !== 4) throw new RangeError(`an IPv6 value has 4 words, not ${w.length}`);
  const g: number[] = [];
  for (let i = 0; i < 4; i++) {
    // i < 4 = w.length: the fallback never applies.
    const word = w[i] ?? 0;
    g.push(word >>> 16, word & 0xffff);
  }
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups, the first one on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Same-family ordering; undefined when the families differ ("incomparable", §3.6). */
export function compareIp(a: IpValue, b: IpValue): number | undefined {
  if (a.family === 4) {
    if (b.family !== 4) return undefined;
    return a.v4 < b.v4 ? -1 : a.v4 > b.v4 ? 1 : 0;
  }
  if (b.family !== 6) return undefined;
  return compareWords(a.w, b.w);
}

/** Compares two IPv6 values as four big-endian words (the callers pass 4-word values). */
export function compareWords(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < 4; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** The mask of a word's top `prefix` bits; below 0 is none, above 32 all (for CIDRs). */
export function v4Mask(prefix: number): number {
  return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
}

function v6Mask(prefix: number): [number, number, number, number] {
  const m: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, prefix - i * 32));
    m[i] = v4Mask(bits);
  }
  return m;
}

type CidrParse =
  | { ok: true; start: IpValue; end: IpValue; prefix: number }
  | { ok: false; message: string; part: "addr" | "len" | "all" };

/**
 * "addr/len" with host bits required to be zero (the `cidr` crate's rule, spec §3.6).
 * Returns the inclusive address range it covers.
 */
export function parseCidr(addr: string, prefixText: string): CidrParse {
  const ip = parseIp(addr);
  if (!ip)
    return {
      ok: false,
      message: "couldn't parse address in network: invalid IP address syntax",
      part: "addr",
    };
  if (!/^[0-9]{1,3}$/.test(prefixText)) {
    return {
      ok: false,
      message: "couldn't parse length in network: invalid digit found in string",
      part: "len",
    };
  }
  const prefix = Number(prefixText);
  if (ip.family === 4) {
    if (prefix > 32)
      return { ok: false, message: `network length ${prefix} too long`, part: "all" };
    const m = v4Mask(prefix);
    if ((ip.v4 & ~m) >>> 0 !== 0)
      return { ok: false, message: "host part of address was not zero", part: "addr" };
    return { ok: true, start: ip, end: { family: 4, v4: (ip.v4 | ~m) >>> 0 }, prefix };
  }
  if (prefix > 128) return { ok: false, message: `network length ${prefix} too long`, part: "all" };
  const m = v6Mask(prefix);
  const [w0, w1, w2, w3] = ip.w;
  const [m0, m1, m2, m3] = m;
  if (((w0 & ~m0) | (w1 & ~m1) | (w2 & ~m2) | (w3 & ~m3)) !== 0) {
    return { ok: false, message: "host part of address was not zero", part: "addr" };
  }
  const end = {
    family: 6,
    w: [(w0 | ~m0) >>> 0, (w1 | ~m1) >>> 0, (w2 | ~m2) >>> 0, (w3 | ~m3) >>> 0],
  } as const;
  return { ok: true, start: ip, end, prefix };
}
