// What a cached value costs in memory, in bytes, as the caches and the query-log ring count it
// against their byte budgets (`resolver.cache.maxBytes`, `edge.limits.queryLogMaxBytes`). V8 does
// not say what one object holds, so this counts what V8 lays out for it with pointer compression
// on (Node's default): an object is a 12-byte header plus 4 bytes a property, a one-byte string
// 12 bytes plus its chars, 8-byte aligned, a number outside the small-integer range a 12-byte
// heap number, a typed array its view and ArrayBuffer objects plus its bytes. Each cache adds
// what its entry's fixed part measured (bench/dns/cache-bytes.ts prints the count beside the
// heap a run of entries really took, so the constants can be checked after a Node upgrade).

/** Bytes of a string of `length` one-byte chars (DNS names and record fields are binary strings). */
export function stringBytes(length: number): number {
  return (length + 19) & ~7;
}

/** Bytes of a typed array's view and ArrayBuffer objects, without its contents. */
export const TYPED_ARRAY_BYTES = 160;

/**
 * Bytes `v` holds: strings, numbers, typed arrays, arrays and plain objects, nested (a record's
 * RDATA, a query-log record). Strings shared with other values are counted again: the count
 * errs high.
 */
export function approxBytes(v: unknown): number {
  switch (typeof v) {
    case "string":
      return stringBytes(v.length);
    case "number":
      return (v | 0) === v && v < 0x40000000 && v >= -0x40000000 ? 0 : 16;
    case "object": {
      if (v === null) return 0;
      if (ArrayBuffer.isView(v)) return TYPED_ARRAY_BYTES + v.byteLength;
      if (Array.isArray(v)) {
        let n = 16 + 4 * v.length;
        for (const x of v) n += approxBytes(x);
        return n;
      }
      let n = 16;
      const o = v as Record<string, unknown>;
      for (const k in o) n += 4 + approxBytes(o[k]);
      return n;
    }
    default:
      return 0;
  }
}
