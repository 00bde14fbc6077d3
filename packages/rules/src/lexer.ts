// Literal lexers (spec §1.1, §1.3, §3.3). Each takes the source and a start offset and returns
// the value and the end offset, or throws a ParseFailure that the Scheme turns into a RuleError.
// Offsets are UTF-16 code units of the whole expression (Decision 7). Lexing follows wirefilter
// exactly, quirks included (Decision 1): no word boundaries, leading 0 = octal, no commas in sets.
import type { IpValue } from "./api.ts";
import { codePointAtIndex, utf8Of } from "./bytes.ts";
import { messages as M, ParseFailure } from "./errors.ts";
import { parseCidr, parseIp } from "./ip.ts";

export function fail(
  kind: ParseFailure["kind"],
  message: string,
  start: number,
  end: number,
): never {
  throw new ParseFailure(kind, message, start, end);
}

/** Only ' ', '\r', '\n' separate tokens; TAB deliberately is not whitespace (spec §1.1). */
export function skipSpace(src: string, pos: number): number {
  while (pos < src.length) {
    const c = src.charCodeAt(pos);
    if (c === 32 || c === 13 || c === 10) pos++;
    else break;
  }
  return pos;
}

export function isIdentChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

export function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** field_name = name_seg { "." name_seg } ; name_seg = 1*(ASCII alnum | "_"). */
export function lexIdentifier(src: string, pos: number): number {
  let p = pos;
  while (p < src.length && isIdentChar(src.charCodeAt(p))) p++;
  if (p === pos) fail("ExpectedName", M.expectedName("identifier character"), pos, src.length);
  while (src.charCodeAt(p) === 46 && p + 1 < src.length && isIdentChar(src.charCodeAt(p + 1))) {
    p += 2;
    while (p < src.length && isIdentChar(src.charCodeAt(p))) p++;
  }
  return p;
}

interface Lexed<T> {
  value: T;
  end: number;
}

/** A quoted string: escapes \" \\ \xHH \OOO only (spec §3.3 layer 1); result is UTF-8 bytes. */
export function lexQuotedString(src: string, pos: number): Lexed<string> {
  // src[pos] === '"'
  let out = "";
  let p = pos + 1;
  while (p < src.length) {
    const c = src.charCodeAt(p);
    if (c === 34) return { value: out, end: p + 1 };
    if (c === 92) {
      const e = src.charCodeAt(p + 1);
      if (e === 34 || e === 92) {
        out += src[p + 1];
        p += 2;
      } else if (e === 120) {
        out += String.fromCharCode(lexEscapeDigits(src, p + 2, 2, 16));
        p += 4;
      } else if (e >= 48 && e <= 55) {
        out += String.fromCharCode(lexEscapeDigits(src, p + 1, 3, 8));
        p += 4;
      } else if (p + 1 >= src.length) {
        fail("MissingEndingQuote", M.missingEndingQuote(), pos, src.length);
      } else {
        fail("InvalidCharacterEscape", M.invalidCharacterEscape(), p, p + 2);
      }
      continue;
    }
    const cp = codePointAtIndex(src, p);
    out += utf8Of(cp);
    p += cp > 0xffff ? 2 : 1;
  }
  return fail("MissingEndingQuote", M.missingEndingQuote(), pos, src.length);
}

/** Exactly `count` digits of `radix` forming one byte; otherwise ParseInt / CountMismatch. */
function lexEscapeDigits(src: string, pos: number, count: number, radix: number): number {
  const text = src.slice(pos, pos + count);
  if (text.length < count) {
    fail("CountMismatch", M.countMismatch("character", text.length, count), pos, src.length);
  }
  let v = 0;
  for (let i = 0; i < count; i++) {
    const d = digitValue(text.charCodeAt(i));
    if (d < 0 || d >= radix) {
      fail("ParseInt", M.parseInt("invalid digit found in string", radix), pos, pos + count);
    }
    v = v * radix + d;
  }
  if (v > 255) {
    fail("ParseInt", M.parseInt("number too large to fit in target type", radix), pos, pos + count);
  }
  return v;
}

function digitValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return -1;
}

/** r"..." / r#"..."# with up to 255 '#'; no escapes (spec §1.3). */
export function lexRawString(src: string, pos: number): Lexed<string> {
  // src[pos] === 'r'
  let p = pos + 1;
  let hashes = 0;
  while (src.charCodeAt(p) === 35) {
    hashes++;
    p++;
  }
  if (hashes > 255) {
    fail("InvalidRawStringHashCount", M.invalidRawStringHashCount(), pos, p);
  }
  if (src.charCodeAt(p) !== 34) fail("ExpectedName", M.expectedName('" or #'), p, src.length);
  const bodyStart = p + 1;
  const terminator = `"${"#".repeat(hashes)}`;
  const close = src.indexOf(terminator, bodyStart);
  if (close < 0) fail("MissingEndingQuote", M.missingEndingQuote(), pos, src.length);
  return { value: textToBytes(src.slice(bodyStart, close)), end: close + terminator.length };
}

