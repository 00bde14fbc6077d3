// The policy builder's model: rows of (field, operator, value) joined by one "and" or "or", and
// groups of rows in parentheses with their own "and" or "or" (one level: `a and (b or c)`,
// `(a and b) or c`), written out as a rules-language expression, and read back from an
// expression of that shape (anything else stays text). Pure: the scheme's parser
// (@gatehouse/rules, the one control and the edge use) does the reading, so what the builder
// accepts is exactly what the engine parses; node --test covers it (test/expression-builder).

import {
  type Ast,
  type Comparison,
  type Expr,
  formatLiteral,
  formatSetItems,
  fromBytes,
  type Literal,
  quoteBytes,
  rawString,
  type Scheme,
  type SetLiteral,
  type Type,
  toBytes,
  type ValueExpr,
} from "@gatehouse/rules";

/** What one value of a field is (the element of an array field). */
export type ElementKind = "Bytes" | "Int" | "Ip" | "Bool";

export interface BuilderField {
  readonly name: string;
  readonly kind: ElementKind;
  /** An array field: its rows read `any(field[*] …)`, negated `not any(…)`. */
  readonly array: boolean;
}

export type OpId =
  | "eq"
  | "ne"
  | "lt"
  | "le"
  | "gt"
  | "ge"
  | "contains"
  | "not_contains"
  | "matches"
  | "not_matches"
  | "wildcard"
  | "not_wildcard"
  | "in"
  | "not_in"
  | "in_list"
  | "not_in_list"
  | "is_true"
  | "is_false";

/** What the value box holds for an operator. */
export type ValueKind = "text" | "set" | "list" | "none";

interface OpDef {
  readonly id: OpId;
  readonly label: string;
  readonly kinds: readonly ElementKind[];
  readonly value: ValueKind;
  /** The positive operator this one negates (written `not …`, `!=` for scalar equality). */
  readonly negates?: OpId;
  /** Offered on array fields (inside any()): not the orderings, not true/false. */
  readonly onArrays: boolean;
}

const SCALARS: readonly ElementKind[] = ["Bytes", "Int", "Ip"];
const TEXT: readonly ElementKind[] = ["Bytes"];
const INT: readonly ElementKind[] = ["Int"];
const BOOL: readonly ElementKind[] = ["Bool"];

function op(
  id: OpId,
  label: string,
  kinds: readonly ElementKind[],
  value: ValueKind,
  negates?: OpId,
): OpDef {
  const onArrays = kinds !== INT && kinds !== BOOL;
  return negates
    ? { id, label, kinds, value, negates, onArrays }
    : { id, label, kinds, value, onArrays };
}

const OPS: readonly OpDef[] = [
  op("eq", "equals", SCALARS, "text"),
  op("ne", "does not equal", SCALARS, "text", "eq"),
  op("lt", "is less than", INT, "text"),
  op("le", "is at most", INT, "text"),
  op("gt", "is greater than", INT, "text"),
  op("ge", "is at least", INT, "text"),
  op("contains", "contains", TEXT, "text"),
  op("not_contains", "does not contain", TEXT, "text", "contains"),
  op("matches", "matches regex", TEXT, "text"),
  op("not_matches", "does not match regex", TEXT, "text", "matches"),
  op("wildcard", "matches wildcard", TEXT, "text"),
  op("not_wildcard", "does not match wildcard", TEXT, "text", "wildcard"),
  op("in", "is one of", SCALARS, "set"),
  op("not_in", "is none of", SCALARS, "set", "in"),
  op("in_list", "is in list", SCALARS, "list"),
  op("not_in_list", "is not in list", SCALARS, "list", "in_list"),
  op("is_true", "is true", BOOL, "none"),
  op("is_false", "is false", BOOL, "none", "is_true"),
];
const OP_BY_ID = new Map(OPS.map((o) => [o.id, o]));
/** The negated operator of each positive one. */
const NEGATION = new Map(OPS.flatMap((o) => (o.negates ? [[o.negates, o.id] as const] : [])));

const SYMBOL: Partial<Record<OpId, string>> = {
  eq: "==",
  ne: "!=",
  lt: "<",
  le: "<=",
  gt: ">",
  ge: ">=",
  contains: "contains",
  matches: "matches",
  wildcard: "wildcard",
  in: "in",
  in_list: "in",
};

export type Join = "and" | "or";

export interface Row {
  field: string;
  op: OpId;
  /** Text for text operators; space-separated items for sets; the list's name for lists. */
  value: string;
}

/** Rows in parentheses, joined by their own and/or: one level of grouping. */
export interface Group {
  join: Join;
  rows: Row[];
}

/** A condition of the top level: a row, or a group of rows. */
export type Item = Row | Group;

export interface Rows {
  join: Join;
  rows: Item[];
}

export function isGroup(i: Item): i is Group {
  return "rows" in i;
}

function elementKind(t: Type): ElementKind | undefined {
  return t.kind === "Array" || t.kind === "Map" ? undefined : t.kind;
}

