/**
 * High-level intermediate representation: the parsed pattern with every flag already applied.
 * Everything is expressed over bytes: Unicode classes and literals (`(?u)`) have been lowered to
 * alternations of UTF-8 byte-range sequences, so the automata only ever see bytes.
 */
import type { RangeSet } from "./range-set.ts";

/** Empty-width assertions. Values index the look tables in the matchers. */
export const Look = {
  /** `\A`, or `^` without `m`. */
  StartText: 0,
  /** `\z`, or `$` without `m`. */
  EndText: 1,
  /** `^` with `m`: start of text or after `\n`. */
  StartLine: 2,
  /** `$` with `m`: end of text or before `\n`. */
  EndLine: 3,
  /** `^` with `mR`: also after a `\r` that is not followed by `\n`. */
  StartLineCrlf: 4,
  /** `$` with `mR`: also before `\r`, and before a `\n` not preceded by `\r`. */
  EndLineCrlf: 5,
  /** `\b` (ASCII word characters). */
  WordAscii: 6,
  /** `\B` (ASCII). */
  NotWordAscii: 7,
  /** `\b{start}` / `\<` (ASCII). */
  WordStartAscii: 8,
  /** `\b{end}` / `\>` (ASCII). */
  WordEndAscii: 9,
  /** `\b{start-half}` (ASCII). */
  WordStartHalfAscii: 10,
  /** `\b{end-half}` (ASCII). */
  WordEndHalfAscii: 11,
  /** Unicode-aware versions of the six word assertions (`(?u)`), same order. */
  WordUnicode: 12,
  NotWordUnicode: 13,
  WordStartUnicode: 14,
  WordEndUnicode: 15,
  WordStartHalfUnicode: 16,
  WordEndHalfUnicode: 17,
} as const;
export type Look = (typeof Look)[keyof typeof Look];

export type Hir =
  | { readonly type: "empty" }
  /** Exactly one byte from the set (0..255). An empty set never matches. */
  | { readonly type: "bytes"; readonly set: RangeSet }
  | { readonly type: "look"; readonly look: Look }
  /** `max` = -1 means unbounded. */
  | {
      readonly type: "repeat";
      readonly min: number;
      readonly max: number;
      readonly greedy: boolean;
      readonly sub: Hir;
    }
  | { readonly type: "capture"; readonly index: number; readonly sub: Hir }
  | { readonly type: "concat"; readonly subs: readonly Hir[] }
  /** Ordered alternation (leftmost-first preference). Zero branches never matches. */
  | { readonly type: "alt"; readonly subs: readonly Hir[] };

export const EMPTY: Hir = { type: "empty" };
