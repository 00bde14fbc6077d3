// A set of IP networks for `ip in $list`: merged, sorted ranges searched by bisection, so a
// list of many CIDRs costs two numbers (IPv4) or eight (IPv6) per range and a lookup allocates
// nothing.

import { type IpValue, type ListMatcher, v4Mask } from "@gatehouse/rules";
import type { Cidr } from "../net/ip-address.ts";

type Words = readonly [number, number, number, number];
type Range6 = { lo: Words; hi: Words };

function cmpWord(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

function cmp6(a: Words, b: Words): number {
  return cmpWord(a[0], b[0]) || cmpWord(a[1], b[1]) || cmpWord(a[2], b[2]) || cmpWord(a[3], b[3]);
}

export class IpSet implements ListMatcher<IpValue> {
  private readonly lo4: Float64Array;
  private readonly hi4: Float64Array;
  private readonly v6: Range6[];

  constructor(cidrs: readonly Cidr[]) {
    const r4: [number, number][] = [];
    const r6: Range6[] = [];
    for (const c of cidrs) {
      if (c.family === 4) {
        const [lo] = c.words;
        r4.push([lo, lo + 2 ** (32 - c.prefix) - 1]);
      } else {
        const w = c.words;
        const top = (i: 0 | 1 | 2 | 3) => (w[i] | ~v4Mask(c.prefix - i * 32)) >>> 0;
        r6.push({ lo: w, hi: [top(0), top(1), top(2), top(3)] });
      }
    }
    r4.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of r4) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    this.lo4 = Float64Array.from(merged, (r) => r[0]);
    this.hi4 = Float64Array.from(merged, (r) => r[1]);
    this.v6 = r6.sort((a, b) => cmp6(a.lo, b.lo));
  }

  get size(): number {
    return this.lo4.length + this.v6.length;
  }

  hasV4(v: number): boolean {
    let lo = 0;
    let hi = this.lo4.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      // mid is within both arrays (same length): the fallbacks never apply.
      if (v < (this.lo4[mid] ?? 0)) hi = mid - 1;
      else if (v > (this.hi4[mid] ?? 0)) lo = mid + 1;
      else return true;
    }
    return false;
  }

  has(value: IpValue): boolean {
    if (value.family === 4) return this.hasV4(value.v4);
    const w = value.w;
    // v4-mapped addresses match IPv4 entries too.
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff && this.hasV4(w[3])) return true;
    // IPv6 ranges may nest (not merged); a linear scan over the candidates is fine for the
    // small IPv6 lists seen in practice.
    for (const r of this.v6) {
      if (cmp6(w, r.lo) < 0) break;
      if (cmp6(w, r.hi) <= 0) return true;
    }
    return false;
  }
}
