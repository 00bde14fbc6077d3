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
      const n = s.length;
      // Adjacent ranges merge too (integers: [1,2] + [3,4] = [1,4]).
      if (n > 0 && a <= e[n - 1] + 1) {
        if (b > e[n - 1]) e[n - 1] = b;
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
    // Find the last range whose start <= v.
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= v) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && v <= this.ends[hi];
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
      const n = s.length;
      if (n > 0 && (compareWords(a, e[n - 1]) <= 0 || isSuccessor(e[n - 1], a))) {
        if (compareWords(b, e[n - 1]) > 0) e[n - 1] = b;
      } else {
        s.push(a);
        e.push(b);
      }
    }
    this.count = s.length;
    this.starts = new Uint32Array(s.length * 4);
    this.ends = new Uint32Array(s.length * 4);
    for (let i = 0; i < s.length; i++) {
      for (let k = 0; k < 4; k++) {
        this.starts[i * 4 + k] = s[i][k];
        this.ends[i * 4 + k] = e[i][k];
      }
    }
  }

  has(w: ArrayLike<number>): boolean {
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

/** Compares the tuple at `arr[i*4..]` with `w`. */
function cmpAt(arr: Uint32Array, i: number, w: ArrayLike<number>): number {
  const o = i * 4;
  for (let k = 0; k < 4; k++) {
    const a = arr[o + k];
    const b = w[k];
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

/** True when b == a + 1 (so the ranges ending at a and starting at b are contiguous). */
function isSuccessor(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  const sum = [a[0], a[1], a[2], a[3]];
  for (let k = 3; k >= 0; k--) {
    if (sum[k] === 0xffffffff) {
      sum[k] = 0;
    } else {
      sum[k]++;
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
