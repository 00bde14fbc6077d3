// AST → closures (spec §7.1, wirefilter's strategy). Everything that can be decided once is
// decided here: field ids, set structures (Set / merged range arrays, v4 and v6 apart), regex
// and wildcard matchers, function implementations. A compiled closure only reads the context.
import type { IpValue, ListSet, MissingMode } from "./api.ts";
import type { Comparison, Expr, FuncArg, Index, IpElement, ValueExpr } from "./ast.ts";
import type { Context } from "./context.ts";
import { MapValue } from "./context.ts";
import type { FunctionDef } from "./functions.ts";
import { compareIp } from "./ip.ts";
import { funcArgType } from "./parser-values.ts";
import { compileRegex } from "./regex/index.ts";
import { IntRangeSet, IpRangeSet } from "./value-sets.ts";
import { parseWildcard, wildcardMatch } from "./wildcard.ts";

export type BoolFn = (c: Context) => boolean;
/** Array<Bool>; undefined = a missing direct Array<Bool> value (spec §3.8). */
type VecFn = (c: Context) => readonly boolean[] | undefined;
type ValFn = (c: Context) => unknown;
type EachFn = (c: Context) => readonly unknown[] | undefined;
type Pred = (x: unknown, c: Context) => boolean;

export interface CompileEnv {
  readonly fieldId: (name: string) => number;
  readonly functions: ReadonlyMap<string, FunctionDef>;
  readonly missing: MissingMode;
}

export function compileBool(e: Expr, env: CompileEnv): BoolFn {
  switch (e.kind) {
    case "paren":
      return compileBool(e.expr, env);
    case "not": {
      const f = compileBool(e.arg, env);
      return (c) => !f(c);
    }
    case "combine":
      return compileCombine(
        e.op,
        e.items.map((i) => compileBool(i, env)),
      );
    case "quantifier":
      return compileQuantifier(e.op, e.arg, env);
    case "is_true": {
      const v = e.value;
      if (v.base.kind === "field" && v.indexes.length === 0) {
        const id = env.fieldId(v.base.name);
        return (c) => c.values[id] === true;
      }
      const get = compileValue(v, env);
      return (c) => get(c) === true;
    }
    case "compare": {
      const pred = compilePred(e.cmp);
      // Cloudflare mode: every comparison on a missing value is false; wirefilter's default
      // makes `!=` true instead (spec §3.8, Decision 2).
      const onMissing = e.cmp.op === "ne" && env.missing === "wirefilter";
      const v = e.lhs;
      if (v.base.kind === "field" && v.indexes.length === 0) {
        const id = env.fieldId(v.base.name);
        return compareField(id, e.cmp, pred, onMissing);
      }
      const get = compileValue(v, env);
      return (c) => {
        const x = get(c);
        return x === undefined ? onMissing : pred(x, c);
      };
    }
  }
}

/** Direct field comparisons, the hot path of DNS policies: specialised for `==`/`in`. */
function compareField(id: number, cmp: Comparison, pred: Pred, onMissing: boolean): BoolFn {
  if (cmp.op === "eq" && cmp.value.kind !== "ip") {
    const lit = cmp.value.value;
    return (c) => c.values[id] === lit;
  }
  if (cmp.op === "in" && cmp.set.type === "Bytes") {
    const set = new Set(cmp.set.items);
    return (c) => {
      const x = c.values[id];
      return x !== undefined && set.has(x as string);
    };
  }
  if (onMissing) {
    return (c) => {
      const x = c.values[id];
      return x === undefined ? true : pred(x, c);
    };
  }
  return (c) => {
    const x = c.values[id];
    return x !== undefined && pred(x, c);
  };
}

export function compileCombine(op: "and" | "or" | "xor", fs: BoolFn[]): BoolFn {
  const [a, b, d] = fs;
  if (op === "and") {
    if (fs.length === 2 && a && b) return (c) => a(c) && b(c);
    if (fs.length === 3 && a && b && d) return (c) => a(c) && b(c) && d(c);
    return (c) => {
      for (const f of fs) if (!f(c)) return false;
      return true;
    };
  }
  if (op === "or") {
    if (fs.length === 2 && a && b) return (c) => a(c) || b(c);
    if (fs.length === 3 && a && b && d) return (c) => a(c) || b(c) || d(c);
    return (c) => {
      for (const f of fs) if (f(c)) return true;
      return false;
    };
  }
  // xor: parity of all operands, no short-circuit (spec §1.5).
  return (c) => {
    let r = false;
    for (const f of fs) if (f(c)) r = !r;
    return r;
  };
}

/** Strips parentheses so `any((x[*] == 1))` still takes the direct element loop. */
function unparen(e: Expr): Expr {
  return e.kind === "paren" ? unparen(e.expr) : e;
}

