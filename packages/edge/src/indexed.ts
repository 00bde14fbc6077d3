// Reading an array at an index the caller has already bounded (a loop over its length, a slot
// taken modulo its size). With `noUncheckedIndexedAccess` such a read is typed `T | undefined`;
// `nth` states the bound instead of asserting it away with `!`: out of range is a bug in the
// caller and throws a RangeError rather than passing `undefined` on.

export function nth<T>(a: readonly T[], i: number): T {
  const v = a[i];
  if (v === undefined && (i < 0 || i >= a.length || !Number.isInteger(i)))
    throw new RangeError(`index ${i} outside 0..${a.length - 1}`);
  return v as T;
}
