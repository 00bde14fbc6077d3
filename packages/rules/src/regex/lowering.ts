/**
 * HIR helpers: lowering Unicode classes to UTF-8 byte-range automata (shared between patterns)
 * and bounding HIR depth.
 */
import type { Hir } from "./hir.ts";
import type { RangeSet } from "./range-set.ts";
import { utf8Sequences } from "./unicode.ts";

/** Total HIR depth limit (each group level costs a few HIR levels). */
export const HIR_DEPTH_LIMIT = 1000;

/** Iterative, so that checking a hostile pattern cannot overflow the stack. */
export function hirDepth(root: Hir): number {
  let max = 0;
  const stack: [Hir, number][] = [[root, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [h, d] = top;
    if (d > max) max = d;
    if (h.type === "concat" || h.type === "alt") for (const s of h.subs) stack.push([s, d + 1]);
    else if (h.type === "repeat" || h.type === "capture") stack.push([h.sub, d + 1]);
  }
  return max;
}

/**
 * A Unicode class (code points) as a byte-level HIR, with the number of NFA states it compiles
 * to. Memoized: classes such as `\w` or `\pL` are costly to lower and recur.
 */
export function lowerUnicodeClass(set: RangeSet): { hir: Hir; states: number } {
  const key = set.join(",");
  let lowered = loweredClasses.get(key);
  if (lowered === undefined) {
    const hir = utf8Trie(utf8Sequences(set), 0);
    lowered = { hir, states: countStates(hir) };
    if (loweredClasses.size >= LOWERED_CACHE_ENTRIES) {
      const oldest = loweredClasses.keys().next();
      if (!oldest.done) loweredClasses.delete(oldest.value);
    }
    loweredClasses.set(key, lowered);
  }
  return lowered;
}

/** Unicode classes already lowered to UTF-8 HIR (immutable, so shared between patterns). */
const loweredClasses = new Map<string, { hir: Hir; states: number }>();
const LOWERED_CACHE_ENTRIES = 256;

/** NFA states a HIR without repetitions compiles to (a lower bound in general). */
function countStates(h: Hir): number {
  switch (h.type) {
    case "concat":
      return h.subs.reduce((n, sub) => n + countStates(sub), 0);
    case "alt":
      return h.subs.reduce((n, sub) => n + countStates(sub), h.subs.length - 1);
    case "capture":
      return countStates(h.sub) + 2;
    case "repeat":
      return countStates(h.sub);
    default:
      return 1;
  }
}

/**
 * Lower UTF-8 byte-range sequences (sorted by code point) to an alternation that shares common
 * leading byte ranges, so the hundreds of sequences of e.g. `\w` become a much smaller NFA.
 * The leading byte determines a sequence's length, so grouped sequences have the same length.
 */
function utf8Trie(seqs: number[][], depth: number): Hir {
  const groups: { lo: number; hi: number; rest: number[][] }[] = [];
  for (const seq of seqs) {
    const lo = seq[depth * 2];
    const hi = seq[depth * 2 + 1];
    if (lo === undefined || hi === undefined)
      throw new Error(`internal: UTF-8 range sequence has no byte pair at depth ${depth}`);
    const last = groups[groups.length - 1];
    if (last !== undefined && last.lo === lo && last.hi === hi) last.rest.push(seq);
    else groups.push({ lo, hi, rest: [seq] });
  }
  const subs: Hir[] = groups.map((g) => {
    const head: Hir = { type: "bytes", set: [g.lo, g.hi] };
    const [first] = g.rest;
    if (first === undefined || first.length <= (depth + 1) * 2) return head;
    return { type: "concat", subs: [head, utf8Trie(g.rest, depth + 1)] };
  });
  const [only] = subs;
  return subs.length === 1 && only ? only : { type: "alt", subs };
}

export function bytesHir(bytes: number[]): Hir {
  const subs: Hir[] = bytes.map((b) => ({ type: "bytes", set: [b, b] }));
  const [only] = subs;
  return subs.length === 1 && only ? only : { type: "concat", subs };
}
