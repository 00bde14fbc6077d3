// Checked reads from byte arrays for the binary parsers (DNS wire, TLS ClientHello, DER). Each
// parser checks a field's length once, up front, against what the message declares; these reads
// then make that check explicit in the types: an index past the end throws `MalformedBytes`
// (which each parser maps to its "malformed" answer: FORMERR, a malformed ClientHello) instead
// of yielding `undefined`, which `<<` and `|` would silently turn into 0. With the length checked
// first they never throw, and V8 inlines them to the plain indexed load.

/** Input that ends before a field it declares, or is otherwise not what its format allows. */
export class MalformedBytes extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedBytes";
  }
}

function pastEnd(b: Uint8Array, o: number): never {
  throw new MalformedBytes(`read at offset ${o} past the end (${b.length} bytes)`);
}

/** The byte at `o`. */
export function u8(b: Uint8Array, o: number): number {
  const v = b[o];
  return v === undefined ? pastEnd(b, o) : v;
}

/** Big-endian unsigned 16-bit integer at `o`. */
export function u16(b: Uint8Array, o: number): number {
  const hi = b[o];
  const lo = b[o + 1];
  return hi === undefined || lo === undefined ? pastEnd(b, o) : (hi << 8) | lo;
}

/** Big-endian unsigned 24-bit integer at `o`. */
export function u24(b: Uint8Array, o: number): number {
  const x = b[o];
  const y = b[o + 1];
  const z = b[o + 2];
  return x === undefined || y === undefined || z === undefined
    ? pastEnd(b, o)
    : (x << 16) | (y << 8) | z;
}

/** Big-endian unsigned 32-bit integer at `o`. */
export function u32(b: Uint8Array, o: number): number {
  return ((u16(b, o) << 16) | u16(b, o + 2)) >>> 0;
}

/** Element `i` of a typed array of numbers whose length the caller has checked. */
export function at(a: Uint16Array | Uint32Array | Int32Array, i: number): number {
  const v = a[i];
  if (v === undefined) throw new RangeError(`index ${i} past the end (${a.length})`);
  return v;
}
