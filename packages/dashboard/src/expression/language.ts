// The rules language for CodeMirror: a stream tokenizer for highlighting (keywords, fields of the
// policy type's scheme, functions, `$lists`, strings, numbers and addresses) and a completion
// source (fields, functions and quantifiers, operators after a value, the account's `$lists`).
// The field and function names come from the scheme object the builder and control use.

import type { Completion, CompletionContext, CompletionResult } from "@codemirror/autocomplete";
import { StreamLanguage, type StringStream } from "@codemirror/language";
import type { Scheme } from "@gatehouse/rules";
import { typeToString } from "@gatehouse/rules";

/** The word operators (wirefilter spells most of them both ways; the symbols are operators). */
const COMPARISON_WORDS = [
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "in",
  "contains",
  "matches",
  "wildcard",
  "strict",
  "bitwise_and",
];
const LOGICAL_WORDS = ["and", "or", "xor", "not"];
const QUANTIFIERS = ["any", "all"];

/** What the completion offers after a value: comparisons, then the logical joins. */
const OPERATORS: readonly Completion[] = [
  { label: "==", detail: "equals" },
  { label: "!=", detail: "does not equal" },
  { label: "contains", detail: "Bytes: holds this text" },
  { label: "matches", detail: 'Bytes: regular expression (r"…")' },
  { label: "wildcard", detail: "Bytes: * pattern, case-insensitive" },
  { label: "strict wildcard", detail: "Bytes: * pattern, case-sensitive" },
  { label: "in", detail: "one of { … } or in $list" },
  { label: "<", detail: "Int" },
  { label: "<=", detail: "Int" },
  { label: ">", detail: "Int" },
  { label: ">=", detail: "Int" },
].map((c) => ({ ...c, type: "keyword", boost: 2 }));
const JOINS: readonly Completion[] = ["and", "or", "xor"].map((label) => ({
  label,
  type: "keyword",
  boost: 1,
}));

export interface ListName {
  readonly name: string;
  /** domain, ip, string or int. */
  readonly type: string;
}

interface TokenState {
  /** The previous token was a value (a field, a call's `)`, an index's `]`). */
  afterValue: boolean;
}

/** A stream language that knows this scheme's field and function names. */
export function rulesLanguage(scheme: Scheme): StreamLanguage<TokenState> {
  const fields = new Set(scheme.fields);
  const functions = new Set([...scheme.functions, ...QUANTIFIERS]);
  const keywords = new Set([...COMPARISON_WORDS, ...LOGICAL_WORDS]);
  return StreamLanguage.define<TokenState>({
    name: "rules",
    startState: () => ({ afterValue: false }),
    token(stream: StringStream, state: TokenState): string | null {
      if (stream.eatSpace()) return null;
      if (stream.match(/^r(#*)"/, false)) {
        const m = stream.match(/^r(#*)"/) as RegExpMatchArray;
        const close = `"${m[1] ?? ""}`;
        while (!stream.eol() && !stream.match(close)) stream.next();
        state.afterValue = false;
        return "string";
      }
      if (stream.eat('"')) {
        while (!stream.eol()) {
          const c = stream.next();
          if (c === "\\") stream.next();
          else if (c === '"') break;
        }
        state.afterValue = false;
        return "string";
      }
      if (stream.match(/^\$[A-Za-z0-9_.]*/)) {
        state.afterValue = false;
        return "variableName.special";
      }
      // Addresses, CIDRs, ranges and numbers (an IPv6 address has a colon).
      if (
        stream.match(/^[0-9a-fA-F]*::?[0-9a-fA-F:.]*(\/[0-9]+)?/) ||
        stream.match(/^[0-9]+(\.[0-9]+){3}(\/[0-9]+)?/) ||
        stream.match(/^-?(0x[0-9a-fA-F]+|[0-9]+)/)
      ) {
        state.afterValue = false;
        return "number";
      }
      const word = stream.match(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*/) as RegExpMatchArray | null;
      if (word) {
        const w = word[0];
        if (functions.has(w) && stream.match(/^ *\(/, false)) {
          state.afterValue = false;
          return "function(variableName)";
        }
        if (keywords.has(w)) {
          state.afterValue = false;
          return "keyword";
        }
        state.afterValue = true;
        return fields.has(w) ? "propertyName" : "invalid";
      }
      const c = stream.next() ?? "";
      state.afterValue = c === ")" || c === "]";
      if ("(){}[]".includes(c)) return "bracket";
      if ("=!<>&|^~".includes(c)) {
        stream.eatWhile(/[=&|^]/);
        state.afterValue = false;
        return "operator";
      }
      return null;
    },
    languageData: { closeBrackets: { brackets: ["(", "[", "{", '"'] } },
  });
}

/** Completion of fields, functions and quantifiers, operators after a value, and `$lists`. */
export function rulesCompletion(
  scheme: Scheme,
  lists: () => readonly ListName[],
  aliases: readonly string[],
): (ctx: CompletionContext) => CompletionResult | null {
  const fieldOptions: Completion[] = [
    ...scheme.fields.map((name) => {
      const t = scheme.fieldType(name);
      return { label: name, type: "property", detail: t ? typeToString(t) : "", boost: 1 };
    }),
    ...aliases.map((name) => ({ label: name, type: "property", detail: "alias" })),
  ];
  const functionOptions: Completion[] = [
    ...scheme.functions.map((name) => ({
      label: name,
      type: "function",
      apply: `${name}(`,
      detail: "function",
    })),
    ...QUANTIFIERS.map((name) => ({
      label: name,
      type: "keyword",
      apply: `${name}(`,
      detail: `true when ${name === "any" ? "one" : "every"} element is: ${name}(field[*] …)`,
    })),
    { label: "not", type: "keyword" },
  ];
  return (ctx) => {
    const list = ctx.matchBefore(/\$[A-Za-z0-9_.]*/);
    if (list) {
      return {
        from: list.from,
        options: lists().map((l) => ({ label: `$${l.name}`, type: "variable", detail: l.type })),
        validFor: /^\$[A-Za-z0-9_.]*$/,
      };
    }
    const word = ctx.matchBefore(/[A-Za-z0-9_.]+/);
    if (!word && !ctx.explicit) return null;
    const from = word?.from ?? ctx.pos;
    // Inside a string nothing is offered.
    const before = ctx.state.sliceDoc(0, from);
    if (((before.match(/"/g)?.length ?? 0) & 1) === 1) return null;
    const prev = before.trimEnd();
    const afterValue =
      prev !== before && /([A-Za-z0-9_]|\]|\))$/.test(prev) && !endsWithWordOperator(prev);
    const afterLiteral = prev !== before && /("|\}|[0-9]|\$[A-Za-z0-9_.]+)$/.test(prev);
    const options = afterValue
      ? [...OPERATORS, ...JOINS]
      : afterLiteral
        ? [...JOINS]
        : [...fieldOptions, ...functionOptions];
    return { from, options, validFor: /^[A-Za-z0-9_.]*$/ };
  };
}

function endsWithWordOperator(text: string): boolean {
  const m = /[A-Za-z0-9_]+$/.exec(text);
  return !!m && (COMPARISON_WORDS.includes(m[0]) || LOGICAL_WORDS.includes(m[0]));
}
