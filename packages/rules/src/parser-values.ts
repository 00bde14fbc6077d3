// Value expressions for the parser (spec §1.2, §1.4, §1.7): fields, aliases, function calls
// with wirefilter's argument heuristics, and index access. The logical layer (parser.ts) extends
// this class; the two share the cursor state below.
import type { ListType, Span, Type } from "./api.ts";
import type {
  Expr,
  FieldRef,
  FuncArg,
  FunctionCall,
  Index,
  Literal,
  OrderingOp,
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
  lexIpAddr,
  lexQuotedString,
  lexString,
  skipSpace,
  startsString,
} from "./lexer.ts";
import { arrayOf, BYTES, INT, IP, isArrayOfBool, typeToString } from "./types.ts";

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

export function span(start: number, end: number): Span {
  return { start, length: Math.max(0, end - start) };
}

export abstract class ValueParser {
  protected readonly cfg: ParserConfig;
  /** The source up to the end of its trimmed content, so lookahead never sees trailing space. */
  protected src = "";
  protected pos = 0;
  protected depth = 0;
  protected fields = new Set<string>();
  /**
   * Per Map-typed field, the keys read by a literal first index (`f["k"]`); null once some
   * reference reads it another way (whole, `[*]`), which needs every key.
   */
  protected mapKeys = new Map<string, Set<string> | null>();
  protected lists: { name: string; type: ListType; span: Span }[] = [];

  constructor(cfg: ParserConfig) {
    this.cfg = cfg;
  }

  /** A full logical expression (the function-argument and quantifier forms need it). */
  protected abstract logical(): Expr;
  /** The comparison after a value (one is allowed inside a function argument). */
  protected abstract comparisonTail(lhs: ValueExpr): Expr;

  protected rest(p: number): never {
    return fail("EOF", M.eof(), p, this.src.length);
  }

  protected expectLiteral(lit: string): void {
    if (!this.src.startsWith(lit, this.pos)) {
      fail("ExpectedLiteral", M.expectedLiteral(lit), this.pos, this.src.length);
    }
    this.pos += lit.length;
  }

  protected enter(at: number): void {
    if (++this.depth > this.cfg.maxNesting) {
      fail(
        "NestingLimitExceeded",
        M.nestingLimitExceeded(this.cfg.maxNesting),
        at,
        this.src.length,
      );
    }
  }

  protected quantifierAt(p: number): { op: "any" | "all"; paren: number } | undefined {
    const src = this.src;
    const op = src.startsWith("any", p) ? "any" : src.startsWith("all", p) ? "all" : undefined;
    if (!op) return undefined;
    const paren = skipSpace(src, p + 3);
    return src.charCodeAt(paren) === 40 ? { op, paren } : undefined;
  }

  protected lexComparisonOp(p: number): { op: CmpToken; end: number } | undefined {
    for (const [text, op] of COMPARISON_OPS) {
      if (this.src.startsWith(text, p)) return { op, end: p + text.length };
    }
    return undefined;
  }