function compileQuantifier(op: "any" | "all", arg: FuncArg, env: CompileEnv): BoolFn {
  const inner = arg.kind === "logical" ? unparen(arg.expr) : undefined;
  if (inner && inner.kind === "compare" && inner.lhs.mapEach) {
    // any/all(x[*] op v): loop over the elements directly, no intermediate Array<Bool>.
    // A missing x gives no elements: any → false, all → true (vacuous truth, §3.8).
    const each = compileEach(inner.lhs, env);
    const cmp = inner.cmp;
    if (op === "any" && cmp.op === "in_list" && cmp.listType === "Bytes") {
      // A list that reads the array as a whole (ListMatcher.hasAny) gets it in one call.
      const name = cmp.list;
      return (c) => {
        const xs = each(c);
        if (xs === undefined || c.lists === undefined) return false;
        const m = c.lists.bytes(name);
        if (m === undefined) return false;
        if (m.hasAny !== undefined) return m.hasAny(xs as string[]);
        for (let i = 0; i < xs.length; i++) if (m.has(xs[i] as string)) return true;
        return false;
      };
    }
    const pred = compilePred(cmp);
    if (op === "any") {
      return (c) => {
        const xs = each(c);
        if (xs === undefined) return false;
        for (let i = 0; i < xs.length; i++) if (pred(xs[i], c)) return true;
        return false;
      };
    }
    return (c) => {
      const xs = each(c);
      if (xs === undefined) return true;
      for (let i = 0; i < xs.length; i++) if (!pred(xs[i], c)) return false;
      return true;
    };
  }
  const vec =
    arg.kind === "logical"
      ? compileVec(arg.expr, env)
      : arg.kind === "value"
        ? (compileValue(arg.expr, env) as VecFn)
        : undefined;
  if (!vec) throw new Error("quantifier argument was not type-checked");
  // A direct Array<Bool> value that is missing makes both any and all false (§3.8).
  if (op === "any") {
    return (c) => {
      const v = vec(c);
      if (v === undefined) return false;
      for (let i = 0; i < v.length; i++) if (v[i]) return true;
      return false;
    };
  }
  return (c) => {
    const v = vec(c);
    if (v === undefined) return false;
    for (let i = 0; i < v.length; i++) if (!v[i]) return false;
    return true;
  };
}

/** Array<Bool> expressions: element-wise, truncated to the shorter operand (spec §1.5). */
function compileVec(e: Expr, env: CompileEnv): VecFn {
  switch (e.kind) {
    case "paren":
      return compileVec(e.expr, env);
    case "not": {
      const f = compileVec(e.arg, env);
      return (c) => {
        const v = f(c);
        return v === undefined ? undefined : v.map((b) => !b);
      };
    }
    case "combine": {
      const fs = e.items.map((i) => compileVec(i, env));
      const op = e.op;
      return (c) => {
        let acc: boolean[] | undefined;
        for (const f of fs) {
          const v = f(c) ?? [];
          if (acc === undefined) {
            acc = v.slice();
            continue;
          }
          const n = Math.min(acc.length, v.length);
          acc.length = n;
          for (let i = 0; i < n; i++) {
            // i < n ≤ both lengths: both entries are booleans.
            const x = acc[i] === true;
            const y = v[i] === true;
            acc[i] = op === "and" ? x && y : op === "or" ? x || y : x !== y;
          }
        }
        return acc ?? [];
      };
    }
    case "is_true": {
      // `bools[*]` (elements are the booleans; missing → no elements) or an Array<Bool> value.
      if (e.value.mapEach) {
        const each = compileEach(e.value, env) as VecFn;
        return (c) => each(c) ?? [];
      }
      return compileValue(e.value, env) as VecFn;
    }
    case "compare": {
      const each = compileEach(e.lhs, env);
      const pred = compilePred(e.cmp);
      return (c) => {
        const xs = each(c);
        if (xs === undefined) return [];
        const out = new Array<boolean>(xs.length);
        for (let i = 0; i < xs.length; i++) out[i] = pred(xs[i], c);
        return out;
      };
    }
    case "quantifier":
      throw new Error("a quantifier is Bool, not Array<Bool>");
  }
}