/** A field the builder offers, or undefined (maps, arrays of arrays: edit those as text). */
function builderField(scheme: Scheme, name: string): BuilderField | undefined {
  const t = scheme.fieldType(name);
  if (!t) return undefined;
  if (t.kind === "Array") {
    const kind = elementKind(t.of);
    return kind && kind !== "Bool" ? { name, kind, array: true } : undefined;
  }
  const kind = elementKind(t);
  return kind ? { name, kind, array: false } : undefined;
}

/** The scheme's fields the builder offers, in the scheme's order. */
export function builderFields(scheme: Scheme): BuilderField[] {
  return scheme.fields.flatMap((n) => builderField(scheme, n) ?? []);
}

/** The operators that suit a field, with their labels ("any …" / "none …" on array fields). */
export function operatorsFor(field: BuilderField): { id: OpId; label: string; value: ValueKind }[] {
  return OPS.filter((o) => o.kinds.includes(field.kind) && (!field.array || o.onArrays)).map(
    (o) => ({
      id: o.id,
      label: field.array ? `${o.negates ? "none" : "any"} ${positiveLabel(o)}` : o.label,
      value: o.value,
    }),
  );
}

/** On array fields the negation sits in the quantifier ("none equals", "none is in list"). */
function positiveLabel(o: OpDef): string {
  return (o.negates ? OP_BY_ID.get(o.negates)?.label : undefined) ?? o.label;
}

export function valueKind(op: OpId): ValueKind {
  return OP_BY_ID.get(op)?.value ?? "text";
}

/** A new row for `field` keeps the operator when the field takes it, else the field's first. */
export function rowForField(scheme: Scheme, row: Row, field: string): Row {
  const f = builderField(scheme, field);
  if (!f) return { ...row, field };
  const ops = operatorsFor(f);
  const keep = ops.find((o) => o.id === row.op);
  const op = keep?.id ?? ops[0]?.id ?? row.op;
  return { field, op, value: valueKind(op) === valueKind(row.op) ? row.value : "" };
}

// ---------------------------------------------------------------- rows -> expression

/** A row's text, or undefined while it is incomplete (no field, or no value where one is due). */
export function rowExpression(scheme: Scheme, row: Row): string | undefined {
  const f = builderField(scheme, row.field);
  const def = OP_BY_ID.get(row.op);
  if (!f || !def?.kinds.includes(f.kind)) return undefined;
  if (def.value !== "none" && row.value.trim() === "") return undefined;
  if (def.id === "is_true") return f.name;
  if (def.id === "is_false") return `not ${f.name}`;
  // Scalar inequality has its own symbol; every other negation is `not …`.
  const scalarNe = def.id === "ne" && !f.array;
  const positive = scalarNe ? def.id : (def.negates ?? def.id);
  const lhs = f.array ? `${f.name}[*]` : f.name;
  const cmp = `${lhs} ${SYMBOL[positive]} ${operand(f.kind, positive, row.value)}`;
  const test = f.array ? `any(${cmp})` : cmp;
  return def.negates && !scalarNe ? `not ${test}` : test;
}

function operand(kind: ElementKind, op: OpId, value: string): string {
  const v = value.trim();
  if (op === "in_list") return `$${v.replace(/^\$/, "")}`;
  if (op === "in") {
    const items = v.split(/\s+/).filter(Boolean);
    return `{${items.map((i) => ` ${kind === "Bytes" ? quoteBytes(toBytes(i)) : i}`).join("")} }`;
  }
  if (kind !== "Bytes") return v;
  // Text is taken as typed: quoting is the builder's job, as in Cloudflare's dashboard.
  return op === "matches" ? rawString(toBytes(value)) : quoteBytes(toBytes(value));
}

/** A group's text: its complete rows joined by its join, in parentheses when more than one. */
function groupExpression(scheme: Scheme, g: Group): string | undefined {
  const parts = g.rows.flatMap((row) => rowExpression(scheme, row) ?? []);
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : `(${parts.join(` ${g.join} `)})`;
}

/** The expression the rows write: the complete rows and groups joined by `join`. */
export function expressionFromRows(scheme: Scheme, r: Rows): string {
  return r.rows
    .flatMap(
      (item) => (isGroup(item) ? groupExpression(scheme, item) : rowExpression(scheme, item)) ?? [],
    )
    .join(` ${r.join} `);
}

// ---------------------------------------------------------------- expression -> rows

export type ReadResult = { ok: true; value: Rows } | { ok: false; reason: string };

/**
 * The rows of an expression when it is an "and" or "or" of comparisons the builder has operators
 * for and of groups of them (one level; an empty expression is no rows); otherwise why it must
 * stay text.
 */
export function rowsFromExpression(scheme: Scheme, expression: string): ReadResult {
  if (expression.trim() === "") return { ok: true, value: { join: "and", rows: [] } };
  const parsed = scheme.parse(expression);
  if (!parsed.ok) return { ok: false, reason: `it does not parse yet (${parsed.error.message})` };
  return rowsFromAst(scheme, parsed.value);
}

