// Recursive-descent parser with precedence climbing (spec §1.2, §1.5) that type-checks while it
// parses, as wirefilter does: the grammar of a right-hand side depends on the left-hand side's
// type (`10:20:30:40:50:60:70:80` is an IPv6 address for an Ip field, 8 bytes for a Bytes field).
import type { ListType, Span, Type } from "./api.ts";
import type {
  Comparison,
  Expr,
  FieldRef,
  FilterAst,
  FuncArg,
  FunctionCall,
  Index,
  IntElement,
  IpElement,
  Literal,
  LogicalOp,
  OrderingOp,
  SetLiteral,
  ValueExpr,
} from "./ast.ts";
import { fromBytes } from "./bytes.ts";
import { messages as M, ParseFailure } from "./errors.ts";
import type { ArgInfo, FunctionDef } from "./functions.ts";
import {
  fail,
  isHexDigit,
  isIdentChar,
  lexBytesLiteral,
  lexIdentifier,
  lexInt,
  lexIntRange,
  lexIpAddr,
  lexIpRange,
  lexListName,
  lexQuotedString,
  lexRegexLiteral,
  lexString,
  skipSpace,
  startsString,
} from "./lexer.ts";
import { compileRegex } from "./regex/index.ts";
import { ARRAY_BOOL, arrayOf, BOOL, BYTES, INT, IP, isArrayOfBool, typeToString } from "./types.ts";
import { parseWildcard } from "./wildcard.ts";

export interface FieldInfo {
  readonly id: number;
  readonly name: string;
  readonly type: Type;
}

export interface Alias {
  readonly text: string;
  readonly field: FieldInfo;
  readonly indexes: readonly Index[];
}

/** What the parser needs from a Scheme. */
export interface ParserConfig {
  readonly fields: ReadonlyMap<string, FieldInfo>;
  readonly functions: ReadonlyMap<string, FunctionDef>;
  /** Longest first. */
  readonly aliases: readonly Alias[];
  readonly maxNesting: number;
  readonly implicitAny: boolean;
  readonly maxLength: number;
}

const PRECEDENCE: Record<LogicalOp, number> = { or: 1, xor: 2, and: 3 };

const LOGICAL_OPS: readonly [string, LogicalOp][] = [
  ["or", "or"],
  ["||", "or"],
  ["xor", "xor"],
  ["^^", "xor"],
  ["and", "and"],
  ["&&", "and"],
];

type CmpToken =
  | OrderingOp
  | "in"
  | "bitand"
  | "contains"
  | "matches"
  | "wildcard"
  | "strict_wildcard";