function compilePred(cmp: Comparison): Pred {
  switch (cmp.op) {
    case "eq":
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge": {
      const lit = cmp.value;
      if (lit.kind === "ip") return ipOrdering(cmp.op, lit.value);
      const v = lit.value;
      switch (cmp.op) {
        case "eq":
          return (x) => x === v;
        case "ne":
          return (x) => x !== v;
        case "lt":
          return (x) => (x as number) < (v as number);
        case "le":
          return (x) => (x as number) <= (v as number);
        case "gt":
          return (x) => (x as number) > (v as number);
        case "ge":
          return (x) => (x as number) >= (v as number);
      }
      break;
    }
    case "bitand": {
      const lit = cmp.value;
      const small = lit >= -0x80000000 && lit <= 0x7fffffff;
      const big = BigInt(lit);
      return (x) => {
        const n = x as number;
        if (small && n >= -0x80000000 && n <= 0x7fffffff) return (n & lit) !== 0;
        return (BigInt.asIntN(64, BigInt(n)) & big) !== 0n;
      };
    }
    case "contains": {
      const needle = cmp.value;
      if (needle === "") return () => true;
      return (x) => (x as string).indexOf(needle) !== -1;
    }
    case "matches": {
      const re = compileRegex(cmp.pattern);
      if (!re.ok) throw new Error(`regex was not validated: ${re.message}`);
      const regex = re.value;
      return (x) => regex.test(x as string);
    }
    case "wildcard":
    case "strict_wildcard": {
      const w = parseWildcard(cmp.pattern, cmp.op === "wildcard");
      if (!w.ok) throw new Error(`wildcard was not validated: ${w.message}`);
      const pattern = w.value;
      return (x) => wildcardMatch(pattern, x as string);
    }
    case "in": {
      const set = cmp.set;
      if (set.items.length === 0) return () => false;
      if (set.type === "Bytes") {
        const s = new Set(set.items);
        return (x) => s.has(x as string);
      }
      if (set.type === "Int") {
        const r = new IntRangeSet(set.items.map((i) => [i.start, i.end] as const));
        const lo = r.starts[0];
        const hi = r.ends[0];
        if (r.size === 1 && lo !== undefined && hi !== undefined) {
          return (x) => (x as number) >= lo && (x as number) <= hi;
        }
        return (x) => r.has(x as number);
      }
      const r = new IpRangeSet(set.items.map(ipElementRange));
      return (x) => r.has(x as IpValue);
    }
    case "in_list": {
      const name = cmp.list;
      // Lists are run-time data (spec §3.10): looked up in the context; absent → false.
      switch (cmp.listType) {
        case "Bytes":
          return (x, c) => listHas(c.lists, name, "bytes", x);
        case "Int":
          return (x, c) => listHas(c.lists, name, "int", x);
        case "Ip":
          return (x, c) => listHas(c.lists, name, "ip", x);
      }
    }
  }
}

function listHas(
  lists: ListSet | undefined,
  name: string,
  kind: "bytes" | "int" | "ip",
  x: unknown,
): boolean {
  if (lists === undefined) return false;
  const m = (lists[kind] as (n: string) => { has(v: unknown): boolean } | undefined).call(
    lists,
    name,
  );
  return m?.has(x) === true;
}

function ipElementRange(e: IpElement): readonly [IpValue, IpValue] {
  switch (e.kind) {
    case "addr":
      return [e.addr, e.addr];
    case "cidr":
      return [e.addr, e.end];
    case "range":
      return [e.start, e.end];
  }
}

/** IPv4 vs IPv6 are incomparable: every ordering is false except `!=` (spec §3.6). */
function ipOrdering(op: "eq" | "ne" | "lt" | "le" | "gt" | "ge", lit: IpValue): Pred {
  if (lit.family === 4 && (op === "eq" || op === "ne")) {
    const v4 = lit.v4;
    if (op === "eq") return (x) => (x as IpValue).family === 4 && (x as { v4: number }).v4 === v4;
    return (x) => !((x as IpValue).family === 4 && (x as { v4: number }).v4 === v4);
  }
  switch (op) {
    case "eq":
      return (x) => compareIp(x as IpValue, lit) === 0;
    case "ne":
      return (x) => compareIp(x as IpValue, lit) !== 0;
    case "lt":
      return (x) => compareIp(x as IpValue, lit) === -1;
    case "le": {
      return (x) => {
        const r = compareIp(x as IpValue, lit);
        return r !== undefined && r <= 0;
      };
    }
    case "gt":
      return (x) => compareIp(x as IpValue, lit) === 1;
    case "ge":
      return (x) => {
        const r = compareIp(x as IpValue, lit);
        return r !== undefined && r >= 0;
      };
  }
}

/** A non-mapped value expression: base, then index steps; undefined = missing. */
function compileValue(v: ValueExpr, env: CompileEnv): ValFn {
  let get: ValFn;
  if (v.base.kind === "field") {
    const id = env.fieldId(v.base.name);
    get = (c) => c.values[id];
  } else {
    get = compileCall(v.base.name, v.base.args, v.base.mapped, env);
  }
  for (const idx of v.indexes) {
    if (idx.kind === "each") throw new Error("compileValue on a mapped expression");
    get = indexStep(get, idx);
  }
  return get;
}

