// Membership structures built once at compile/list-load time and probed per evaluation without
// allocating: sorted, merged inclusive ranges searched by bisection (wirefilter's RangeSet,
// spec §7.1), with IPv4 and IPv6 kept apart (§3.6: a v4 value only meets v4 ranges).
import type { IpValue } from "./api.ts";
import { compareWords } from "./ip.ts";

/** Inclusive integer ranges, merged; lookup is a binary search. */
export class IntRangeSet {
  readonly starts: Float64Array;
  readonly ends: Float64Array;

  constructor(ranges: Iterable<readonly [number, number]>) {
    const list = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const s: number[] = [];
    const e: number[] = [];
    for (const [a, b] of list) {
      const last = e.at(-1);
      // Adjacent ranges merge too (integers: [1,2] + [3,4] = [1,4]).
      if (last !== undefined && a <= last + 1) {
        if (b > last) e[e.length - 1] = b;
      } else {
        s.push(a);
        e.push(b);
      }
    }
    this.starts = Float64Array.from(s);
    this.ends = Float64Array.from(e);
  }

  get size(): number {
    return this.starts.length;
  }

  has(v: number): boolean {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    // Find the last range whose start <= v (mid stays in [0, length): the fallback never applies).
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((starts[mid] ?? Number.POSITIVE_INFINITY) <= v) lo = mid + 1;
      else hi = mid - 1;
    }
    const end = this.ends[hi]; // undefined when hi is -1: v is below every range
    return end !== undefined && v <= end;
  }
}

/** IPv6 ranges as 4-word big-endian tuples, merged; binary search with word comparison. */
export class Ipv6RangeSet {
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
  readonly count: number;

  constructor(ranges: Iterable<readonly [ArrayLike<number>, ArrayLike<number>]>) {
    const list = [...ranges].sort((a, b) => compareWords(a[0], b[0]) || compareWords(a[1], b[1]));
    const s: ArrayLike<number>[] = [];
    const e: ArrayLike<number>[] = [];
    for (const [a, b] of list) {
      checkWords(a);
      checkWords(b);
      const last = e.at(-1);
      if (last !== undefined && (compareWords(a, last) <= 0 || isSuccessor(last, a))) {
        if (compareWords(b, last) > 0) e[e.length - 1] = b;
      } else {
        s.push(a);
        e.push(b);
      }
    }
    this.count = s.length;
    this.starts = new Uint32Array(s.length * 4);
    this.ends = new Uint32Array(s.length * 4);
    for (const [i, start] of s.entries()) this.starts.set(start, i * 4);
    for (const [i, end] of e.entries()) this.ends.set(end, i * 4);
  }

  has(w: ArrayLike<number>): boolean {
    // Checked once per probe; cmpAt then reads the words without a check per step.
    checkWords(w);
    const starts = this.starts;
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (cmpAt(starts, mid, w) <= 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && cmpAt(this.ends, hi, w) >= 0;
  }
}

/** An IPv6 value is four 32-bit words; anything else is a caller's bug. */
function checkWords(w: ArrayLike<number>): void {
  if (w.length !== 4) throw new Error(`internal: an IPv6 value has 4 words, not ${w.length}`);
}

/**
 * Compares the tuple at `arr[i*4..]` with `w` (four words, checked by the caller; i is below
 * the set's count, so no read misses and the fallbacks never apply).
 */
function cmpAt(arr: Uint32Array, i: number, w: ArrayLike<number>): number {
  const o = i * 4;
  for (let k = 0; k < 4; k++) {
    const a = arr[o + k] ?? 0;
    const b = w[k] ?? 0;
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

/** True when b == a + 1 (so the ranges ending at a and starting at b are contiguous). */
function isSuccessor(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  const sum = Uint32Array.from(a);
  for (let k = 3; k >= 0; k--) {
    if (sum[k] === 0xffffffff) {
      sum[k] = 0;
    } else {
      sum[k] = (sum[k] ?? 0) + 1;
      return compareWords(sum, b) === 0;
    }
  }
  return false;
}

/** An IP set literal / list: v4 ranges as uint32 numbers, v6 ranges as word tuples. */
export class IpRangeSet {
  readonly v4: IntRangeSet;
  readonly v6: Ipv6RangeSet;

  constructor(ranges: Iterable<readonly [IpValue, IpValue]>) {
    const v4: [number, number][] = [];
    const v6: [ArrayLike<number>, ArrayLike<number>][] = [];
    for (const [a, b] of ranges) {
      if (a.family === 4 && b.family === 4) v4.push([a.v4, b.v4]);
      else if (a.family === 6 && b.family === 6) v6.push([a.w, b.w]);
      else throw new Error("IP range bounds of different families");
    }
    this.v4 = new IntRangeSet(v4);
    this.v6 = new Ipv6RangeSet(v6);
  }

  has(ip: IpValue): boolean {
    return ip.family === 4 ? this.v4.has(ip.v4) : this.v6.has(ip.w);
  }
}
