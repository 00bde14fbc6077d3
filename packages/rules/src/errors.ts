// Parse/type errors as values (spec §2.3). Spans are UTF-16 code units of the whole expression
// (Decision 7); line and column are derived from the span when the error is built.
import type { RuleError, RuleErrorKind, Span } from "./api.ts";

export class RuleErrorImpl implements RuleError {
  readonly kind: RuleErrorKind;
  readonly message: string;
  readonly span: Span;
  readonly line: number;
  readonly column: number;
  readonly #source: string;

  constructor(kind: RuleErrorKind, message: string, source: string, start: number, end: number) {
    const s = Math.max(0, Math.min(start, source.length));
    const e = Math.max(s, Math.min(end, source.length));
    this.kind = kind;
    this.message = message;
    this.span = { start: s, length: e - s };
    this.#source = source;
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < s; i++) {
      if (source.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    this.line = line;
    this.column = s - lineStart + 1;
  }

  /** wirefilter's Display: header, the offending line, carets clipped to the end of that line. */
  render(): string {
    const lineStart = this.span.start - (this.column - 1);
    let lineEnd = this.#source.indexOf("\n", lineStart);
    if (lineEnd < 0) lineEnd = this.#source.length;
    let text = this.#source.slice(lineStart, lineEnd);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    const available = Math.max(0, text.length - (this.column - 1));
    const carets = Math.max(1, Math.min(this.span.length, available));
    return (
      `Filter parsing error (${this.line}:${this.column}):\n${text}\n` +
      `${" ".repeat(this.column - 1)}${"^".repeat(carets)} ${this.message}`
    );
  }

  toString(): string {
    return this.render();
  }

  toJSON(): { kind: RuleErrorKind; message: string; span: [number, number] } {
    return { kind: this.kind, message: this.message, span: [this.span.start, this.span.length] };
  }
}

/** Thrown inside the parser only; always caught at the Scheme boundary and returned as a value. */
export class ParseFailure {
  readonly kind: RuleErrorKind;
  readonly message: string;
  readonly start: number;
  readonly end: number;
  constructor(kind: RuleErrorKind, message: string, start: number, end: number) {
    this.kind = kind;
    this.message = message;
    this.start = start;
    this.end = end;
  }
}

/** Message texts of spec §2.3, kept in one place so docs and tests agree. */
export const messages = {
  expectedName: (what: string) => `expected ${what}`,
  expectedLiteral: (lit: string) => `expected literal ${JSON.stringify(lit)}`,
  parseInt: (why: string, radix: number) => `${why} while parsing with radix ${radix}`,
  invalidCharacterEscape: () => `expected ", xHH or OOO after \\`,
  invalidRawStringHashCount: () => "invalid raw string hash count, there can't be more than 255 #s",
  missingEndingQuote: () => "could not find an ending quote",
  countMismatch: (name: string, actual: number, expected: number) =>
    `expected ${expected} ${name}s, but found ${actual}`,
  unknownIdentifier: () => "unknown identifier",
  unsupportedOp: (type: string) => `cannot perform this operation on type ${type}`,
  incompatibleRangeBounds: () => "incompatible range bounds",
  eof: () => "unrecognised input",
  invalidArgumentsCount: (min: number, max: number | undefined) =>
    max === undefined
      ? `invalid number of arguments: expected at least ${min}`
      : min === max
        ? `invalid number of arguments: expected ${min}`
        : `invalid number of arguments: expected between ${min} and ${max}`,
  invalidArgumentKind: (index: number, expected: string, actual: string) =>
    `invalid kind of argument #${index}: expected argument of kind ${expected}, but got ${actual}`,
  invalidArgumentType: (index: number, expected: string, actual: string) =>
    `invalid type of argument #${index}: expected value of type ${expected}, but got ${actual}`,
  invalidArgumentValue: (index: number, why: string) =>
    `invalid value of argument #${index}: ${why}`,
  invalidIndexAccess: (index: string, type: string) =>
    `cannot access index ${index} for type ${type}`,
  typeMismatch: (expected: string, actual: string) =>
    `expected value of type ${expected}, but got ${actual}`,
  invalidMapEachAccess: () => "invalid use of map each access operator",
  invalidListName: (name: string) => `invalid list name ${JSON.stringify(name)}`,
  nestingLimitExceeded: (limit: number) => `maximum nesting depth exceeded (limit: ${limit})`,
  expressionTooLong: (length: number, limit: number) =>
    `expression is too long: ${length} characters, the limit is ${limit}`,
} as const;
