// Recursive-descent parser with precedence climbing (spec §1.2, §1.5) that type-checks while it
// parses, as wirefilter does: the grammar of a right-hand side depends on the left-hand side's
// type (`10:20:30:40:50:60:70:80` is an IPv6 address for an Ip field, 8 bytes for a Bytes field).
import type { ListType, Type } from "./api.ts";
import type {
  Comparison,
  Expr,
  FilterAst,
  IntElement,
  IpElement,
  Literal,
  LogicalOp,
  SetLiteral,
  ValueExpr,
} from "./ast.ts";
import { messages as M } from "./errors.ts";
import {
  fail,
  lexBytesLiteral,
  lexInt,
  lexIntRange,
  lexIpAddr,
  lexIpRange,
  lexListName,
  lexRegexLiteral,
  lexString,
  skipSpace,
} from "./lexer.ts";
import { funcArgType, span, ValueParser } from "./parser-values.ts";
import { compileRegex } from "./regex/index.ts";
import { ARRAY_BOOL, arrayOf, BOOL, isArrayOfBool, typeToString } from "./types.ts";
import { parseWildcard } from "./wildcard.ts";

export type { Alias, FieldInfo, ParserConfig } from "./parser-values.ts";

const PRECEDENCE: Record<LogicalOp, number> = { or: 1, xor: 2, and: 3 };

const LOGICAL_OPS: readonly [string, LogicalOp][] = [
  ["or", "or"],
  ["||", "or"],
  ["xor", "xor"],
  ["^^", "xor"],
  ["and", "and"],
  ["&&", "and"],
];

