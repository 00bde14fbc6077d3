// Several filters of one scheme evaluated in order, first match first (an embedder's policies).
// Each filter is read as its boolean skeleton (parentheses, `not`, and/or/xor) over atoms; the
// atoms that test a plain Bytes field against a literal are gathered at compile time into one
// index per field, so that a context's value is looked at once for all of them:
// - `f == "x"` and `f in {"x" "y"}`: one hash lookup of the value;
// - `ends_with(f, "x")` / `starts_with(f, "x")`: one lookup of the value's suffix (prefix) per
//   distinct literal length;
// - `f matches "…x$"`: the regex runs only when the value ends with the literal every match
//   ends with (x), found from the pattern (regex/index.ts literalSuffixOf);
// - `f in $name`, `any(f[*] in $name)` on a Bytes list: asked of the list once per context,
//   its matcher found by name once per list set when the set says it is `stable`;
// every other atom is its compiled closure, as in a filter of its own. Evaluating an atom has
// no effect but its verdict, so a verdict computed before the filter asks for it is the one it
// would get. A filter whose atoms are all indexed and that is false when they all are (no
// `not` around them) is not evaluated at all unless one of its atoms is true: with a hundred
// policies of that kind, a value that matches none costs a few lookups, not a hundred closures.

import type { BytesValue, ExecutionContext, ListMatcher, ListSet } from "./api.ts";
import type { Expr, ValueExpr } from "./ast.ts";
import { type BoolFn, type CompileEnv, compileBool, compileCombine } from "./compiler.ts";
import { type Context, MapValue } from "./context.ts";
import { literalSuffixOf } from "./regex/index.ts";
import { evalSkeleton } from "./skeleton.ts";

/** What the group needs of each filter: its parsed expression and how to compile its atoms. */
export interface GroupMember {
  readonly expr: Expr;
  readonly env: CompileEnv;
}

/** Literal → the atoms it makes true. */
type Lookup = Map<string, number[]>;

/** Literals of one length and what they make true. */
interface ByLength {
  readonly length: number;
  readonly lookup: Lookup;
}

/** The indexed atoms of one field. */
interface FieldIndex {
  readonly id: number;
  /** `f == x`, `f in {…}`: the value itself. */
  readonly exact: Lookup;
  /** `ends_with(f, x)`, by the literal's length. */
  readonly suffix: ByLength[];
  /** `starts_with(f, x)`, by the literal's length. */
  readonly prefix: ByLength[];
  /** `f matches r`, by the length of the literal r's matches all end with: candidates only. */
  readonly regexSuffix: ByLength[];
}

/** An atom the index can decide, and how. */
type Indexed =
  | { readonly kind: "exact"; readonly field: number; readonly values: readonly string[] }
  | { readonly kind: "suffix"; readonly field: number; readonly value: string }
  | { readonly kind: "prefix"; readonly field: number; readonly value: string }
  | { readonly kind: "regex"; readonly field: number; readonly suffix: string }
  | { readonly kind: "list"; readonly field: number; readonly name: string; readonly any: boolean };

/** `f in $name` (any: false) or `any(f[*] in $name)` (any: true) on a Bytes list. */
interface ListAtom {
  readonly atom: number;
  readonly field: number;
  readonly name: string;
  readonly any: boolean;
}

function unparen(e: Expr): Expr {
  return e.kind === "paren" ? unparen(e.expr) : e;
}

/** A plain field (no index steps, not mapped) of type Bytes: its id, else undefined. */
function bytesField(v: ValueExpr, env: CompileEnv): number | undefined {
  if (v.base.kind !== "field" || v.indexes.length > 0 || v.type.kind !== "Bytes") return undefined;
  return env.fieldId(v.base.name);
}

