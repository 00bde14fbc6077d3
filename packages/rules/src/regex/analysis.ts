/**
 * Compile-time analyses of the HIR that pick a faster search strategy without changing results:
 * reversal (for patterns anchored at the end of text) and required literals (prefilter).
 */
import { type Hir, Look } from "./hir.ts";
import type { RangeSet } from "./range-set.ts";

/** The byte a set holds when it holds exactly one. */
function singleByte(set: RangeSet): number | undefined {
  const [lo, hi] = set;
  return set.length === 2 && lo === hi ? lo : undefined;
}

/** True only when every match provably ends at the end of the text (`$` without m, `\z`). */
export function isAnchoredEnd(h: Hir): boolean {
  switch (h.type) {
    case "look":
      return h.look === Look.EndText;
    case "capture":
      return isAnchoredEnd(h.sub);
    case "concat": {
      const last = h.subs.at(-1);
      return last !== undefined && isAnchoredEnd(last);
    }
    case "alt":
      return h.subs.length > 0 && h.subs.every(isAnchoredEnd);
    case "repeat":
      return h.min > 0 && isAnchoredEnd(h.sub);
    default:
      return false;
  }
}

/** Whether the HIR contains a look for which reversal is not a simple swap (CRLF line looks). */
export function hasCrlfLook(h: Hir): boolean {
  switch (h.type) {
    case "look":
      return h.look === Look.StartLineCrlf || h.look === Look.EndLineCrlf;
    case "capture":
    case "repeat":
      return hasCrlfLook(h.sub);
    case "concat":
    case "alt":
      return h.subs.some(hasCrlfLook);
    default:
      return false;
  }
}

/** The mirror image of each look that reversal maps it to (CRLF looks excluded, see above). */
const REVERSED_LOOK: Record<number, Look> = {
  [Look.StartText]: Look.EndText,
  [Look.EndText]: Look.StartText,
  [Look.StartLine]: Look.EndLine,
  [Look.EndLine]: Look.StartLine,
  [Look.WordAscii]: Look.WordAscii,
  [Look.NotWordAscii]: Look.NotWordAscii,
  [Look.WordStartAscii]: Look.WordEndAscii,
  [Look.WordEndAscii]: Look.WordStartAscii,
  [Look.WordStartHalfAscii]: Look.WordEndHalfAscii,
  [Look.WordEndHalfAscii]: Look.WordStartHalfAscii,
  [Look.WordUnicode]: Look.WordUnicode,
  [Look.NotWordUnicode]: Look.NotWordUnicode,
  [Look.WordStartUnicode]: Look.WordEndUnicode,
  [Look.WordEndUnicode]: Look.WordStartUnicode,
  [Look.WordStartHalfUnicode]: Look.WordEndHalfUnicode,
  [Look.WordEndHalfUnicode]: Look.WordStartHalfUnicode,
};

/**
 * The HIR matching exactly the reversed strings, captures dropped (only is_match uses it).
 * Iteration order is irrelevant to is_match, so alternation order is kept as is.
 */
export function reverseHir(h: Hir): Hir {
  switch (h.type) {
    case "look": {
      const look = REVERSED_LOOK[h.look];
      if (look === undefined) throw new Error(`look ${h.look} cannot be reversed`);
      return { type: "look", look };
    }
    case "capture":
      return reverseHir(h.sub);
    case "repeat":
      return { ...h, sub: reverseHir(h.sub) };
    case "concat":
      return { type: "concat", subs: h.subs.map(reverseHir).reverse() };
    case "alt":
      return { type: "alt", subs: h.subs.map(reverseHir) };
    default:
      return h;
  }
}

/**
 * The longest byte string that every match must contain (case-sensitive, from mandatory
 * concatenation parts), or "" when there is none. A search can reject an input at once when
 * `indexOf` does not find it.
 */
export function requiredLiteral(h: Hir): string {
  let best = "";
  const consider = (s: string) => {
    if (s.length > best.length) best = s;
  };
  const visit = (node: Hir): void => {
    switch (node.type) {
      case "bytes": {
        const b = singleByte(node.set);
        if (b !== undefined) consider(String.fromCharCode(b));
        return;
      }
      case "capture":
        visit(node.sub);
        return;
      case "repeat":
        if (node.min > 0) visit(node.sub);
        return;
      case "concat": {
        let run = "";
        for (const sub of node.subs) {
          const lit = literalOf(sub);
          if (lit !== undefined) {
            run += lit;
            continue;
          }
          consider(run);
          run = "";
          // Empty-width assertions do not break a run's adjacency, but keep it simple: they
          // end it, which only shortens the literal.
          visit(sub);
        }
        consider(run);
        return;
      }
      default:
        return;
    }
  };
  visit(h);
  return best;
}

/** The exact string a node matches, when it matches exactly one string. */
function literalOf(h: Hir): string | undefined {
  switch (h.type) {
    case "bytes": {
      const b = singleByte(h.set);
      return b === undefined ? undefined : String.fromCharCode(b);
    }
    case "capture":
      return literalOf(h.sub);
    case "concat": {
      let s = "";
      for (const sub of h.subs) {
        const lit = literalOf(sub);
        if (lit === undefined) return undefined;
        s += lit;
      }
      return s;
    }
    case "repeat": {
      if (h.min !== h.max || h.min > 64) return undefined;
      const lit = literalOf(h.sub);
      return lit === undefined ? undefined : lit.repeat(h.min);
    }
    default:
      return undefined;
  }
}

/** A literal every match starts with; `ci`: compare ASCII letters case-insensitively. */
interface LiteralPrefix {
  text: string;
  ci: boolean;
}

/**
 * The literal that begins every match (e.g. `googlebot/` for `(?i)googlebot/\d+`), from the
 * leading single-byte items of the pattern; letters folded by `(?i)` are kept in lower case
 * with `ci` set. Returns undefined when the pattern does not start with a literal.
 */
export function literalPrefix(h: Hir): LiteralPrefix | undefined {
  const chars: number[] = [];
  let ci = false;
  const walk = (node: Hir): boolean => {
    switch (node.type) {
      case "empty":
        return true;
      case "bytes": {
        const set = node.set;
        const b = singleByte(set);
        if (b !== undefined) {
          chars.push(b);
          return true;
        }
        const [upLo, upHi, lowLo, lowHi] = set;
        const isFoldedLetter =
          set.length === 4 &&
          upLo !== undefined &&
          upLo === upHi &&
          lowLo !== undefined &&
          lowLo === lowHi &&
          upLo >= 0x41 &&
          upLo <= 0x5a &&
          lowLo === upLo + 32;
        if (isFoldedLetter) {
          chars.push(lowLo);
          ci = true;
          return true;
        }
        return false;
      }
      case "capture":
        return walk(node.sub);
      case "concat":
        for (const sub of node.subs) if (!walk(sub)) return false;
        return true;
      default:
        return false;
    }
  };
  walk(h);
  if (chars.length === 0) return undefined;
  return { text: String.fromCharCode(...chars), ci };
}