/** Rust's `str::trim` set (Unicode White_Space); TAB is trimmed at the ends only. */
function isTrimmable(c: number): boolean {
  return (
    (c >= 9 && c <= 13) ||
    c === 32 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

export class Parser extends ValueParser {
  /** Throws ParseFailure; Scheme.parse converts it into a RuleError value. */
  parse(source: string): FilterAst {
    if (source.length > this.cfg.maxLength) {
      fail(
        "ExpressionTooLong",
        M.expressionTooLong(source.length, this.cfg.maxLength),
        this.cfg.maxLength,
        source.length,
      );
    }
    let start = 0;
    let end = source.length;
    while (start < end && isTrimmable(source.charCodeAt(start))) start++;
    while (end > start && isTrimmable(source.charCodeAt(end - 1))) end--;
    this.src = source.slice(0, end);
    this.pos = start;
    this.depth = 0;
    this.fields = new Set();
    this.mapKeys = new Map();
    this.lists = [];
    let expr = this.logical();
    if (expr.type.kind !== "Bool") {
      if (this.cfg.implicitAny && isArrayOfBool(expr.type)) {
        // Decision 4: Gateway's bare `field[*] op value` read as any(field[*] op value).
        expr = {
          kind: "quantifier",
          op: "any",
          arg: { kind: "logical", expr, span: expr.span },
          type: BOOL,
          span: expr.span,
        };
      } else {
        fail("TypeMismatch", M.typeMismatch("Bool", typeToString(expr.type)), this.pos, this.pos);
      }
    }
    if (this.pos < this.src.length) fail("EOF", M.eof(), this.pos, this.src.length);
    return {
      kind: "filter",
      source,
      expr,
      fields: [...this.fields].sort(),
      mapKeys: this.mapKeys,
      lists: this.lists,
    };
  }

  protected lexLogicalOp(p: number): { op: LogicalOp; end: number } | undefined {
    for (const [text, op] of LOGICAL_OPS) {
      if (this.src.startsWith(text, p)) return { op, end: p + text.length };
    }
    return undefined;
  }

  protected override logical(): Expr {
    const lhs = this.simple();
    return this.more(lhs, 0);
  }

  /** Precedence climbing over or < xor < and; equal-precedence chains become one n-ary node. */
  protected more(first: Expr, minPrec: number): Expr {
    let lhs = first;
    let look = this.lexLogicalOp(skipSpace(this.src, this.pos));
    while (look && PRECEDENCE[look.op] >= minPrec) {
      const op = look.op;
      this.pos = skipSpace(this.src, look.end);
      let rhs = this.simple();
      look = this.lexLogicalOp(skipSpace(this.src, this.pos));
      while (look && PRECEDENCE[look.op] > PRECEDENCE[op]) {
        rhs = this.more(rhs, PRECEDENCE[look.op]);
        look = this.lexLogicalOp(skipSpace(this.src, this.pos));
      }
      if (!sameShape(lhs.type, rhs.type)) {
        // wirefilter reports the mismatch where it stopped: after the next operator, if any.
        const at = look ? skipSpace(this.src, look.end) : this.pos;
        fail(
          "TypeMismatch",
          M.typeMismatch(typeToString(lhs.type), typeToString(rhs.type)),
          at,
          this.src.length,
        );
      }
      const sp = span(lhs.span.start, rhs.span.start + rhs.span.length);
      if (lhs.kind === "combine" && lhs.op === op) {
        (lhs.items as Expr[]).push(rhs);
        lhs = { ...lhs, span: sp };
      } else {
        lhs = { kind: "combine", op, items: [lhs, rhs], type: lhs.type, span: sp };
      }
    }
    return lhs;
  }

  protected simple(): Expr {
    const src = this.src;
    const p = this.pos;
    if (src.charCodeAt(p) === 40) {
      this.enter(p);
      this.pos = skipSpace(src, p + 1);
      const expr = this.logical();
      this.pos = skipSpace(src, this.pos);
      this.expectLiteral(")");
      this.depth--;
      return { kind: "paren", expr, type: expr.type, span: span(p, this.pos) };
    }
    const unary = src.startsWith("not", p) ? 3 : src.charCodeAt(p) === 33 ? 1 : 0;
    if (unary > 0) {
      this.enter(p);
      this.pos = skipSpace(src, p + unary);
      const arg = this.simple();
      this.depth--;
      return { kind: "not", arg, type: arg.type, span: span(p, this.pos) };
    }
    const q = this.quantifierAt(p);
    if (q) {
      this.enter(p);
      this.pos = skipSpace(src, q.paren + 1);
      const arg = this.funcArg();
      const argType = funcArgType(arg);
      if (arg.kind === "literal" || !isArrayOfBool(argType)) {
        fail(
          "TypeMismatch",
          M.typeMismatch("Array<Bool>", typeToString(argType)),
          arg.span.start,
          arg.span.start + arg.span.length,
        );
      }
      this.pos = skipSpace(src, this.pos);
      this.expectLiteral(")");
      this.depth--;
      return { kind: "quantifier", op: q.op, arg, type: BOOL, span: span(p, this.pos) };
    }
    return this.comparison();
  }

  /**
   * A value followed by its comparison. As in wirefilter, a Bool element needs no operator (its
   * "is true" test; over [*] that yields Array<Bool>), an Array<Bool> value is used as is, but
   * an Array<Bool> element under [*] would be Array<Array<Bool>> and is UnsupportedOp.
   */
  protected comparison(): Expr {
    const lhs = this.valueExpr();
    const t = lhs.elemType;
    if (t.kind === "Bool") {
      return { kind: "is_true", value: lhs, type: lhs.mapEach ? ARRAY_BOOL : BOOL, span: lhs.span };
    }
    if (isArrayOfBool(t)) {
      if (lhs.mapEach) {
        fail("UnsupportedOp", M.unsupportedOp(typeToString(arrayOf(t))), this.pos, this.pos);
      }
      return { kind: "is_true", value: lhs, type: ARRAY_BOOL, span: lhs.span };
    }
    return this.comparisonTail(lhs);
  }

  protected override comparisonTail(lhs: ValueExpr): Expr {
    const src = this.src;
    const opStart = skipSpace(src, this.pos);
    const tok = this.lexComparisonOp(opStart);
    if (!tok) return fail("ExpectedName", M.expectedName("ComparisonOp"), opStart, src.length);
    const t = lhs.elemType;
    const unsupported = (): never =>
      fail("UnsupportedOp", M.unsupportedOp(typeToString(t)), opStart, tok.end);
    const scalar = t.kind === "Bytes" || t.kind === "Int" || t.kind === "Ip";
    let p = skipSpace(src, tok.end);
    let cmp: Comparison;
    switch (tok.op) {
      case "in": {
        if (!scalar) unsupported();
        if (src.charCodeAt(p) === 36) {
          const name = lexListName(src, p);
          const listType = t.kind as ListType;
          this.lists.push({ name: name.value, type: listType, span: span(p, name.end) });
          cmp = { op: "in_list", list: name.value, listType };
          p = name.end;
        } else {
          const set = this.setLiteral(p, t.kind as ListType);
          cmp = { op: "in", set: set.value };
          p = set.end;
        }
        break;
      }
      case "eq":
      case "ne":
      case "lt":
      case "le":
      case "gt":
      case "ge": {
        if (!scalar) unsupported();
        const lit = this.scalarLiteral(p, t);
        cmp = { op: tok.op, value: lit.value };
        p = lit.end;
        break;
      }
      case "bitand": {
        if (t.kind !== "Int") unsupported();
        const n = lexInt(src, p);
        cmp = { op: "bitand", value: n.value };
        p = n.end;
        break;
      }
      case "contains": {
        if (t.kind !== "Bytes") unsupported();
        const b = lexBytesLiteral(src, p);
        cmp = { op: "contains", value: b.value };
        p = b.end;
        break;
      }
      case "matches": {
        if (t.kind !== "Bytes") unsupported();
        const r = lexRegexLiteral(src, p);
        const compiled = compileRegex(r.value);
        if (!compiled.ok) {
          // A quoted pattern's span is its text inside the quotes (wirefilter's regex_str).
          const quoted = src.charCodeAt(p) === 34;
          fail("ParseRegex", compiled.message, quoted ? p + 1 : p, quoted ? r.end - 1 : r.end);
        }
        cmp = { op: "matches", pattern: r.value };
        p = r.end;
        break;
      }
      case "wildcard":
      case "strict_wildcard": {
        if (t.kind !== "Bytes") unsupported();
        const s = lexString(src, p);
        const w = parseWildcard(s.value, tok.op === "wildcard");
        if (!w.ok) fail("ParseWildcard", w.message, p, s.end);
        cmp = { op: tok.op, pattern: s.value };
        p = s.end;
        break;
      }
    }
    this.pos = p;
    return {
      kind: "compare",
      lhs,
      cmp,
      type: lhs.mapEach ? ARRAY_BOOL : BOOL,
      span: span(lhs.span.start, p),
    };
  }

  protected scalarLiteral(p: number, t: Type): { value: Literal; end: number } {
    const src = this.src;
    if (t.kind === "Bytes") {
      const b = lexBytesLiteral(src, p);
      return { value: { kind: "bytes", value: b.value }, end: b.end };
    }
    if (t.kind === "Int") {
      const n = lexInt(src, p);
      return { value: { kind: "int", value: n.value }, end: n.end };
    }
    const ip = lexIpAddr(src, p);
    return { value: { kind: "ip", value: ip.value }, end: ip.end };
  }

  /** "{" ws { element ws } "}" — whitespace separated, no commas, may be empty. */
  protected setLiteral(p: number, t: ListType): { value: SetLiteral; end: number } {
    const src = this.src;
    if (src.charCodeAt(p) !== 123) fail("ExpectedLiteral", M.expectedLiteral("{"), p, src.length);
    p = skipSpace(src, p + 1);
    const bytes: string[] = [];
    const ints: IntElement[] = [];
    const ips: IpElement[] = [];
    while (src.charCodeAt(p) !== 125) {
      // At the end of input the element lexer reports the error, as in wirefilter.
      if (t === "Bytes") {
        const b = lexBytesLiteral(src, p);
        bytes.push(b.value);
        p = b.end;
      } else if (t === "Int") {
        const r = lexIntRange(src, p);
        ints.push(r.value);
        p = r.end;
      } else {
        const r = lexIpRange(src, p);
        ips.push(r.value);
        p = r.end;
      }
      p = skipSpace(src, p);
    }
    const value: SetLiteral =
      t === "Bytes"
        ? { type: "Bytes", items: bytes }
        : t === "Int"
          ? { type: "Int", items: ints }
          : { type: "Ip", items: ips };
    return { value, end: p + 1 };
  }
}

/** Both Bool, or both arrays (wirefilter's check; every array here is Array<Bool>). */
function sameShape(a: Type, b: Type): boolean {
  return a.kind === b.kind && (a.kind === "Bool" || a.kind === "Array");
}