export function rowsFromAst(scheme: Scheme, ast: Ast): ReadResult {
  let e = ast.expr;
  while (e.kind === "paren") e = e.expr;
  let join: Join = "and";
  let items: readonly Expr[] = [e];
  if (e.kind === "combine") {
    if (e.op === "xor") return { ok: false, reason: "it uses xor" };
    join = e.op;
    items = e.items;
  }
  const text = (x: Expr) => ast.source.slice(x.span.start, x.span.start + x.span.length);
  const more = (x: Expr): ReadResult => ({
    ok: false,
    reason: `"${text(x)}" is more than a field, an operator and a value`,
  });
  const rows: Item[] = [];
  for (const item of items) {
    const row = rowOf(scheme, item);
    if (row) {
      rows.push(row);
      continue;
    }
    // One level of grouping: `a and b or c` is `(a and b) or c`; `a and (b or c)` as written.
    let inner = item;
    while (inner.kind === "paren") inner = inner.expr;
    if (inner.kind !== "combine") return more(item);
    if (inner.op === "xor") return { ok: false, reason: "it uses xor" };
    const group: Row[] = [];
    for (const sub of inner.items) {
      const r = rowOf(scheme, sub);
      if (r) {
        group.push(r);
        continue;
      }
      let deeper = sub;
      while (deeper.kind === "paren") deeper = deeper.expr;
      if (deeper.kind === "combine")
        return {
          ok: false,
          reason: `"${text(sub)}" groups conditions inside a group (the builder has one level)`,
        };
      return more(sub);
    }
    rows.push({ join: inner.op, rows: group });
  }
  return { ok: true, value: { join, rows } };
}

function rowOf(scheme: Scheme, e: Expr): Row | undefined {
  switch (e.kind) {
    case "paren":
      return e.expr.kind === "combine" ? undefined : rowOf(scheme, e.expr);
    case "not": {
      const inner = rowOf(scheme, e.arg);
      // `not f == v` is true where f is missing and `f != v` is not: only arrays (`not any`)
      // turn a negated equality into a row.
      if (inner?.op === "eq" && !builderField(scheme, inner.field)?.array) return undefined;
      const negated = inner && NEGATION.get(inner.op);
      return inner && negated ? { ...inner, op: negated } : undefined;
    }
    case "is_true": {
      const f = plainField(scheme, e.value, false);
      return f?.kind === "Bool" ? { field: f.name, op: "is_true", value: "" } : undefined;
    }
    case "compare": {
      const f = plainField(scheme, e.lhs, false);
      return f ? compareRow(f, e.cmp) : undefined;
    }
    case "quantifier": {
      if (e.op !== "any" || e.arg.kind !== "logical" || e.arg.expr.kind !== "compare")
        return undefined;
      const f = plainField(scheme, e.arg.expr.lhs, true);
      if (!f) return undefined;
      const row = compareRow(f, e.arg.expr.cmp);
      // Inside any() only the positive operators are rows ("none …" is `not any(…)`).
      return row && !OP_BY_ID.get(row.op)?.negates ? row : undefined;
    }
    case "combine":
      return undefined;
  }
}

/** `field` (scalar) or `field[*]` (array), with the builder's view of the field. */
function plainField(scheme: Scheme, v: ValueExpr, array: boolean): BuilderField | undefined {
  if (v.base.kind !== "field") return undefined;
  const f = builderField(scheme, v.base.name);
  if (!f || f.array !== array) return undefined;
  const [first, ...rest] = v.indexes;
  const shape = array ? first?.kind === "each" && rest.length === 0 : first === undefined;
  return shape ? f : undefined;
}

function compareRow(f: BuilderField, c: Comparison): Row | undefined {
  const value = comparisonValue(c);
  if (value === undefined) return undefined;
  const op: OpId | undefined =
    c.op === "in_list"
      ? "in_list"
      : c.op === "bitand" || c.op === "strict_wildcard"
        ? undefined
        : c.op;
  const def = op && OP_BY_ID.get(op);
  if (!def?.kinds.includes(f.kind) || (f.array && !def.onArrays)) return undefined;
  return { field: f.name, op: def.id, value };
}

function comparisonValue(c: Comparison): string | undefined {
  if (c.op === "in") return setText(c.set);
  if (c.op === "in_list") return c.list;
  if (c.op === "contains") return fromBytes(c.value);
  if (c.op === "bitand" || c.op === "strict_wildcard") return undefined;
  if ("pattern" in c) return fromBytes(c.pattern);
  return literalText(c.value);
}

function literalText(l: Literal): string | undefined {
  return l.kind === "bytes" ? fromBytes(l.value) : formatLiteral(l);
}

/** Set items space-separated; a Bytes item that is empty or holds a space stays text. */
function setText(s: SetLiteral): string | undefined {
  if (s.type !== "Bytes") return formatSetItems(s).join(" ");
  const items = s.items.map(fromBytes);
  if (items.some((i) => i === undefined || i === "" || /\s/.test(i))) return undefined;
  return items.join(" ");
}