/** Lexing order of wirefilter's ComparisonOp: in, ordering, int, bytes (spec §1.2). */
const COMPARISON_OPS: readonly [string, CmpToken][] = [
  ["in", "in"],
  ["eq", "eq"],
  ["==", "eq"],
  ["ne", "ne"],
  ["!=", "ne"],
  ["ge", "ge"],
  [">=", "ge"],
  ["le", "le"],
  ["<=", "le"],
  ["gt", "gt"],
  [">", "gt"],
  ["lt", "lt"],
  ["<", "lt"],
  ["&", "bitand"],
  ["bitwise_and", "bitand"],
  ["contains", "contains"],
  ["matches", "matches"],
  ["~", "matches"],
  ["wildcard", "wildcard"],
  ["strict wildcard", "strict_wildcard"],
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

function span(start: number, end: number): Span {
  return { start, length: Math.max(0, end - start) };
}

export class Parser {
  readonly #cfg: ParserConfig;
  /** The source up to the end of its trimmed content, so lookahead never sees trailing space. */
  #src = "";
  #pos = 0;
  #depth = 0;
  #fields = new Set<string>();
  #lists: { name: string; type: ListType; span: Span }[] = [];

  constructor(cfg: ParserConfig) {
    this.#cfg = cfg;
  }

  /** Throws ParseFailure; Scheme.parse converts it into a RuleError value. */
  parse(source: string): FilterAst {
    if (source.length > this.#cfg.maxLength) {
      fail(
        "ExpressionTooLong",
        M.expressionTooLong(source.length, this.#cfg.maxLength),
        this.#cfg.maxLength,
        source.length,
      );
    }
    let start = 0;
    let end = source.length;
    while (start < end && isTrimmable(source.charCodeAt(start))) start++;
    while (end > start && isTrimmable(source.charCodeAt(end - 1))) end--;
    this.#src = source.slice(0, end);
    this.#pos = start;
    this.#depth = 0;
    this.#fields = new Set();
    this.#lists = [];
    let expr = this.#logical();
    if (expr.type.kind !== "Bool") {
      if (this.#cfg.implicitAny && isArrayOfBool(expr.type)) {
        // Decision 4: Gateway's bare `field[*] op value` read as any(field[*] op value).
        expr = {
          kind: "quantifier",
          op: "any",
          arg: { kind: "logical", expr, span: expr.span },
          type: BOOL,
          span: expr.span,
        };
      } else {
        fail("TypeMismatch", M.typeMismatch("Bool", typeToString(expr.type)), this.#pos, this.#pos);
      }
    }
    if (this.#pos < this.#src.length) fail("EOF", M.eof(), this.#pos, this.#src.length);
    return {
      kind: "filter",
      source,
      expr,
      fields: [...this.#fields].sort(),
      lists: this.#lists,
    };
  }

  #rest(p: number): never {
    return fail("EOF", M.eof(), p, this.#src.length);
  }

  #expectLiteral(lit: string): void {
    if (!this.#src.startsWith(lit, this.#pos)) {
      fail("ExpectedLiteral", M.expectedLiteral(lit), this.#pos, this.#src.length);
    }
    this.#pos += lit.length;
  }

  #enter(at: number): void {
    if (++this.#depth > this.#cfg.maxNesting) {
      fail(
        "NestingLimitExceeded",
        M.nestingLimitExceeded(this.#cfg.maxNesting),
        at,
        this.#src.length,
      );
    }
  }

  #lexLogicalOp(p: number): { op: LogicalOp; end: number } | undefined {
    for (const [text, op] of LOGICAL_OPS) {
      if (this.#src.startsWith(text, p)) return { op, end: p + text.length };
    }
    return undefined;
  }

  #logical(): Expr {
    const lhs = this.#simple();
    return this.#more(lhs, 0);
  }

  /** Precedence climbing over or < xor < and; equal-precedence chains become one n-ary node. */
  #more(first: Expr, minPrec: number): Expr {
    let lhs = first;
    let look = this.#lexLogicalOp(skipSpace(this.#src, this.#pos));
    while (look && PRECEDENCE[look.op] >= minPrec) {
      const op = look.op;
      this.#pos = skipSpace(this.#src, look.end);
      let rhs = this.#simple();
      look = this.#lexLogicalOp(skipSpace(this.#src, this.#pos));
      while (look && PRECEDENCE[look.op] > PRECEDENCE[op]) {
        rhs = this.#more(rhs, PRECEDENCE[look.op]);
        look = this.#lexLogicalOp(skipSpace(this.#src, this.#pos));
      }
      if (!sameShape(lhs.type, rhs.type)) {
        // wirefilter reports the mismatch where it stopped: after the next operator, if any.
        const at = look ? skipSpace(this.#src, look.end) : this.#pos;
        fail(
          "TypeMismatch",
          M.typeMismatch(typeToString(lhs.type), typeToString(rhs.type)),
          at,
          this.#src.length,
        );
      }
      const sp = span(lhs.span.start, rhs.span.start + rhs.span.length);
      if (lhs.kind === "combine" && lhs.op === op && lhs !== first) {
        (lhs.items as Expr[]).push(rhs);
        lhs = { ...lhs, span: sp };
      } else {
        lhs = { kind: "combine", op, items: [lhs, rhs], type: lhs.type, span: sp };
      }
    }
    return lhs;
  }

  #simple(): Expr {
    const src = this.#src;
    const p = this.#pos;
    if (src.charCodeAt(p) === 40) {
      this.#enter(p);
      this.#pos = skipSpace(src, p + 1);
      const expr = this.#logical();
      this.#pos = skipSpace(src, this.#pos);
      this.#expectLiteral(")");
      this.#depth--;
      return { kind: "paren", expr, type: expr.type, span: span(p, this.#pos) };
    }
    const unary = src.startsWith("not", p) ? 3 : src.charCodeAt(p) === 33 ? 1 : 0;
    if (unary > 0) {
      this.#enter(p);
      this.#pos = skipSpace(src, p + unary);
      const arg = this.#simple();
      this.#depth--;
      return { kind: "not", arg, type: arg.type, span: span(p, this.#pos) };
    }
    const q = this.#quantifierAt(p);
    if (q) {
      this.#enter(p);
      this.#pos = skipSpace(src, q.paren + 1);
      const arg = this.#funcArg();
      const argType = funcArgType(arg);
      if (arg.kind === "literal" || !isArrayOfBool(argType)) {
        fail(
          "TypeMismatch",
          M.typeMismatch("Array<Bool>", typeToString(argType)),
          arg.span.start,
          arg.span.start + arg.span.length,
        );
      }
      this.#pos = skipSpace(src, this.#pos);
      this.#expectLiteral(")");
      this.#depth--;
      return { kind: "quantifier", op: q.op, arg, type: BOOL, span: span(p, this.#pos) };
    }
    return this.#comparison();
  }

  #quantifierAt(p: number): { op: "any" | "all"; paren: number } | undefined {
    const src = this.#src;
    const op = src.startsWith("any", p) ? "any" : src.startsWith("all", p) ? "all" : undefined;
    if (!op) return undefined;
    const paren = skipSpace(src, p + 3);
    return src.charCodeAt(paren) === 40 ? { op, paren } : undefined;
  }

  /**
   * A value followed by its comparison. As in wirefilter, a Bool element needs no operator (its
   * "is true" test; over [*] that yields Array<Bool>), an Array<Bool> value is used as is, but
   * an Array<Bool> element under [*] would be Array<Array<Bool>> and is UnsupportedOp.
   */
  #comparison(): Expr {
    const lhs = this.#valueExpr();
    const t = lhs.elemType;
    if (t.kind === "Bool") {
      return { kind: "is_true", value: lhs, type: lhs.mapEach ? ARRAY_BOOL : BOOL, span: lhs.span };
    }
    if (isArrayOfBool(t)) {
      if (lhs.mapEach) {
        fail("UnsupportedOp", M.unsupportedOp(typeToString(arrayOf(t))), this.#pos, this.#pos);
      }
      return { kind: "is_true", value: lhs, type: ARRAY_BOOL, span: lhs.span };
    }
    return this.#comparisonTail(lhs);
  }

  #lexComparisonOp(p: number): { op: CmpToken; end: number } | undefined {
    for (const [text, op] of COMPARISON_OPS) {
      if (this.#src.startsWith(text, p)) return { op, end: p + text.length };
    }
    return undefined;
  }

  #comparisonTail(lhs: ValueExpr): Expr {
    const src = this.#src;
    const opStart = skipSpace(src, this.#pos);
    const tok = this.#lexComparisonOp(opStart);
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
          this.#lists.push({ name: name.value, type: listType, span: span(p, name.end) });
          cmp = { op: "in_list", list: name.value, listType };
          p = name.end;
        } else {
          const set = this.#setLiteral(p, t.kind as ListType);
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
        const lit = this.#scalarLiteral(p, t);
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
        if (!compiled.ok) fail("ParseRegex", compiled.message, p, r.end);
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
    this.#pos = p;
    return {
      kind: "compare",
      lhs,
      cmp,
      type: lhs.mapEach ? ARRAY_BOOL : BOOL,
      span: span(lhs.span.start, p),
    };
  }

  #scalarLiteral(p: number, t: Type): { value: Literal; end: number } {
    const src = this.#src;
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
  #setLiteral(p: number, t: ListType): { value: SetLiteral; end: number } {
    const src = this.#src;
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

  #valueExpr(): ValueExpr {
    const src = this.#src;
    const start = this.#pos;
    let base: FieldRef | FunctionCall | undefined;
    let indexes: Index[] = [];
    for (const alias of this.#cfg.aliases) {
      if (
        src.startsWith(alias.text, start) &&
        !isIdentChar(src.charCodeAt(start + alias.text.length))
      ) {
        base = {
          kind: "field",
          name: alias.field.name,
          type: alias.field.type,
          span: span(start, start + alias.text.length),
        };
        indexes = alias.indexes.slice();
        this.#fields.add(alias.field.name);
        this.#pos = start + alias.text.length;
        break;
      }
    }
    if (!base) {
      const end = lexIdentifier(src, start);
      const name = src.slice(start, end);
      const field = this.#cfg.fields.get(name);
      if (field) {
        base = { kind: "field", name, type: field.type, span: span(start, end) };
        this.#fields.add(name);
        this.#pos = end;
      } else {
        const def = this.#cfg.functions.get(name);
        if (!def) return fail("UnknownIdentifier", M.unknownIdentifier(), start, end);
        this.#pos = end;
        base = this.#call(def, start);
      }
    }
    let cur: Type = base.type;
    let mapEach = false;
    for (const idx of indexes) cur = this.#applyIndex(cur, idx, start, this.#pos);
    if (indexes.some((i) => i.kind === "each")) mapEach = true;
    while (src.charCodeAt(this.#pos) === 91) {
      const idxStart = this.#pos;
      const idx = this.#index();
      cur = this.#applyIndex(cur, idx, idxStart, this.#pos);
      if (idx.kind === "each") mapEach = true;
      indexes.push(idx);
    }
    return {
      kind: "value",
      base,
      indexes,
      elemType: cur,
      mapEach,
      type: mapEach ? arrayOf(cur) : cur,
      span: span(start, this.#pos),
    };
  }

  #applyIndex(t: Type, idx: Index, start: number, end: number): Type {
    const ok =
      idx.kind === "each"
        ? t.kind === "Array" || t.kind === "Map"
        : idx.kind === "index"
          ? t.kind === "Array"
          : t.kind === "Map";
    if (!ok) {
      const shown =
        idx.kind === "each"
          ? "[*]"
          : idx.kind === "index"
            ? `[${idx.n}]`
            : `[${JSON.stringify(fromBytes(idx.key) ?? idx.key)}]`;
      fail("InvalidIndexAccess", M.invalidIndexAccess(shown, typeToString(t)), start, end);
    }
    return (t as { of: Type }).of;
  }

  /** "[" ws ( "*" | int | quoted string ) ws "]" (spec §1.4). */
  #index(): Index {
    const src = this.#src;
    let p = skipSpace(src, this.#pos + 1);
    let idx: Index;
    const c = src.charCodeAt(p);
    if (c === 42) {
      idx = { kind: "each" };
      p++;
    } else if (c === 34) {
      const s = lexQuotedString(src, p);
      if (fromBytes(s.value) === undefined) {
        fail("ExpectedLiteral", M.expectedLiteral("expected utf8 string"), p, src.length);
      }
      idx = { kind: "key", key: s.value };
      p = s.end;
    } else {
      let n: { value: number; end: number };
      try {
        n = lexInt(src, p);
      } catch (e) {
        if (!(e instanceof ParseFailure)) throw e;
        return fail(
          "ExpectedLiteral",
          M.expectedLiteral("expected quoted utf8 string or positive integer"),
          p,
          src.length,
        );
      }
      if (n.value < 0 || n.value > 0xffffffff) {
        fail(
          "ExpectedLiteral",
          M.expectedLiteral("expected positive integer as index"),
          p,
          src.length,
        );
      }
      idx = { kind: "index", n: n.value };
      p = n.end;
    }
    this.#pos = skipSpace(src, p);
    this.#expectLiteral("]");
    return idx;
  }

  /**
   * name ws "(" args ")": wirefilter's loop — a "," is required before every argument but the
   * first; each argument is checked as soon as it is read (map-each position, count, kind, type,
   * constant value), the minimum count when the ")" is reached.
   */
  #call(def: FunctionDef, start: number): FunctionCall {
    const src = this.#src;
    this.#pos = skipSpace(src, this.#pos);
    this.#enter(this.#pos);
    this.#expectLiteral("(");
    this.#pos = skipSpace(src, this.#pos);
    const args: FuncArg[] = [];
    const infos: ArgInfo[] = [];
    while (this.#pos < src.length && src.charCodeAt(this.#pos) !== 41) {
      if (args.length > 0) {
        this.#expectLiteral(",");
        this.#pos = skipSpace(src, this.#pos);
      }
      const argStart = this.#pos;
      const arg = this.#funcArg();
      const index = args.length;
      const end = this.#pos;
      if (index > 0 && arg.kind === "value" && arg.expr.mapEach) {
        fail("InvalidMapEachAccess", M.invalidMapEachAccess(), argStart, end);
      }
      if (def.max !== undefined && index >= def.max) {
        fail(
          "InvalidArgumentsCount",
          M.invalidArgumentsCount(def.min, def.max),
          argStart,
          src.length,
        );
      }
      const info: ArgInfo = {
        kind: arg.kind === "literal" ? "Literal" : "Field",
        type: funcArgType(arg),
        literal: arg.kind === "literal" ? arg.literal.value : undefined,
      };
      const spec = def.param(index, infos);
      if (spec.kind !== undefined && spec.kind !== info.kind) {
        fail(
          "InvalidArgumentKind",
          M.invalidArgumentKind(index, spec.kind, info.kind),
          argStart,
          end,
        );
      }
      if (!spec.accepts(info.type)) {
        fail(
          "InvalidArgumentType",
          M.invalidArgumentType(index, spec.expected, typeToString(info.type)),
          argStart,
          end,
        );
      }
      infos.push(info);
      const bad = def.validate?.(index, infos);
      if (bad) fail("InvalidArgumentValue", M.invalidArgumentValue(index, bad), argStart, end);
      args.push(arg);
      this.#pos = skipSpace(src, this.#pos);
    }
    if (args.length < def.min) {
      fail(
        "InvalidArgumentsCount",
        M.invalidArgumentsCount(def.min, def.max),
        this.#pos,
        src.length,
      );
    }
    this.#expectLiteral(")");
    this.#depth--;
    const mapped = args.length > 0 && args[0].kind === "value" && args[0].expr.mapEach;
    const ret = def.returnType(infos);
    return {
      kind: "call",
      name: def.name,
      args,
      type: mapped ? arrayOf(ret) : ret,
      mapped,
      span: span(start, this.#pos),
    };
  }

  /**
   * Function-argument heuristics of spec §1.7 (wirefilter's FunctionCallArgExpr): strings first;
   * "(" / not / ! / any( / all( start a logical expression; a name that cannot be a number
   * (judged on its first three characters) is a field or call; otherwise try a field or call
   * blindly, then an IP address, an integer and a byte string, and report EOF if none fits.
   */
  #funcArg(): FuncArg {
    const src = this.#src;
    const p = this.#pos;
    if (startsString(src, p)) {
      const s = lexString(src, p);
      this.#pos = s.end;
      return {
        kind: "literal",
        literal: { kind: "bytes", value: s.value },
        type: BYTES,
        span: span(p, s.end),
      };
    }
    const c = src.charCodeAt(p);
    if (c === 40 || c === 33 || src.startsWith("not", p) || this.#quantifierAt(p)) {
      const expr = this.#logical();
      return { kind: "logical", expr, span: span(p, this.#pos) };
    }
    const c2 = src.charCodeAt(p + 1);
    const c3 = src.charCodeAt(p + 2);
    const fieldLike =
      isFieldChar(c) ||
      (isIdentChar(c) && isFieldChar(c2)) ||
      (isIdentChar(c) && isIdentChar(c2) && isFieldChar(c3));
    if (fieldLike) return this.#valueArg(p);
    try {
      return this.#valueArg(p);
    } catch (e) {
      if (!(e instanceof ParseFailure)) throw e;
      this.#pos = p;
    }
    const literal = this.#tryLiteral(p);
    if (literal) return literal;
    return this.#rest(p);
  }

  #tryLiteral(p: number): FuncArg | undefined {
    const src = this.#src;
    const attempts: [Type, () => { value: Literal; end: number }][] = [
      [
        IP,
        () => {
          const r = lexIpAddr(src, p);
          return { value: { kind: "ip", value: r.value }, end: r.end };
        },
      ],
      [
        INT,
        () => {
          const r = lexInt(src, p);
          return { value: { kind: "int", value: r.value }, end: r.end };
        },
      ],
      [
        BYTES,
        () => {
          const r = lexBytesLiteral(src, p);
          return { value: { kind: "bytes", value: r.value }, end: r.end };
        },
      ],
    ];
    for (const [type, lex] of attempts) {
      try {
        const r = lex();
        this.#pos = r.end;
        return { kind: "literal", literal: r.value, type, span: span(p, r.end) };
      } catch (e) {
        if (!(e instanceof ParseFailure)) throw e;
      }
    }
    return undefined;
  }

  /** A field or call, with one optional comparison when an operator follows. */
  #valueArg(p: number): FuncArg {
    this.#pos = p;
    const value = this.#valueExpr();
    const t = value.elemType;
    const noTail = t.kind === "Bool" || isArrayOfBool(t);
    if (!noTail) {
      const q = skipSpace(this.#src, this.#pos);
      if (this.#lexComparisonOp(q)) {
        const expr = this.#comparisonTail(value);
        return { kind: "logical", expr, span: expr.span };
      }
    }
    return { kind: "value", expr: value, span: value.span };
  }
}

/** A character that cannot start a decimal or hexadecimal number (wirefilter's c_is_field). */
function isFieldChar(c: number): boolean {
  return (isIdentChar(c) && !isHexDigit(c)) || c === 95;
}

/** Both Bool, or both arrays (wirefilter's check; every array here is Array<Bool>). */
function sameShape(a: Type, b: Type): boolean {
  return a.kind === b.kind && (a.kind === "Bool" || a.kind === "Array");
}

/** The type a function (or quantifier) sees: a mapped first argument contributes its element type. */
export function funcArgType(arg: FuncArg): Type {
  switch (arg.kind) {
    case "literal":
      return arg.type;
    case "value":
      return arg.expr.mapEach ? arg.expr.elemType : arg.expr.type;
    case "logical":
      return arg.expr.type;
  }
}
