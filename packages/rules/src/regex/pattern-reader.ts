/**
 * Low-level access to a pattern: the UTF-8 pattern bytes decoded to code points (wirefilter
 * patterns are Rust `&str`, so invalid UTF-8 is an error), a cursor, and errors that carry the
 * byte offset of the position they refer to.
 */
import { decodeAt } from "./utf8.ts";

export class RegexSyntaxError extends Error {}

/** Unicode White_Space, as Rust's `char::is_whitespace` (x mode and `{ n , m }` skip it). */
export function isWhitespace(cp: number): boolean {
  return (
    (cp >= 0x09 && cp <= 0x0d) ||
    cp === 0x20 ||
    cp === 0x85 ||
    cp === 0xa0 ||
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

export function isHex(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x46) || (cp >= 0x61 && cp <= 0x66);
}

export function isAsciiAlnum(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
}

export function ch(s: string): number {
  return s.charCodeAt(0);
}

export class PatternReader {
  /** Code points of the pattern. */
  protected readonly cps: number[] = [];
  /** Byte offset of each code point (plus one past the end), for error messages. */
  protected readonly offs: number[] = [];
  protected pos = 0;

  constructor(pattern: string) {
    let i = 0;
    while (i < pattern.length) {
      const b0 = pattern.charCodeAt(i);
      if (b0 > 0xff) throw new RegexSyntaxError(`pattern is not a byte string (code unit ${b0})`);
      const [cp, n] = decodeAt(pattern, i);
      if (cp < 0) throw new RegexSyntaxError(`pattern is not valid UTF-8 at byte offset ${i}`);
      this.cps.push(cp);
      this.offs.push(i);
      i += n;
    }
    this.offs.push(pattern.length);
  }

  protected error(message: string, at: number = this.pos): RegexSyntaxError {
    const offset = this.offs[Math.min(at, this.offs.length - 1)];
    return new RegexSyntaxError(`${message} (at byte offset ${offset})`);
  }

  protected eof(): boolean {
    return this.pos >= this.cps.length;
  }

  protected peek(ahead = 0): number {
    const i = this.pos + ahead;
    return this.cps[i] ?? -1;
  }

  protected skipAllSpace(): void {
    while (!this.eof() && isWhitespace(this.peek())) this.pos++;
  }
}
