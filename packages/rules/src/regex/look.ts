/**
 * Evaluation of empty-width assertions. The byte-level ones depend only on the byte before and
 * the byte after the position, which is what lets the lazy DFA handle them (it remembers a
 * category of the previous byte in each state and resolves look-ahead on the next byte).
 */
import { Look } from "./hir.ts";
import { contains, type RangeSet } from "./range-set.ts";
import { codePointAt, codePointBefore, unicodeWord } from "./unicode.ts";

/** `prev`/`next`: a byte 0..255, NONE (-1: start / end of text) or OTHER (-2: a non-byte unit). */
export const NONE = -1;

const WORD = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  WORD[c] =
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f
      ? 1
      : 0;
}

/** ASCII word byte (`[0-9A-Za-z_]`); out-of-range values (NONE, OTHER) are not word bytes. */
export function isWordByte(c: number): boolean {
  return c >= 0 && c < 256 && WORD[c] === 1;
}

/** Whether look `kind` (one not Unicode-aware) holds between bytes `prev` and `next`. */
export function lookHoldsBytes(kind: number, prev: number, next: number): boolean {
  switch (kind) {
    case Look.StartText:
      return prev === NONE;
    case Look.EndText:
      return next === NONE;
    case Look.StartLine:
      return prev === NONE || prev === 0x0a;
    case Look.EndLine:
      return next === NONE || next === 0x0a;
    case Look.StartLineCrlf:
      return prev === NONE || prev === 0x0a || (prev === 0x0d && next !== 0x0a);
    case Look.EndLineCrlf:
      return next === NONE || next === 0x0d || (next === 0x0a && prev !== 0x0d);
    case Look.WordAscii:
      return isWordByte(prev) !== isWordByte(next);
    case Look.NotWordAscii:
      return isWordByte(prev) === isWordByte(next);
    case Look.WordStartAscii:
      return !isWordByte(prev) && isWordByte(next);
    case Look.WordEndAscii:
      return isWordByte(prev) && !isWordByte(next);
    case Look.WordStartHalfAscii:
      return !isWordByte(prev);
    case Look.WordEndHalfAscii:
      return !isWordByte(next);
    default:
      throw new Error(`look ${kind} needs the Unicode evaluator`);
  }
}

let wordSet: RangeSet | undefined;

function isWordCodePoint(cp: number): boolean {
  if (cp < 0) return false;
  if (cp < 0x80) return WORD[cp] === 1;
  wordSet ??= unicodeWord();
  return contains(wordSet, cp);
}

/** Whether look `kind` holds at `pos` in `input` (any kind, including Unicode word ones). */
export function lookHoldsAt(kind: number, input: string, pos: number): boolean {
  if (kind < Look.WordUnicode) {
    const prev = pos > 0 ? byteAt(input, pos - 1) : NONE;
    const next = pos < input.length ? byteAt(input, pos) : NONE;
    return lookHoldsBytes(kind, prev, next);
  }
  const cpBefore = codePointBefore(input, pos);
  const cpAfter = codePointAt(input, pos);
  const before = isWordCodePoint(cpBefore);
  const after = isWordCodePoint(cpAfter);
  // As in Rust, the assertions that can hold between two non-word sides (\B and the halves)
  // do not hold next to bytes that are not valid UTF-8, so they never split a character.
  const badBefore = pos > 0 && cpBefore < 0;
  const badAfter = pos < input.length && cpAfter < 0;
  switch (kind) {
    case Look.WordUnicode:
      return before !== after;
    case Look.NotWordUnicode:
      return !badBefore && !badAfter && before === after;
    case Look.WordStartUnicode:
      return !before && after;
    case Look.WordEndUnicode:
      return before && !after;
    case Look.WordStartHalfUnicode:
      return !badBefore && !before;
    default:
      return !badAfter && !after;
  }
}

/** A code unit of a binary string as a byte, or OTHER (-2) when it is not a byte. */
function byteAt(input: string, i: number): number {
  const c = input.charCodeAt(i);
  return c < 256 ? c : -2;
}
