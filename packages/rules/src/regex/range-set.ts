/**
 * Sets of integers (bytes or Unicode scalar values) as sorted, disjoint, non-adjacent inclusive
 * ranges stored flat: [lo0, hi0, lo1, hi1, ...]. Used only at compile time, so clarity wins over
 * speed here; the matchers never see these.
 */
export type RangeSet = number[];

/** Largest byte value: the universe of a class in bytes mode (`(?-u)`). */
export const MAX_BYTE = 0xff;
/** Largest Unicode scalar value: the universe of a class in Unicode mode (`(?u)`). */
export const MAX_CODEPOINT = 0x10ffff;

/**
 * The bound at flat index `i` of a set. Every caller walks pairs below `length`, so a missing
 * entry means a malformed set (odd length) or an index bug: an internal error, never a default.
 */
export function bound(a: readonly number[], i: number): number {
  const v = a[i];
  if (v === undefined)
    throw new Error(`internal: range set has no entry ${i} (length ${a.length})`);
  return v;
}

/** Sort and merge arbitrary (possibly overlapping, unordered) ranges into canonical form. */
export function normalize(ranges: readonly number[]): RangeSet {
  // Fast path: ranges already ordered by their start (the common case) merge in one pass.
  let ordered = true;
  for (let i = 2; i < ranges.length; i += 2) {
    if (bound(ranges, i) < bound(ranges, i - 2)) {
      ordered = false;
      break;
    }
  }
  if (ordered) {
    const out: RangeSet = [];
    for (let i = 0; i < ranges.length; i += 2) {
      const lo = bound(ranges, i);
      const hi = bound(ranges, i + 1);
      if (lo > hi) continue;
      const n = out.length;
      if (n > 0 && lo <= bound(out, n - 1) + 1) {
        if (hi > bound(out, n - 1)) out[n - 1] = hi;
      } else {
        out.push(lo, hi);
      }
    }
    return out;
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) {
    const lo = bound(ranges, i);
    const hi = bound(ranges, i + 1);
    if (lo <= hi) pairs.push([lo, hi]);
  }
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: RangeSet = [];
  for (const [lo, hi] of pairs) {
    const n = out.length;
    if (n > 0 && lo <= bound(out, n - 1) + 1) {
      if (hi > bound(out, n - 1)) out[n - 1] = hi;
    } else {
      out.push(lo, hi);
    }
  }
  return out;
}

/** Union of two canonical sets: a linear merge. */
export function union(a: RangeSet, b: RangeSet): RangeSet {
  const merged: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && bound(a, i) <= bound(b, j))) {
      merged.push(bound(a, i), bound(a, i + 1));
      i += 2;
    } else {
      merged.push(bound(b, j), bound(b, j + 1));
      j += 2;
    }
  }
  return normalize(merged);
}

/** The canonical set of the given points (any order, duplicates allowed). */
export function fromPoints(points: readonly number[]): RangeSet {
  const sorted = Int32Array.from(points).sort();
  const out: RangeSet = [];
  for (const p of sorted) {
    const n = out.length;
    if (n > 0 && p <= bound(out, n - 1) + 1) {
      if (p > bound(out, n - 1)) out[n - 1] = p;
    } else {
      out.push(p, p);
    }
  }
  return out;
}

/** Complement within [0, max]. */
export function negate(a: RangeSet, max: number): RangeSet {
  const out: RangeSet = [];
  let next = 0;
  for (let i = 0; i < a.length; i += 2) {
    if (bound(a, i) > next) out.push(next, bound(a, i) - 1);
    next = bound(a, i + 1) + 1;
  }
  if (next <= max) out.push(next, max);
  return out;
}

export function intersect(a: RangeSet, b: RangeSet): RangeSet {
  const out: RangeSet = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(bound(a, i), bound(b, j));
    const hi = Math.min(bound(a, i + 1), bound(b, j + 1));
    if (lo <= hi) out.push(lo, hi);
    if (bound(a, i + 1) < bound(b, j + 1)) i += 2;
    else j += 2;
  }
  return out;
}

export function difference(a: RangeSet, b: RangeSet, max: number): RangeSet {
  return intersect(a, negate(b, max));
}

export function symmetricDifference(a: RangeSet, b: RangeSet, max: number): RangeSet {
  return difference(union(a, b), intersect(a, b), max);
}

export function contains(a: RangeSet, value: number): boolean {
  // Binary search over range pairs.
  let lo = 0;
  let hi = a.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (value < bound(a, mid * 2)) hi = mid - 1;
    else if (value > bound(a, mid * 2 + 1)) lo = mid + 1;
    else return true;
  }
  return false;
}

/** ASCII-only simple case folding (what Rust applies when Unicode mode is off). */
export function foldAscii(a: RangeSet): RangeSet {
  const extra: number[] = [];
  const lower = intersect(a, [0x61, 0x7a]);
  for (let i = 0; i < lower.length; i += 2)
    extra.push(bound(lower, i) - 32, bound(lower, i + 1) - 32);
  const upper = intersect(a, [0x41, 0x5a]);
  for (let i = 0; i < upper.length; i += 2)
    extra.push(bound(upper, i) + 32, bound(upper, i + 1) + 32);
  return extra.length === 0 ? a : normalize([...a, ...extra]);
}
