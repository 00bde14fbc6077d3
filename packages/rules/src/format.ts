// Canonical text of an AST: one space around binary operators, word forms for logical
// operators, symbol forms for comparisons, literals in a single normal form. The output parses
// back to the same AST (format round-trip test).
import type {
  Comparison,
  Expr,
  FilterAst,
  FuncArg,
  Index,
  IpElement,
  Literal,
  SetLiteral,
  ValueExpr,
} from "./ast.ts";
import { codePointAtIndex, fromBytes } from "./bytes.ts";
import { formatIp } from "./ip.ts";

const ORDERING = { eq: "==", ne: "!=", lt: "<", le: "<=", gt: ">", ge: ">=" } as const;

export function format(ast: FilterAst | Expr): string {
  return ast.kind === "filter" ? formatExpr(ast.expr) : formatExpr(ast);
}

function formatExpr(e: Expr): string {
  switch (e.kind) {
    case "paren":
      return `(${formatExpr(e.expr)})`;
    case "not":
      return `not ${formatExpr(e.arg)}`;
    case "combine":
      return e.items.map(formatExpr).join(` ${e.op} `);
    case "quantifier":
      return `${e.op}(${formatArg(e.arg)})`;
    case "is_true":
      return formatValue(e.value);
    case "compare":
      return `${formatValue(e.lhs)} ${formatComparison(e.cmp)}`;
  }
}

function formatComparison(c: Comparison): string {
  switch (c.op) {
    case "eq":
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge":
      return `${ORDERING[c.op]} ${formatLiteral(c.value)}`;
    case "bitand":
      return `& ${formatInt(c.value)}`;
    case "contains":
      return `contains ${quoteBytes(c.value)}`;
    case "matches":
      return `matches ${rawString(c.pattern)}`;
    case "wildcard":
      return `wildcard ${quoteBytes(c.pattern)}`;
    case "strict_wildcard":
      return `strict wildcard ${quoteBytes(c.pattern)}`;
    case "in":
      return `in ${formatSet(c.set)}`;
    case "in_list":
      return `in $${c.list}`;
  }
}

function formatSet(s: SetLiteral): string {
  const items = formatSetItems(s);
  return items.length === 0 ? "{}" : `{ ${items.join(" ")} }`;
}

/** Each item of a set as it is written between the braces. */
export function formatSetItems(s: SetLiteral): string[] {
  switch (s.type) {
    case "Bytes":
      return s.items.map(quoteBytes);
    case "Int":
      return s.items.map((i) =>
        i.range ? `${formatInt(i.start)}..${formatInt(i.end)}` : formatInt(i.start),
      );
    case "Ip":
      return s.items.map(formatIpElement);
  }
}

function formatIpElement(e: IpElement): string {
  switch (e.kind) {
    case "addr":
      return formatIp(e.addr);
    case "cidr":
      return `${formatIp(e.addr)}/${e.prefix}`;
    case "range":
      return `${formatIp(e.start)}..${formatIp(e.end)}`;
  }
}

export function formatLiteral(l: Literal): string {
  switch (l.kind) {
    case "bytes":
      return quoteBytes(l.value);
    case "int":
      return formatInt(l.value);
    case "ip":
      return formatIp(l.value);
  }
}

/** Integers are doubles at run time; print the i64 the literal denoted (clamped at 2^63-1). */
function formatInt(n: number): string {
  let b = BigInt(n);
  const max = (1n << 63n) - 1n;
  if (b > max) b = max;
  return b.toString();
}

function formatValue(v: ValueExpr): string {
  let out: string;
  if (v.base.kind === "field") out = v.base.name;
  else out = `${v.base.name}(${v.base.args.map(formatArg).join(", ")})`;
  for (const i of v.indexes) out += formatIndex(i);
  return out;
}

function formatIndex(i: Index): string {
  switch (i.kind) {
    case "each":
      return "[*]";
    case "index":
      return `[${i.n}]`;
    case "key":
      return `[${quoteBytes(i.key)}]`;
  }
}

function formatArg(a: FuncArg): string {
  switch (a.kind) {
    case "literal":
      return formatLiteral(a.literal);
    case "value":
      return formatValue(a.expr);
    case "logical":
      return formatExpr(a.expr);
  }
}

/** A quoted string: printable ASCII as is, valid UTF-8 as text, other bytes as \xHH. */
export function quoteBytes(bytes: string): string {
  const text = fromBytes(bytes);
  let out = '"';
  if (text !== undefined) {
    for (const ch of text) {
      const c = codePointAtIndex(ch, 0);
      if (ch === '"' || ch === "\\") out += `\\${ch}`;
      else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
      else out += ch;
    }
  } else {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes.charCodeAt(i);
      if (c === 34 || c === 92) out += `\\${bytes[i]}`;
      else if (c < 0x20 || c >= 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
      else out += bytes[i];
    }
  }
  return `${out}"`;
}

/** Regex patterns print as raw strings (no escaping layer): r"…", r#"…"#, … as needed. */
export function rawString(pattern: string): string {
  const text = fromBytes(pattern) ?? pattern;
  let hashes = 0;
  while (text.includes(`"${"#".repeat(hashes)}`)) hashes++;
  const h = "#".repeat(hashes);
  return `r${h}"${text}"${h}`;
}