/** How the index decides `atom`, or undefined when it cannot. */
function indexable(atom: Expr, env: CompileEnv): Indexed | undefined {
  if (atom.kind === "compare") {
    const field = bytesField(atom.lhs, env);
    if (field === undefined) return undefined;
    const cmp = atom.cmp;
    if (cmp.op === "in_list" && cmp.listType === "Bytes")
      return { kind: "list", field, name: cmp.list, any: false };
    if (cmp.op === "eq" && cmp.value.kind === "bytes")
      return { kind: "exact", field, values: [cmp.value.value] };
    if (cmp.op === "in" && cmp.set.type === "Bytes")
      return { kind: "exact", field, values: cmp.set.items };
    if (cmp.op === "matches") {
      const suffix = literalSuffixOf(cmp.pattern);
      if (suffix.length > 0) return { kind: "regex", field, suffix };
    }
    return undefined;
  }
  if (atom.kind === "quantifier" && atom.op === "any" && atom.arg.kind === "logical") {
    // any(f[*] in $name): the list reads the array as a whole (ListMatcher.hasAny).
    const inner = unparen(atom.arg.expr);
    if (inner.kind !== "compare" || inner.cmp.op !== "in_list" || inner.cmp.listType !== "Bytes")
      return undefined;
    const v = inner.lhs;
    const [step] = v.indexes;
    if (v.base.kind !== "field" || v.indexes.length !== 1 || step?.kind !== "each")
      return undefined;
    if (v.base.type.kind !== "Array" || v.base.type.of.kind !== "Bytes") return undefined;
    return { kind: "list", field: env.fieldId(v.base.name), name: inner.cmp.list, any: true };
  }
  if (atom.kind === "is_true") {
    const call = atom.value.base;
    if (call.kind !== "call" || atom.value.indexes.length > 0 || call.mapped) return undefined;
    if (call.name !== "ends_with" && call.name !== "starts_with") return undefined;
    const [subject, literal] = call.args;
    if (subject?.kind !== "value" || literal?.kind !== "literal") return undefined;
    if (literal.literal.kind !== "bytes") return undefined;
    const field = bytesField(subject.expr, env);
    if (field === undefined) return undefined;
    const value = literal.literal.value;
    return call.name === "ends_with"
      ? { kind: "suffix", field, value }
      : { kind: "prefix", field, value };
  }
  return undefined;
}

function add(m: Lookup, key: string, atom: number): void {
  const had = m.get(key);
  if (had === undefined) m.set(key, [atom]);
  else if (had[had.length - 1] !== atom) had.push(atom);
}

function addByLength(groups: ByLength[], key: string, atom: number): void {
  let group = groups.find((g) => g.length === key.length);
  if (group === undefined) {
    group = { length: key.length, lookup: new Map() };
    groups.push(group);
  }
  add(group.lookup, key, atom);
}

export class FilterGroup {
  readonly size: number;
  /** Per filter: its skeleton over atom verdicts and closures. */
  readonly #evaluate: BoolFn[];
  /** Per filter: evaluated only when one of its atoms is true (see the file's comment). */
  readonly #onlyWhenMarked: boolean[];
  readonly #fields: FieldIndex[] = [];
  /** Per indexed atom: its filter, and for a regex candidate, the regex's closure. */
  readonly #atomFilter: number[] = [];
  readonly #atomRegex: (BoolFn | undefined)[] = [];
  readonly #listAtoms: ListAtom[] = [];
  /** The matcher of each list atom, from the list set they were resolved in. */
  readonly #listMatchers: (ListMatcher<BytesValue> | undefined)[] = [];
  #resolvedIn: ListSet | undefined = undefined;
  /** Per atom, the evaluation in which it was true; per filter, in which one of its was. */
  #atomTrue: Int32Array;
  #filterMarked: Int32Array;
  #epoch = 0;

  constructor(members: readonly GroupMember[]) {
    this.size = members.length;
    this.#evaluate = [];
    this.#onlyWhenMarked = [];
    const byField = new Map<number, FieldIndex>();
    const fieldIndex = (id: number): FieldIndex => {
      let f = byField.get(id);
      if (f === undefined) {
        f = { id, exact: new Map(), suffix: [], prefix: [], regexSuffix: [] };
        byField.set(id, f);
        this.#fields.push(f);
      }
      return f;
    };
    for (const [i, m] of members.entries()) {
      let allIndexed = true;
      const compile = (e: Expr): BoolFn => {
        switch (e.kind) {
          case "paren":
            return compile(e.expr);
          case "not": {
            const f = compile(e.arg);
            return (c) => !f(c);
          }
          case "combine":
            return compileCombine(e.op, e.items.map(compile));
          default: {
            const how = indexable(e, m.env);
            if (how === undefined) {
              allIndexed = false;
              return compileBool(e, m.env);
            }
            const atom = this.#atomFilter.length;
            this.#atomFilter.push(i);
            const f = how.kind === "list" ? undefined : fieldIndex(how.field);
            let regex: BoolFn | undefined;
            if (how.kind === "list") {
              this.#listAtoms.push({ atom, field: how.field, name: how.name, any: how.any });
              this.#listMatchers.push(undefined);
            } else if (f === undefined) throw new Error("unreachable");
            else if (how.kind === "exact") for (const v of how.values) add(f.exact, v, atom);
            else if (how.kind === "suffix") addByLength(f.suffix, how.value, atom);
            else if (how.kind === "prefix") addByLength(f.prefix, how.value, atom);
            else {
              addByLength(f.regexSuffix, how.suffix, atom);
              regex = compileBool(e, m.env);
            }
            this.#atomRegex.push(regex);
            return () => this.#atomTrue[atom] === this.#epoch;
          }
        }
      };
      this.#evaluate.push(compile(unparen(m.expr)));
      // All atoms false → false: then only a true atom can make the filter match.
      this.#onlyWhenMarked.push(allIndexed && evalSkeleton(m.expr, () => false) === false);
    }
    this.#atomTrue = new Int32Array(this.#atomFilter.length);
    this.#filterMarked = new Int32Array(members.length);
  }