function textToBytes(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; ) {
    const cp = codePointAtIndex(text, i);
    out += utf8Of(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  return out;
}

/** `"`, `r"` or `r#`: what makes a function argument a string literal (spec §1.7). */
export function startsString(src: string, pos: number): boolean {
  const c = src.charCodeAt(pos);
  if (c === 34) return true;
  if (c !== 114) return false;
  const n = src.charCodeAt(pos + 1);
  return n === 34 || n === 35;
}

/** A quoted or raw string (an 'r' always starts a raw string); otherwise ExpectedName. */
export function lexString(src: string, pos: number): Lexed<string> {
  if (pos >= src.length) fail("EOF", M.eof(), pos, pos);
  const c = src.charCodeAt(pos);
  if (c === 34) return lexQuotedString(src, pos);
  if (c === 114) return lexRawString(src, pos);
  return fail("ExpectedName", M.expectedName('" or r'), pos, src.length);
}

function isByteSeparator(c: number): boolean {
  return c === 58 || c === 45 || c === 46; // ':' '-' '.'
}

function lexHexByte(src: string, pos: number): number {
  return lexEscapeDigits(src, pos, 2, 16);
}

/** HH sep HH { sep HH }: at least two bytes; separators ':' '-' '.' may be mixed. */
export function lexByteString(src: string, pos: number): Lexed<string> {
  let out = String.fromCharCode(lexHexByte(src, pos));
  let p = pos + 2;
  if (!isByteSeparator(src.charCodeAt(p))) {
    fail("ExpectedName", M.expectedName("byte separator"), p, src.length);
  }
  while (isByteSeparator(src.charCodeAt(p))) {
    out += String.fromCharCode(lexHexByte(src, p + 1));
    p += 3;
  }
  return { value: out, end: p };
}

/** bytes_literal = quoted | raw | byte string. */
export function lexBytesLiteral(src: string, pos: number): Lexed<string> {
  if (pos >= src.length) fail("EOF", M.eof(), pos, pos);
  const c = src.charCodeAt(pos);
  if (c === 34 || c === 114) return lexString(src, pos);
  return lexByteString(src, pos);
}

const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

/**
 * int_literal: "0x" hex | "0" octal (the 0 included) | [-] decimal, all within i64 (BigInt
 * while lexing, a JS number afterwards). As in wirefilter the digit run is every hex digit that
 * follows, so "10fe" fails as a whole and "0xefg" is 239 followed by "g"; only decimals take a
 * sign ("-012" is -12, spec §1.3).
 */
export function lexInt(src: string, pos: number): Lexed<number> {
  let p = pos;
  let radix = 10;
  let neg = false;
  if (src.charCodeAt(p) === 48 && src.charCodeAt(p + 1) === 120) {
    radix = 16;
    p += 2;
  } else if (src.charCodeAt(p) === 48) {
    radix = 8;
  } else if (src.charCodeAt(p) === 45) {
    neg = true;
    p++;
  }
  const digitsStart = p;
  while (p < src.length && isHexDigit(src.charCodeAt(p))) p++;
  const digits = src.slice(digitsStart, p);
  if (digits.length === 0) fail("ExpectedName", M.expectedName("digit"), digitsStart, src.length);
  let v = 0n;
  const big = BigInt(radix);
  for (let i = 0; i < digits.length; i++) {
    const d = digitValue(digits.charCodeAt(i));
    if (d < 0 || d >= radix)
      fail("ParseInt", M.parseInt("invalid digit found in string", radix), pos, p);
    v = v * big + BigInt(d);
    if (v > I64_MAX + 1n) break;
  }
  if (neg) v = -v;
  if (v > I64_MAX)
    fail("ParseInt", M.parseInt("number too large to fit in target type", radix), pos, p);
  if (v < I64_MIN)
    fail("ParseInt", M.parseInt("number too small to fit in target type", radix), pos, p);
  return { value: Number(v), end: p };
}

/** int_range = int [ ".." int ], start <= end. */
export function lexIntRange(
  src: string,
  pos: number,
): Lexed<{ start: number; end: number; range: boolean }> {
  const a = lexInt(src, pos);
  if (src.startsWith("..", a.end)) {
    const b = lexInt(src, a.end + 2);
    if (b.value < a.value) fail("IncompatibleRangeBounds", M.incompatibleRangeBounds(), pos, b.end);
    return { value: { start: a.value, end: b.value, range: true }, end: b.end };
  }
  return { value: { start: a.value, end: a.value, range: false }, end: a.end };
}

function isIpChar(c: number): boolean {
  return isHexDigit(c) || c === 58 || c === 46 || c === 47; // ':' '.' '/'
}

function ipRun(src: string, pos: number): number {
  let p = pos;
  while (p < src.length && isIpChar(src.charCodeAt(p))) p++;
  if (p === pos) fail("ExpectedName", M.expectedName("IP address character"), pos, src.length);
  return p;
}

const BAD_IP = "couldn't parse address in network: invalid IP address syntax";

/** A single address (RHS of ==, <, ...): a CIDR or anything else is ParseNetwork. */
export function lexIpAddr(src: string, pos: number): Lexed<IpValue> {
  const end = ipRun(src, pos);
  const ip = parseIp(src.slice(pos, end));
  if (!ip) fail("ParseNetwork", BAD_IP, pos, end);
  return { value: ip, end };
}

type IpRangeLexed =
  | { kind: "addr"; addr: IpValue }
  | { kind: "cidr"; addr: IpValue; prefix: number; end: IpValue }
  | { kind: "range"; start: IpValue; end: IpValue };

/** ip_range = addr ".." addr | addr "/" len | addr. */
export function lexIpRange(src: string, pos: number): Lexed<IpRangeLexed> {
  const end = ipRun(src, pos);
  const text = src.slice(pos, end);
  const dots = text.indexOf("..");
  if (dots >= 0) {
    const a = parseIp(text.slice(0, dots));
    const b = parseIp(text.slice(dots + 2));
    if (!a) fail("ParseNetwork", BAD_IP, pos, pos + dots);
    if (!b) fail("ParseNetwork", BAD_IP, pos + dots + 2, end);
    if (a.family !== b.family || compareSameFamily(a, b) > 0) {
      fail("IncompatibleRangeBounds", M.incompatibleRangeBounds(), pos, end);
    }
    return { value: { kind: "range", start: a, end: b }, end };
  }
  const slash = text.indexOf("/");
  if (slash >= 0) {
    const r = parseCidr(text.slice(0, slash), text.slice(slash + 1));
    if (!r.ok) {
      // The span names the faulty part, as the cidr crate's errors do in wirefilter.
      const [a, b] =
        r.part === "addr"
          ? [pos, pos + slash]
          : r.part === "len"
            ? [pos + slash + 1, end]
            : [pos, end];
      fail("ParseNetwork", r.message, a, b);
    }
    return { value: { kind: "cidr", addr: r.start, prefix: r.prefix, end: r.end }, end };
  }
  const ip = parseIp(text);
  if (!ip) fail("ParseNetwork", BAD_IP, pos, end);
  return { value: { kind: "addr", addr: ip }, end };
}

function compareSameFamily(a: IpValue, b: IpValue): number {
  if (a.family === 4 && b.family === 4) return a.v4 - b.v4;
  if (a.family === 6 && b.family === 6) {
    const [a0, a1, a2, a3] = a.w;
    const [b0, b1, b2, b3] = b.w;
    return a0 - b0 || a1 - b1 || a2 - b2 || a3 - b3;
  }
  return 0;
}

/**
 * The RHS of `matches`: a raw string, or a quoted regex whose backslash escapes go to the regex
 * engine verbatim except `\"` outside a [...] class, which becomes `"`; a `"` inside a class does
 * not end the literal (spec §3.3 layer 2, §3.4).
 */
export function lexRegexLiteral(src: string, pos: number): Lexed<string> {
  if (pos >= src.length) fail("EOF", M.eof(), pos, pos);
  const c = src.charCodeAt(pos);
  if (c === 114) return lexRawString(src, pos);
  if (c !== 34) fail("ExpectedName", M.expectedName('" or r'), pos, src.length);
  // wirefilter's scanner: one flag for "inside [...]", set by '[' and cleared by the next
  // unescaped ']' (no nesting, no special first ']').
  let out = "";
  let p = pos + 1;
  let inClass = false;
  while (p < src.length) {
    const ch = codePointAtIndex(src, p);
    const width = ch > 0xffff ? 2 : 1;
    if (ch === 92) {
      if (p + 1 >= src.length) break;
      const next = codePointAtIndex(src, p + 1);
      if (inClass || next !== 34) out += "\\";
      out += utf8Of(next);
      p += next > 0xffff ? 3 : 2;
      continue;
    }
    if (ch === 34 && !inClass) return { value: out, end: p + 1 };
    if (ch === 91 && !inClass) inClass = true;
    else if (ch === 93 && inClass) inClass = false;
    out += utf8Of(ch);
    p += width;
  }
  return fail("MissingEndingQuote", M.missingEndingQuote(), pos, src.length);
}

/**
 * `$name`: lowercase letters, digits, '_', '.', and '-' (Decision 3, so list UUIDs parse); must
 * not start or end with '.'. As in wirefilter the name ends at the first other character, and
 * only an empty name is an error there (naming that character: `$Office` → "O").
 */
export function lexListName(src: string, pos: number): Lexed<string> {
  // src[pos] === '$'
  let p = pos + 1;
  while (p < src.length) {
    const c = src.charCodeAt(p);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 46 || c === 45) p++;
    else break;
  }
  const name = src.slice(pos + 1, p);
  if (name.length === 0) {
    const next = p < src.length ? String.fromCodePoint(codePointAtIndex(src, p)) : "";
    fail("InvalidListName", M.invalidListName(next), pos + 1, src.length);
  }
  if (name.startsWith(".") || name.endsWith(".")) {
    fail("InvalidListName", M.invalidListName(name), pos + 1, p);
  }
  return { value: name, end: p };
}
