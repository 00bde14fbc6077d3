// Flat field lists, [name, value, name, value, …], as Node's `rawHeaders` and the HTTP/1 parser
// give them. Their length is even by construction; these reads make that explicit: a list of odd
// length is a bug in whatever built it, and throws rather than passing `undefined` on as a name
// or value.

/** The name of the field at `i` (even). */
export function fieldName(raw: readonly string[], i: number): string {
  const v = raw[i];
  if (v === undefined) throw new RangeError(`no field name at ${i} of ${raw.length}`);
  return v;
}

/** The value of the field whose name is at `i` (even). */
export function fieldValue(raw: readonly string[], i: number): string {
  const v = raw[i + 1];
  if (v === undefined) throw new RangeError(`no field value after ${i} of ${raw.length}`);
  return v;
}
