// The typed AST the parser produces (spec §1.2). Plain data: no closures, no classes, so it can
// be compared, printed (format.ts) and serialised. Every node carries its source span.
import type { IpValue, ListType, Span, Type } from "./api.ts";

export type Index =
  | { readonly kind: "index"; readonly n: number }
  | { readonly kind: "key"; readonly key: string } // binary string (UTF-8 bytes of the key)
  | { readonly kind: "each" };

export interface FieldRef {
  readonly kind: "field";
  readonly name: string;
  readonly type: Type;
  readonly span: Span;
}

export interface FunctionCall {
  readonly kind: "call";
  readonly name: string;
  readonly args: readonly FuncArg[];
  /** Result type; Array<R> when the first argument is mapped with [*] (spec §1.7 rule 6). */
  readonly type: Type;
  readonly mapped: boolean;
  readonly span: Span;
}

/** A field or function call followed by index accesses: `f`, `f[0]`, `lower(f[*])[*]`. */
export interface ValueExpr {
  readonly kind: "value";
  readonly base: FieldRef | FunctionCall;
  readonly indexes: readonly Index[];
  /** Type of one element when mapEach, else the type of the whole expression. */
  readonly elemType: Type;
  readonly mapEach: boolean;
  /** mapEach ? Array<elemType> : elemType */
  readonly type: Type;
  readonly span: Span;
}

export type Literal =
  | { readonly kind: "bytes"; readonly value: string }
  | { readonly kind: "int"; readonly value: number }
  | { readonly kind: "ip"; readonly value: IpValue };

export type FuncArg =
  | {
      readonly kind: "literal";
      readonly literal: Literal;
      readonly type: Type;
      readonly span: Span;
    }
  | { readonly kind: "value"; readonly expr: ValueExpr; readonly span: Span }
  | { readonly kind: "logical"; readonly expr: Expr; readonly span: Span };

export type IntElement = { readonly start: number; readonly end: number; readonly range: boolean };
export type IpElement =
  | { readonly kind: "addr"; readonly addr: IpValue }
  | {
      readonly kind: "cidr";
      readonly addr: IpValue;
      readonly prefix: number;
      readonly end: IpValue;
    }
  | { readonly kind: "range"; readonly start: IpValue; readonly end: IpValue };

export type SetLiteral =
  | { readonly type: "Bytes"; readonly items: readonly string[] }
  | { readonly type: "Int"; readonly items: readonly IntElement[] }
  | { readonly type: "Ip"; readonly items: readonly IpElement[] };

export type OrderingOp = "eq" | "ne" | "lt" | "le" | "gt" | "ge";

export type Comparison =
  | { readonly op: OrderingOp; readonly value: Literal }
  | { readonly op: "bitand"; readonly value: number }
  | { readonly op: "contains"; readonly value: string }
  | { readonly op: "matches"; readonly pattern: string }
  | { readonly op: "wildcard" | "strict_wildcard"; readonly pattern: string }
  | { readonly op: "in"; readonly set: SetLiteral }
  | { readonly op: "in_list"; readonly list: string; readonly listType: ListType };

export type LogicalOp = "and" | "or" | "xor";

export type Expr =
  | {
      readonly kind: "compare";
      readonly lhs: ValueExpr;
      readonly cmp: Comparison;
      readonly type: Type;
      readonly span: Span;
    }
  | {
      readonly kind: "is_true";
      readonly value: ValueExpr;
      readonly type: Type;
      readonly span: Span;
    }
  | { readonly kind: "not"; readonly arg: Expr; readonly type: Type; readonly span: Span }
  | { readonly kind: "paren"; readonly expr: Expr; readonly type: Type; readonly span: Span }
  | {
      readonly kind: "combine";
      readonly op: LogicalOp;
      readonly items: readonly Expr[];
      readonly type: Type;
      readonly span: Span;
    }
  | {
      readonly kind: "quantifier";
      readonly op: "any" | "all";
      readonly arg: FuncArg;
      readonly type: Type;
      readonly span: Span;
    };

/** A parsed, type-checked expression whose root is Bool. */
export interface FilterAst {
  readonly kind: "filter";
  readonly source: string;
  readonly expr: Expr;
  /** Field names read, sorted. */
  readonly fields: readonly string[];
  /**
   * Per Map field read: the keys every reference reads (each by a literal first index,
   * `f["k"]`), or null when some reference needs every key (the whole map, `f[*]`).
   */
  readonly mapKeys: ReadonlyMap<string, ReadonlySet<string> | null>;
  readonly lists: readonly { name: string; type: ListType; span: Span }[];
}