function indexStep(get: ValFn, idx: Index): ValFn {
  if (idx.kind === "index") {
    const n = idx.n;
    return (c) => {
      const a = get(c) as unknown[] | undefined;
      return a === undefined ? undefined : a[n];
    };
  }
  if (idx.kind === "key") {
    const k = idx.key;
    return (c) => {
      const m = get(c) as MapValue | undefined;
      return m === undefined ? undefined : m.entries.get(k);
    };
  }
  throw new Error("indexStep on [*]");
}

function elementsOf(v: unknown): readonly unknown[] {
  return v instanceof MapValue ? v.values : (v as unknown[]);
}

/**
 * A mapped value expression (`x[*]...`): the elements it yields. `x[*]` alone returns the stored
 * array itself (no copy); later index steps drop elements that lack the index (§3.9).
 */
function compileEach(v: ValueExpr, env: CompileEnv): EachFn {
  const first = v.indexes.findIndex((i) => i.kind === "each");
  let get: ValFn;
  if (v.base.kind === "field") {
    const id = env.fieldId(v.base.name);
    get = (c) => c.values[id];
  } else {
    get = compileCall(v.base.name, v.base.args, v.base.mapped, env);
  }
  for (const idx of v.indexes.slice(0, first)) get = indexStep(get, idx);
  const prefix = get;
  let each: EachFn = (c) => {
    const x = prefix(c);
    return x === undefined ? undefined : elementsOf(x);
  };
  for (const idx of v.indexes.slice(first + 1)) {
    const prev = each;
    if (idx.kind === "each") {
      each = (c) => {
        const xs = prev(c);
        if (xs === undefined) return undefined;
        const out: unknown[] = [];
        for (const x of xs) for (const y of elementsOf(x)) out.push(y);
        return out;
      };
    } else if (idx.kind === "index") {
      const n = idx.n;
      each = (c) => {
        const xs = prev(c);
        if (xs === undefined) return undefined;
        const out: unknown[] = [];
        for (const x of xs) {
          const y = (x as unknown[])[n];
          if (y !== undefined) out.push(y);
        }
        return out;
      };
    } else {
      const k = idx.key;
      each = (c) => {
        const xs = prev(c);
        if (xs === undefined) return undefined;
        const out: unknown[] = [];
        for (const x of xs) {
          const y = (x as MapValue).entries.get(k);
          if (y !== undefined) out.push(y);
        }
        return out;
      };
    }
  }
  return each;
}

function compileArg(arg: FuncArg, env: CompileEnv): ValFn {
  switch (arg.kind) {
    case "literal": {
      const v = arg.literal.value;
      return () => v;
    }
    case "value":
      return compileValue(arg.expr, env);
    case "logical":
      return arg.expr.type.kind === "Bool" ? compileBool(arg.expr, env) : compileVec(arg.expr, env);
  }
}

/**
 * A function call. Arguments are written into one scratch array per call site (evaluation is
 * synchronous and a call site never re-enters itself), so a call allocates nothing itself. A
 * mapped first argument applies the function per element and drops missing results (§1.7).
 */
function compileCall(
  name: string,
  args: readonly FuncArg[],
  mapped: boolean,
  env: CompileEnv,
): ValFn {
  const def = env.functions.get(name);
  if (!def) throw new Error(`function ${name} is not enabled in this scheme`);
  const infos = args.map((a) => ({
    kind: a.kind === "literal" ? ("Literal" as const) : ("Field" as const),
    type: funcArgType(a),
    literal: a.kind === "literal" ? a.literal.value : undefined,
  }));
  const impl = def.build(infos);
  const scratch: unknown[] = new Array(args.length).fill(undefined);
  const [arg0] = args;
  if (mapped && arg0?.kind === "value") {
    const each = compileEach(arg0.expr, env);
    const rest = args.slice(1).map((a) => compileArg(a, env));
    return (c) => {
      const xs = each(c);
      if (xs === undefined) return undefined;
      let i = 1;
      for (const f of rest) scratch[i++] = f(c);
      const out: unknown[] = [];
      for (const x of xs) {
        scratch[0] = x;
        const r = impl(scratch);
        if (r !== undefined) out.push(r);
      }
      return out;
    };
  }
  const fs = args.map((a) => compileArg(a, env));
  const [f0] = fs;
  if (fs.length === 1 && f0) {
    return (c) => {
      scratch[0] = f0(c);
      return impl(scratch);
    };
  }
  return (c) => {
    let i = 0;
    for (const f of fs) scratch[i++] = f(c);
    return impl(scratch);
  };
}
