// Built-in functions (spec §4.2): each declares its arity, the kind (Field / Literal) and type
// of every parameter, validates literal arguments at parse time, and builds at compile time an
// implementation that reads already-evaluated arguments (undefined = missing value, §3.8).
import type { IpValue, Type } from "./api.ts";
import { asciiLower, asciiUpper, utf8Of } from "./bytes.ts";
import { formatIp } from "./ip.ts";
import { compileRegex, parseReplacement } from "./regex/index.ts";
import { BOOL, BYTES, INT, typeEquals, typeToString } from "./types.ts";
import { expandTemplate, parseTemplate, parseWildcard, wildcardMatch } from "./wildcard.ts";

type ArgKind = "Field" | "Literal";

/** What the checker knows about one argument. */
export interface ArgInfo {
  readonly kind: ArgKind;
  readonly type: Type;
  /** The constant, for Literal arguments: Bytes as binary string, Int as number, Ip. */
  readonly literal?: string | number | IpValue;
}

interface ParamSpec {
  /** undefined = either kind */
  readonly kind?: ArgKind;
  readonly accepts: (t: Type) => boolean;
  /** Shown in InvalidArgumentType messages. */
  readonly expected: string;
}

type Impl = (args: unknown[]) => unknown;

/**
 * Argument `i` of a call: the checker enforces each function's min/max before param(),
 * validate(), returnType() and build() run, so a missing one is an internal error.
 */
function argAt(args: readonly ArgInfo[], i: number): ArgInfo {
  const a = args[i];
  if (a === undefined)
    throw new Error(`internal: function argument ${i + 1} of ${args.length} missing`);
  return a;
}

export interface FunctionDef {
  readonly name: string;
  readonly min: number;
  /** undefined = variadic */
  readonly max: number | undefined;
  param(index: number, previous: readonly ArgInfo[]): ParamSpec;
  returnType(args: readonly ArgInfo[]): Type;
  /**
   * Checks the constant of argument `index` (the last of `args`) as soon as it is read; returns
   * the InvalidArgumentValue reason.
   */
  validate?(index: number, args: readonly ArgInfo[]): string | undefined;
  /** Called once at compile time; the result runs per evaluation. */
  build(args: readonly ArgInfo[]): Impl;
}

const isBytes = (t: Type) => t.kind === "Bytes";
const isInt = (t: Type) => t.kind === "Int";
const FIELD_BYTES: ParamSpec = { kind: "Field", accepts: isBytes, expected: "Bytes" };
const LITERAL_BYTES: ParamSpec = { kind: "Literal", accepts: isBytes, expected: "Bytes" };
const LITERAL_INT: ParamSpec = { kind: "Literal", accepts: isInt, expected: "Int" };

function bytesToBytes(name: string, fn: (s: string) => string): FunctionDef {
  return {
    name,
    min: 1,
    max: 1,
    param: () => FIELD_BYTES,
    returnType: () => BYTES,
    build: () => (a) => (a[0] === undefined ? undefined : fn(a[0] as string)),
  };
}

const lower = bytesToBytes("lower", asciiLower);
const upper = bytesToBytes("upper", asciiUpper);

const len: FunctionDef = {
  name: "len",
  min: 1,
  max: 1,
  param: () => ({
    kind: "Field",
    accepts: (t) => t.kind === "Bytes" || t.kind === "Array",
    expected: "Bytes or Array<_>",
  }),
  returnType: () => INT,
  build: () => (a) => {
    const v = a[0] as string | unknown[] | undefined;
    return v === undefined ? undefined : v.length;
  },
};

function affix(name: string, test: (s: string, x: string) => boolean): FunctionDef {
  return {
    name,
    min: 2,
    max: 2,
    param: (i) => (i === 0 ? FIELD_BYTES : LITERAL_BYTES),
    returnType: () => BOOL,
    build: () => (a) =>
      a[0] === undefined || a[1] === undefined ? undefined : test(a[0] as string, a[1] as string),
  };
}

const startsWith = affix("starts_with", (s, x) => s.startsWith(x));
const endsWith = affix("ends_with", (s, x) => s.endsWith(x));

/**
 * wirefilter's ConcatFunction: at least two arguments of the first argument's type (Bytes or
 * Array<T>), literals allowed; missing arguments are skipped and the result is missing only when
 * every argument is (spec §3.8).
 */
