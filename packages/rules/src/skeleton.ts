// An expression's boolean skeleton: the parentheses, `not` and the and/or/xor combinations
// around its atoms (comparisons, bare Bool fields, quantifiers). Evaluated over what a caller
// knows of each atom, in Kleene's three-valued logic: an atom is true, false or unknown
// (undefined), and so is the whole. Control's client page (which policies can apply to a client,
// its location and address known) and contract's shadowing check (the earlier policy true under
// every assignment of opaque atoms) both evaluate expressions this way.

import type { Expr } from "./ast.ts";

/** Kleene's truth values: true, false, or unknown (undefined). */
export type Tri = boolean | undefined;

/** Kleene's and: false if either is false, true if both are true, else unknown. */
function triAnd(a: Tri, b: Tri): Tri {
  return a === false || b === false ? false : a === true && b === true ? true : undefined;
}

/** Kleene's or: true if either is true, false if both are false, else unknown. */
function triOr(a: Tri, b: Tri): Tri {
  return a === true || b === true ? true : a === false && b === false ? false : undefined;
}

/** Kleene's xor: unknown if either is, else whether they differ. */
function triXor(a: Tri, b: Tri): Tri {
  return a === undefined || b === undefined ? undefined : a !== b;
}

/** Kleene's not: unknown stays unknown. */
function triNot(a: Tri): Tri {
  return a === undefined ? undefined : !a;
}

/**
 * The truth of `e`'s skeleton, with `atom` giving each atom's (undefined: unknown). Every atom is
 * visited, left to right, so `atom` may also collect what it sees; with `lazy`, an and/or stops
 * at the first item that decides it (false, true), as a boolean evaluation would. With an `atom`
 * that always answers true or false, this is plain boolean evaluation.
 */
export function evalSkeleton(e: Expr, atom: (e: Expr) => Tri, lazy = false): Tri {
  switch (e.kind) {
    case "paren":
      return evalSkeleton(e.expr, atom, lazy);
    case "not":
      return triNot(evalSkeleton(e.arg, atom, lazy));
    case "combine": {
      const op = e.op === "and" ? triAnd : e.op === "or" ? triOr : triXor;
      // What decides an and (false) or an or (true) whatever follows; xor: nothing.
      const decided = e.op === "and" ? false : e.op === "or" ? true : undefined;
      let acc: Tri = e.op === "and";
      for (const item of e.items) {
        acc = op(acc, evalSkeleton(item, atom, lazy));
        if (lazy && acc === decided) break;
      }
      return acc;
    }
    default:
      return atom(e);
  }
}
