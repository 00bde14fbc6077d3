// The public surface of @gatehouse/rules, shared by every embedder (edge, control, dashboard,
// CLI). Types only: the implementation lives beside this file. Changing a name here changes
// every package, so extend rather than rename.

/** A value type of the language (spec §2.1). */
export type Type =
  | { readonly kind: "Bool" }
  | { readonly kind: "Int" }
  | { readonly kind: "Bytes" }
  | { readonly kind: "Ip" }
  | { readonly kind: "Array"; readonly of: Type }
  | { readonly kind: "Map"; readonly of: Type };

/** Type of the values a list holds; `in $name` needs a list of the left-hand side's type. */
export type ListType = "Bytes" | "Int" | "Ip";

/** Missing-value behaviour (spec §3.8 and Decision 2). */
export type MissingMode = "cloudflare" | "wirefilter";

/** The stable error kinds of spec §2.3 (wirefilter's `LexErrorKind` names). */
export type RuleErrorKind =
  | "ExpectedName"
  | "ExpectedLiteral"
  | "ParseInt"
  | "ParseNetwork"
  | "ParseRegex"
  | "ParseWildcard"
  | "InvalidCharacterEscape"
  | "InvalidRawStringHashCount"
  | "MissingEndingQuote"
  | "CountMismatch"
  | "UnknownField"
  | "UnknownFunction"
  | "UnknownIdentifier"
  | "UnsupportedOp"
  | "IncompatibleRangeBounds"
  | "EOF"
  | "InvalidArgumentsCount"
  | "InvalidArgumentKind"
  | "InvalidArgumentType"
  | "InvalidArgumentValue"
  | "InvalidIndexAccess"
  | "TypeMismatch"
  | "InvalidMapEachAccess"
  | "InvalidListName"
  | "NestingLimitExceeded"
  | "ExpressionTooLong";

/** A span in the source, in UTF-16 code units of the whole expression (Decision 7). */
export interface Span {
  readonly start: number;
  readonly length: number;
}

/** A parse or type error: a value, never an exception. */
export interface RuleError {
  readonly kind: RuleErrorKind;
  readonly message: string;
  readonly span: Span;
  /** 1-based line and column of span.start, derived from the span. */
  readonly line: number;
  readonly column: number;
  /** The offending line with a caret under the span, as wirefilter prints it. */
  render(): string;
  toJSON(): { kind: RuleErrorKind; message: string; span: [number, number] };
}

export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: RuleError };

/**
 * What an embedder declares. Field types are written as in the spec ("Bool", "Int", "Bytes",
 * "Ip", "Array<Bytes>", "Map<Array<Bytes>>", ...). Every field is optional at run time.
 */
export interface SchemeDefinition {
  readonly fields: Readonly<Record<string, string | Type>>;
  /** Built-in functions this scheme enables (spec §4.2); default: all of them. */
  readonly functions?: readonly string[];
  /** Field aliases accepted by the parser, e.g. Gateway's `identity.groups[*].name` (Decision 4). */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Default missing-value mode for filters of this scheme; default "cloudflare". */
  readonly missing?: MissingMode;
  /** Read a top-level bare `field[*] op value` as `any(...)` (Decision 4); default false. */
  readonly implicitAny?: boolean;
  /** Maximum expression length in UTF-16 code units; default 4096. */
  readonly maxLength?: number;
  /** Maximum nesting depth (spec §1.6); default 128. */
  readonly maxNesting?: number;
}

/** A value in the run-time representation the engine reads. */
export type BytesValue = string; // a "binary string": one char per byte, codes 0..255
export type IntValue = number; // safe integer
/** IPv4 as one uint32 in `v4`; IPv6 as four uint32 words, most significant first. */
export type IpValue =
  | { readonly family: 4; readonly v4: number }
  | { readonly family: 6; readonly w: readonly [number, number, number, number] };

/** Membership test for `in $name`, supplied by the embedder at execute time (spec §3.10). */
export interface ListMatcher<V> {
  has(value: V): boolean;
  /**
   * `any(field[*] in $list)` in one call, when the list implements it: true when the list
   * matches the array as a whole. A domain list reads an array holding a name and its parents
   * (`dns.domains`) as that one name, so its own exceptions can outrank a parent's entry.
   */
  hasAny?(values: readonly V[]): boolean;
}

export interface ListSet {
  /**
   * True when the set's lists never change once it is used (an embedder's compiled lists): a
   * FilterGroup may then keep the matchers it looked up by name.
   */
  readonly stable?: boolean;
  bytes(name: string): ListMatcher<BytesValue> | undefined;
  int(name: string): ListMatcher<IntValue> | undefined;
  ip(name: string): ListMatcher<IpValue> | undefined;
}

/** A reusable per-query bag of field values; allocate once per worker and `reset()` it. */
export interface ExecutionContext {
  /**
   * Set a field. Accepts the run-time representation, or convenient JS forms that are
   * converted once here: Ip as a string ("10.0.0.1", v4-mapped IPv6 stays IPv6), Bytes as a
   * JS string of UTF-8 text via `setText`.
   */
  set(field: string, value: unknown): this;
  /** Set a Bytes field (or Array/Map of Bytes) from ordinary JS strings, encoded as UTF-8. */
  setText(field: string, value: unknown): this;
  /** Forget every value (keeps the allocation). */
  reset(): this;
  /** Lists used by `in $name`; absent list → the comparison is false. */
  lists: ListSet | undefined;
}

/** A reference to a list found in an expression, for validation by the embedder. */
export interface ListReference {
  readonly name: string;
  readonly type: ListType;
  readonly span: Span;
}

/** A compiled expression. `execute` does no parsing, no regex compilation. */
export interface Filter {
  readonly source: string;
  /** Field names this filter reads (after alias resolution), sorted. */
  readonly fields: readonly string[];
  /**
   * Per Map field it reads: the only keys it can look up (each reference a literal first index,
   * `f["k"]`), or null when it may read every key (the whole map, `f[*]`). A caller may fill such
   * a field with those keys alone.
   */
  readonly mapKeys: ReadonlyMap<string, ReadonlySet<string> | null>;
  /** Lists this filter references. */
  readonly lists: readonly ListReference[];
  execute(ctx: ExecutionContext): boolean;
}