  protected valueExpr(): ValueExpr {
    const src = this.src;
    const start = this.pos;
    let base: FieldRef | FunctionCall | undefined;
    let indexes: Index[] = [];
    for (const alias of this.cfg.aliases) {
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
        this.fields.add(alias.field.name);
        this.pos = start + alias.text.length;
        break;
      }
    }
    if (!base) {
      const end = lexIdentifier(src, start);
      const name = src.slice(start, end);
      const field = this.cfg.fields.get(name);
      if (field) {
        base = { kind: "field", name, type: field.type, span: span(start, end) };
        this.fields.add(name);
        this.pos = end;
      } else {
        const def = this.cfg.functions.get(name);
        if (!def) return fail("UnknownIdentifier", M.unknownIdentifier(), start, end);
        this.pos = end;
        base = this.call(def, start);
      }
    }
    let cur: Type = base.type;
    let mapEach = false;
    for (const idx of indexes) cur = this.applyIndex(cur, idx, start, this.pos);
    if (indexes.some((i) => i.kind === "each")) mapEach = true;
    while (src.charCodeAt(this.pos) === 91) {
      const idxStart = this.pos;
      const idx = this.index();
      cur = this.applyIndex(cur, idx, idxStart, this.pos);
      if (idx.kind === "each") mapEach = true;
      indexes.push(idx);
    }
    if (base.kind === "field" && base.type.kind === "Map") this.noteMapRead(base.name, indexes[0]);
    return {
      kind: "value",
      base,
      indexes,
      elemType: cur,
      mapEach,
      type: mapEach ? arrayOf(cur) : cur,
      span: span(start, this.pos),
    };
  }

  private noteMapRead(field: string, first: Index | undefined): void {
    const seen = this.mapKeys.get(field);
    if (seen === null) return;
    if (first?.kind !== "key") this.mapKeys.set(field, null);
    else if (seen === undefined) this.mapKeys.set(field, new Set([first.key]));
    else seen.add(first.key);
  }

  protected applyIndex(t: Type, idx: Index, start: number, end: number): Type {
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
  protected index(): Index {
    const src = this.src;
    let p = skipSpace(src, this.pos + 1);
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
    this.pos = skipSpace(src, p);
    this.expectLiteral("]");
    return idx;
  }

  /**
   * name ws "(" args ")": wirefilter's loop — a "," is required before every argument but the
   * first; each argument is checked as soon as it is read (map-each position, count, kind, type,
   * constant value), the minimum count when the ")" is reached.
   */
  protected call(def: FunctionDef, start: number): FunctionCall {
    const src = this.src;
    this.pos = skipSpace(src, this.pos);
    this.enter(this.pos);
    this.expectLiteral("(");
    this.pos = skipSpace(src, this.pos);
    const args: FuncArg[] = [];
    const infos: ArgInfo[] = [];
    while (this.pos < src.length && src.charCodeAt(this.pos) !== 41) {
      if (args.length > 0) {
        this.expectLiteral(",");
        this.pos = skipSpace(src, this.pos);
      }
      const argStart = this.pos;
      const arg = this.funcArg();
      const index = args.length;
      const end = this.pos;
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
      this.pos = skipSpace(src, this.pos);
    }
    if (args.length < def.min) {
      fail(
        "InvalidArgumentsCount",
        M.invalidArgumentsCount(def.min, def.max),
        this.pos,
        src.length,
      );
    }
    this.expectLiteral(")");
    this.depth--;
    const first = args[0];
    const mapped = first !== undefined && first.kind === "value" && first.expr.mapEach;
    const ret = def.returnType(infos);
    return {
      kind: "call",
      name: def.name,
      args,
      type: mapped ? arrayOf(ret) : ret,
      mapped,
      span: span(start, this.pos),
    };
  }

  /**
   * Function-argument heuristics of spec §1.7 (wirefilter's FunctionCallArgExpr): strings first;
   * "(" / not / ! / any( / all( start a logical expression; a name that cannot be a number
   * (judged on its first three characters) is a field or call; otherwise try a field or call
   * blindly, then an IP address, an integer and a byte string, and report EOF if none fits.
   */
  protected funcArg(): FuncArg {
    const src = this.src;
    const p = this.pos;
    if (startsString(src, p)) {
      const s = lexString(src, p);
      this.pos = s.end;
      return {
        kind: "literal",
        literal: { kind: "bytes", value: s.value },
        type: BYTES,
        span: span(p, s.end),
      };
    }
    const c = src.charCodeAt(p);
    if (c === 40 || c === 33 || src.startsWith("not", p) || this.quantifierAt(p)) {
      const expr = this.logical();
      return { kind: "logical", expr, span: span(p, this.pos) };
    }
    const c2 = src.charCodeAt(p + 1);
    const c3 = src.charCodeAt(p + 2);
    const fieldLike =
      isFieldChar(c) ||
      (isIdentChar(c) && isFieldChar(c2)) ||
      (isIdentChar(c) && isIdentChar(c2) && isFieldChar(c3));
    if (fieldLike) return this.valueArg(p);
    try {
      return this.valueArg(p);
    } catch (e) {
      if (!(e instanceof ParseFailure)) throw e;
      this.pos = p;
    }
    const literal = this.tryLiteral(p);
    if (literal) return literal;
    return this.rest(p);
  }

  protected tryLiteral(p: number): FuncArg | undefined {
    const src = this.src;
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
        this.pos = r.end;
        return { kind: "literal", literal: r.value, type, span: span(p, r.end) };
      } catch (e) {
        if (!(e instanceof ParseFailure)) throw e;
      }
    }
    return undefined;
  }

  /** A field or call, with one optional comparison when an operator follows. */
  protected valueArg(p: number): FuncArg {
    this.pos = p;
    const value = this.valueExpr();
    const t = value.elemType;
    const noTail = t.kind === "Bool" || isArrayOfBool(t);
    if (!noTail) {
      const q = skipSpace(this.src, this.pos);
      if (this.lexComparisonOp(q)) {
        const expr = this.comparisonTail(value);
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
