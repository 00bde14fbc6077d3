// Bytes values are "binary strings": one char per byte (char codes 0..255). Browser-safe: the
// UTF-8 conversions use TextEncoder/TextDecoder, never Buffer.
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 text → binary string. ASCII-only input is returned as is (the common case). */
export function toBytes(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return text;
  return bytesFromArray(encoder.encode(text));
}

function bytesFromArray(arr: Uint8Array): string {
  let out = "";
  const CHUNK = 0x2000;
  for (let i = 0; i < arr.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, arr.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return out;
}

/** Binary string → UTF-8 text, or undefined when the bytes are not valid UTF-8. */
export function fromBytes(bytes: string): string | undefined {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    if (c > 0x7f) {
      ascii = false;
      if (c > 0xff) return undefined;
    }
  }
  if (ascii) return bytes;
  const arr = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) arr[i] = bytes.charCodeAt(i);
  try {
    return decoder.decode(arr);
  } catch {
    return undefined;
  }
}

/** True when every char of `s` is a byte (0..255). */
export function isBinaryString(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

/**
 * The code point starting at UTF-16 index `i` of `text`, for a caller that has bounded `i` below
 * `text.length` (a loop over the text, a non-empty string): past the end is a bug and throws.
 */
export function codePointAtIndex(text: string, i: number): number {
  const cp = text.codePointAt(i);
  if (cp === undefined) throw new RangeError(`internal: no code point at ${i} of ${text.length}`);
  return cp;
}

/** Appends the UTF-8 encoding of one code point to `out` (used while lexing literals). */
export function utf8Of(cp: number): string {
  if (cp < 0x80) return String.fromCharCode(cp);
  if (cp < 0x800) return String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  if (cp < 0x10000) {
    return String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return String.fromCharCode(
    0xf0 | (cp >> 18),
    0x80 | ((cp >> 12) & 0x3f),
    0x80 | ((cp >> 6) & 0x3f),
    0x80 | (cp & 0x3f),
  );
}

/** Lower-cases ASCII A-Z only (spec §4.2 lower); other bytes are unchanged. */
export function asciiLower(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : s[i];
  }
  return out;
}

/** Upper-cases ASCII a-z only (spec §4.2 upper). */
export function asciiUpper(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 97 && c <= 122 ? String.fromCharCode(c - 32) : s[i];
  }
  return out;
}
