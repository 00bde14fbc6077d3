// UTF-8 decoding of binary strings (one char per byte), shared by the pattern reader (patterns
// must be valid UTF-8) and the Unicode-aware matchers (inputs may not be).

/**
 * The scalar value starting at `pos` and the bytes it takes, or [-1, 1] when the bytes there
 * are not valid UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
 */
export function decodeAt(input: string, pos: number): [number, number] {
  const b0 = input.charCodeAt(pos);
  if (b0 < 0x80) return [b0, 1];
  let n: number;
  let cp: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    cp = b0 & 0x1f;
    min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    cp = b0 & 0x0f;
    min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else return [-1, 1];
  if (pos + n > input.length) return [-1, 1];
  for (let i = 1; i < n; i++) {
    const b = input.charCodeAt(pos + i);
    if (b < 0x80 || b > 0xbf) return [-1, 1];
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
  return [cp, n];
}