  /**
   * The first filter at or after `from` that matches `ctx`, or -1. A walk starts at 0 (which
   * looks the context's values up in the index) and goes on from the last answer + 1, with the
   * context unchanged in between.
   */
  first(ctx: ExecutionContext, from: number): number {
    const c = ctx as Context;
    if (from === 0) this.#prepare(c);
    const marked = this.#filterMarked;
    const epoch = this.#epoch;
    for (let i = from; i < this.size; i++) {
      if (this.#onlyWhenMarked[i] === true && marked[i] !== epoch) continue;
      const f = this.#evaluate[i];
      if (f?.(c)) return i;
    }
    return -1;
  }

  /** Marks the atoms the context's values make true (and their filters). */
  #prepare(c: Context): void {
    if (this.#epoch === 0x7fffffff) {
      this.#atomTrue.fill(0);
      this.#filterMarked.fill(0);
      this.#epoch = 0;
    }
    this.#epoch++;
    for (const f of this.#fields) {
      const v = c.values[f.id];
      if (typeof v !== "string") continue;
      this.#markAll(f.exact.get(v), c);
      for (const g of f.suffix)
        if (g.length <= v.length) this.#markAll(g.lookup.get(v.slice(v.length - g.length)), c);
      for (const g of f.prefix)
        if (g.length <= v.length) this.#markAll(g.lookup.get(v.slice(0, g.length)), c);
      for (const g of f.regexSuffix)
        if (g.length <= v.length) this.#markAll(g.lookup.get(v.slice(v.length - g.length)), c);
    }
    if (this.#listAtoms.length > 0) this.#markLists(c);
  }

  /** The list atoms' verdicts, as the compiled comparison would give them. */
  #markLists(c: Context): void {
    const lists = c.lists;
    if (lists === undefined) return;
    // A stable list set's matchers are looked up by name once; others' at every evaluation.
    if (lists !== this.#resolvedIn || lists.stable !== true) {
      for (const [k, l] of this.#listAtoms.entries()) this.#listMatchers[k] = lists.bytes(l.name);
      this.#resolvedIn = lists;
    }
    const atoms = this.#listAtoms;
    const epoch = this.#epoch;
    for (let k = 0; k < atoms.length; k++) {
      const l = atoms[k];
      const m = this.#listMatchers[k];
      if (l === undefined || m === undefined) continue;
      const v = c.values[l.field];
      if (v === undefined) continue;
      let hit = false;
      if (!l.any) hit = m.has(v as BytesValue);
      else {
        const xs = (v instanceof MapValue ? v.values : v) as readonly BytesValue[];
        if (m.hasAny !== undefined) hit = m.hasAny(xs);
        else for (let i = 0; i < xs.length && !hit; i++) hit = m.has(xs[i] as BytesValue);
      }
      if (!hit) continue;
      this.#atomTrue[l.atom] = epoch;
      const f = this.#atomFilter[l.atom];
      if (f !== undefined) this.#filterMarked[f] = epoch;
    }
  }

  #markAll(atoms: readonly number[] | undefined, c: Context): void {
    if (atoms === undefined) return;
    for (const a of atoms) {
      // A regex whose literal ending the value has still decides for itself.
      const regex = this.#atomRegex[a];
      if (regex !== undefined && !regex(c)) continue;
      this.#atomTrue[a] = this.#epoch;
      const f = this.#atomFilter[a];
      if (f !== undefined) this.#filterMarked[f] = this.#epoch;
    }
  }
}