const concat: FunctionDef = {
  name: "concat",
  min: 2,
  max: undefined,
  param: (i, prev) => {
    if (i === 0) {
      return {
        accepts: (t) => t.kind === "Bytes" || t.kind === "Array",
        expected: "Bytes or Array<_>",
      };
    }
    const first = argAt(prev, 0).type;
    return { accepts: (t) => typeEquals(t, first), expected: typeToString(first) };
  },
  returnType: (args) => argAt(args, 0).type,
  build: (args) => {
    if (argAt(args, 0).type.kind === "Bytes") {
      return (a) => {
        let out: string | undefined;
        for (let i = 0; i < a.length; i++) {
          const v = a[i] as string | undefined;
          if (v !== undefined) out = out === undefined ? v : out + v;
        }
        return out;
      };
    }
    return (a) => {
      let out: unknown[] | undefined;
      for (let i = 0; i < a.length; i++) {
        const v = a[i] as unknown[] | undefined;
        if (v !== undefined) out = out === undefined ? v.slice() : out.concat(v);
      }
      return out;
    };
  },
};

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** One pass of URL decoding: %XX → byte, '+' → space, and with `u` %uXXXX → UTF-8. */
function urlDecodeOnce(s: string, unicode: boolean): string {
  if (s.indexOf("%") < 0 && s.indexOf("+") < 0) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 43) {
      out += " ";
      continue;
    }
    if (c === 37) {
      if (unicode && (s[i + 1] === "u" || s[i + 1] === "U")) {
        let v = 0;
        let ok = true;
        for (let k = 2; k < 6; k++) {
          const h = hexVal(s.charCodeAt(i + k));
          if (h < 0) {
            ok = false;
            break;
          }
          v = v * 16 + h;
        }
        if (ok) {
          // A surrogate pair written as two %u escapes becomes one code point; a lone
          // surrogate cannot be UTF-8 and becomes U+FFFD.
          if (
            v >= 0xd800 &&
            v <= 0xdbff &&
            s[i + 6] === "%" &&
            (s[i + 7] === "u" || s[i + 7] === "U")
          ) {
            let lo = 0;
            let okLo = true;
            for (let k = 8; k < 12; k++) {
              const h = hexVal(s.charCodeAt(i + k));
              if (h < 0) {
                okLo = false;
                break;
              }
              lo = lo * 16 + h;
            }
            if (okLo && lo >= 0xdc00 && lo <= 0xdfff) {
              out += utf8Of(0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00));
              i += 11;
              continue;
            }
          }
          out += utf8Of(v >= 0xd800 && v <= 0xdfff ? 0xfffd : v);
          i += 5;
          continue;
        }
      }
      const h1 = hexVal(s.charCodeAt(i + 1));
      const h2 = hexVal(s.charCodeAt(i + 2));
      if (h1 >= 0 && h2 >= 0) {
        out += String.fromCharCode(h1 * 16 + h2);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

/** Recursive decoding stops when nothing changes; each pass shortens the value, so it ends. */
const urlDecode: FunctionDef = {
  name: "url_decode",
  min: 1,
  max: 2,
  param: (i) => (i === 0 ? FIELD_BYTES : LITERAL_BYTES),
  returnType: () => BYTES,
  validate: (index, args) => {
    if (index !== 1) return undefined;
    for (const ch of argAt(args, 1).literal as string) {
      if (ch !== "r" && ch !== "u")
        return `unknown option ${JSON.stringify(ch)} (expected "r" or "u")`;
    }
    return undefined;
  },
  build: (args) => {
    const opts = args.length > 1 ? (argAt(args, 1).literal as string) : "";
    const recursive = opts.includes("r");
    const unicode = opts.includes("u");
    return (a) => {
      const s = a[0] as string | undefined;
      if (s === undefined) return undefined;
      let cur = urlDecodeOnce(s, unicode);
      if (!recursive) return cur;
      for (;;) {
        const next = urlDecodeOnce(cur, unicode);
        if (next === cur) return cur;
        cur = next;
      }
    };
  },
};

const removeBytes: FunctionDef = {
  name: "remove_bytes",
  min: 2,
  max: 2,
  param: (i) => (i === 0 ? FIELD_BYTES : LITERAL_BYTES),
  returnType: () => BYTES,
  build: (args) => {
    const drop = new Uint8Array(256);
    for (const ch of argAt(args, 1).literal as string) drop[ch.charCodeAt(0)] = 1;
    return (a) => {
      const s = a[0] as string | undefined;
      if (s === undefined) return undefined;
      let out = "";
      let from = 0;
      for (let i = 0; i < s.length; i++) {
        if (drop[s.charCodeAt(i)] === 1) {
          out += s.slice(from, i);
          from = i + 1;
        }
      }
      return from === 0 ? s : out + s.slice(from);
    };
  },
};

/** substring(field, start [, end]): byte offsets, end exclusive, negatives from the end. */
const substring: FunctionDef = {
  name: "substring",
  min: 2,
  max: 3,
  param: (i) => (i === 0 ? FIELD_BYTES : LITERAL_INT),
  returnType: () => BYTES,
  build: (args) => {
    const start = argAt(args, 1).literal as number;
    const end = args.length > 2 ? (argAt(args, 2).literal as number) : undefined;
    return (a) => {
      const s = a[0] as string | undefined;
      if (s === undefined) return undefined;
      const n = s.length;
      let b = start < 0 ? Math.max(0, n + start) : Math.min(n, start);
      let e = end === undefined ? n : end < 0 ? Math.max(0, n + end) : Math.min(n, end);
      if (e < b) e = b;
      if (b > n) b = n;
      return s.slice(b, e);
    };
  },
};

const toStringFn: FunctionDef = {
  name: "to_string",
  min: 1,
  max: 1,
  param: () => ({
    kind: "Field",
    accepts: (t) => t.kind === "Int" || t.kind === "Bool" || t.kind === "Ip",
    expected: "Int, Bool or Ip",
  }),
  returnType: () => BYTES,
  build: (args) => {
    const k = argAt(args, 0).type.kind;
    if (k === "Ip") return (a) => (a[0] === undefined ? undefined : formatIp(a[0] as IpValue));
    return (a) => (a[0] === undefined ? undefined : String(a[0]));
  },
};

const regexReplace: FunctionDef = {
  name: "regex_replace",
  min: 3,
  max: 3,
  param: (i) => (i === 0 ? FIELD_BYTES : LITERAL_BYTES),
  returnType: () => BYTES,
  validate: (index, args) => {
    if (index === 1) {
      const re = compileRegex(argAt(args, 1).literal as string);
      return re.ok ? undefined : re.message;
    }
    if (index === 2) {
      const rep = parseReplacement(argAt(args, 2).literal as string);
      return rep.ok ? undefined : rep.message;
    }
    return undefined;
  },
  build: (args) => {
    const re = compileRegex(argAt(args, 1).literal as string);
    const rep = parseReplacement(argAt(args, 2).literal as string);
    if (!re.ok || !rep.ok) throw new Error("regex_replace arguments were not validated");
    const regex = re.value;
    const replacement = rep.value;
    return (a) =>
      a[0] === undefined ? undefined : regex.replaceFirst(a[0] as string, replacement);
  },
};

const wildcardReplace: FunctionDef = {
  name: "wildcard_replace",
  min: 3,
  max: 4,
  param: (i) => (i === 0 ? FIELD_BYTES : LITERAL_BYTES),
  returnType: () => BYTES,
  validate: (index, args) => {
    if (index === 1) {
      const w = parseWildcard(argAt(args, 1).literal as string, true);
      return w.ok ? undefined : w.message;
    }
    if (index === 2) {
      const w = parseWildcard(argAt(args, 1).literal as string, true);
      if (!w.ok) return w.message;
      const t = parseTemplate(argAt(args, 2).literal as string, w.value.segments.length - 1);
      return t.ok ? undefined : t.message;
    }
    if (index === 3) {
      const flags = argAt(args, 3).literal as string;
      if (flags !== "" && flags !== "s")
        return `unknown flags ${JSON.stringify(flags)} (expected "s")`;
    }
    return undefined;
  },
  build: (args) => {
    const caseSensitive = args.length > 3 && argAt(args, 3).literal === "s";
    const w = parseWildcard(argAt(args, 1).literal as string, !caseSensitive);
    if (!w.ok) throw new Error("wildcard_replace arguments were not validated");
    const t = parseTemplate(argAt(args, 2).literal as string, w.value.segments.length - 1);
    if (!t.ok) throw new Error("wildcard_replace arguments were not validated");
    const pattern = w.value;
    const template = t.value;
    const caps: number[] = [];
    return (a) => {
      const s = a[0] as string | undefined;
      if (s === undefined) return undefined;
      caps.length = 0;
      return wildcardMatch(pattern, s, caps) ? expandTemplate(template, s, caps) : s;
    };
  },
};

/** Every built-in function; `any`/`all` are quantifier keywords handled by the parser. */
export const BUILTIN_FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(
  [
    concat,
    len,
    lower,
    upper,
    startsWith,
    endsWith,
    urlDecode,
    removeBytes,
    substring,
    toStringFn,
    regexReplace,
    wildcardReplace,
  ].map((f) => [f.name, f]),
);

export const QUANTIFIERS = ["any", "all"] as const;
