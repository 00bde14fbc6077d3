// The edge's reading of IP text, on top of the rules engine's parser (rules/src/ip.ts, the one
// IP parser of the project: IPv4 one uint32, IPv6 four uint32 words, most significant first,
// undefined for bad text). What the edge adds: a zone id on an IPv6 address (`fe80::1%eth0`,
// what a socket may report) is ignored; an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a
// dual-stack socket reports for IPv4 peers) is normalised to IPv4 where the caller asks for
// it, so one location network covers both socket kinds; networks (`parseCidr`) take a bare
// address and have their host bits cleared.

import { type IpValue, parseIpv4, parseIpv6, v4Mask } from "@gatehouse/rules";

type IpWords = [number, number, number, number];

/** IPv6 text → four words, or undefined; a zone id (`%…`) is accepted and dropped. */
export function ipv6Words(text: string): IpWords | undefined {
  const pct = text.indexOf("%");
  return parseIpv6(pct === -1 ? text : text.slice(0, pct));
}

/** True for ::ffff:0:0/96. */
export function isV4Mapped(w: readonly number[]): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/** Parse to the rules engine's IpValue; v4-mapped IPv6 becomes IPv4 when `unmap`. */
export function toIpValue(s: string, unmap = true): IpValue | undefined {
  const v4 = parseIpv4(s);
  if (v4 !== undefined) return { family: 4, v4 };
  const w = ipv6Words(s);
  if (!w) return undefined;
  if (unmap && isV4Mapped(w)) return { family: 4, v4: w[3] };
  return { family: 6, w };
}

/** A network: IPv4 as one word, IPv6 as four; host bits cleared. */
export type Cidr =
  | { readonly family: 4; readonly words: readonly [number]; readonly prefix: number }
  | { readonly family: 6; readonly words: Readonly<IpWords>; readonly prefix: number };

/** "10.0.0.0/8", "2001:db8::/32", or a bare address (= /32 or /128). Throws on bad input. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const addr = slash === -1 ? text.trim() : text.slice(0, slash).trim();
  const v4 = parseIpv4(addr);
  const max = v4 !== undefined ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1).trim();
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max)
      throw new Error(`bad prefix length in "${text}"`);
    prefix = Number(p);
  }
  if (v4 !== undefined) return { family: 4, words: [(v4 & v4Mask(prefix)) >>> 0], prefix };
  const w = ipv6Words(addr);
  if (!w) throw new Error(`"${text}" is not an IP address or CIDR`);
  // A v4-mapped network is an IPv4 network for matching purposes.
  if (isV4Mapped(w) && prefix >= 96) {
    const p4 = prefix - 96;
    return { family: 4, words: [(w[3] & v4Mask(p4)) >>> 0], prefix: p4 };
  }
  const masked = (i: 0 | 1 | 2 | 3) => (w[i] & v4Mask(prefix - i * 32)) >>> 0;
  return { family: 6, words: [masked(0), masked(1), masked(2), masked(3)], prefix };
}
