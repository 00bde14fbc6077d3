/**
 * Parser for Rust `regex` crate syntax (regex-syntax), configured as wirefilter does:
 * `unicode(false)` and `utf8(false)`, i.e. bytes mode unless the pattern enables `(?u)`.
 * It translates straight to the byte-level HIR, applying flags as it goes.
 *
 * Rust decisions mirrored here (each is a deliberate match with regex-syntax, not a guess):
 * - no look-around, no back-references: `\1`..`\9`, `\0`, `(?=`, `(?!`, `(?<=`, `(?<!`, `(?P=`
 *   are errors naming the unsupported feature;
 * - no `\e`, `\Z`, `\G`, `\K`, octal escapes or `(?#...)` comments (unknown escapes are errors);
 * - `{,n}` is an error; whitespace around the numbers inside `{...}` is allowed;
 * - in bytes mode only the fixed two-digit `\xHH` denotes a raw byte (so `\xFF` is byte 0xFF);
 *   `\x{FF}`, `\u00FF` and a literal `ÿ` denote the character U+00FF, i.e. its UTF-8 encoding,
 *   and inside a bytes-mode class such a non-ASCII character is an error;
 * - `\p{..}`/`\P{..}` need `(?u)`; `.`, `\d`, `\s`, `\w`, `\b`, `(?i)` are ASCII-only without it;
 * - a pattern is decoded as UTF-8 (wirefilter patterns are Rust `&str`); invalid UTF-8 is an
 *   error.
 */
import { SizeLimitError } from "./compiler.ts";
import { EMPTY, type Hir, Look } from "./hir.ts";
import {
  difference,
  foldAscii,
  intersect,
  MAX_BYTE,
  MAX_CODEPOINT,
  negate,
  normalize,
  type RangeSet,
  symmetricDifference,
} from "./range-set.ts";
import {
  encodeUtf8,
  foldUnicode,
  unicodeDigit,
  unicodeProperty,
  unicodeSpace,
  unicodeWord,
  utf8Sequences,
} from "./unicode.ts";

export class RegexSyntaxError extends Error {}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
  u: boolean;
  x: boolean;
  R: boolean;
}

export interface ParsedRegex {
  hir: Hir;
  /** Number of explicit capture groups (group 0, the whole match, not counted). */
  captureCount: number;
  /** Whether any look assertion is Unicode-aware (forces the Pike VM). */
  unicodeWordBoundary: boolean;
}

/** Rust's default nest limit (regex-syntax `ParserBuilder::nest_limit`). */
const NEST_LIMIT = 250;

/** Total HIR depth limit (each group level costs a few HIR levels). */
const HIR_DEPTH_LIMIT = 1000;

/** Iterative, so that checking a hostile pattern cannot overflow the stack. */
function hirDepth(root: Hir): number {
  let max = 0;
  const stack: [Hir, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [h, d] = stack.pop()!;
    if (d > max) max = d;
    if (h.type === "concat" || h.type === "alt") for (const s of h.subs) stack.push([s, d + 1]);
    else if (h.type === "repeat" || h.type === "capture") stack.push([h.sub, d + 1]);
  }
  return max;
}

const ASCII_DIGIT: RangeSet = [0x30, 0x39];
const ASCII_SPACE: RangeSet = [0x09, 0x0d, 0x20, 0x20];
const ASCII_WORD: RangeSet = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];

/** POSIX classes usable as `[[:name:]]`; always ASCII, as in Rust. */
const ASCII_CLASSES: Record<string, RangeSet> = {
  alnum: [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a],
  alpha: [0x41, 0x5a, 0x61, 0x7a],
  ascii: [0x00, 0x7f],
  blank: [0x09, 0x09, 0x20, 0x20],
  cntrl: [0x00, 0x1f, 0x7f, 0x7f],
  digit: [0x30, 0x39],
  graph: [0x21, 0x7e],
  lower: [0x61, 0x7a],
  print: [0x20, 0x7e],
  punct: [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e],
  space: [0x09, 0x0d, 0x20, 0x20],
  upper: [0x41, 0x5a],
  word: ASCII_WORD,
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
};

/** Characters with a meaning in the syntax, escapable everywhere (regex-syntax). */
const META = new Set("\\.+*?()|[]{}^$#&-~");

type Escape =
  | { t: "lit"; cp: number; byte: boolean }
  | { t: "class"; set: RangeSet }
  | { t: "look"; look: Look };

type ClassAtom = { t: "lit"; cp: number; byte: boolean } | { t: "class"; set: RangeSet };

function isWhitespace(cp: number): boolean {
  return (
    (cp >= 0x09 && cp <= 0x0d) ||
    cp === 0x20 ||
    cp === 0x85 ||
    cp === 0xa0 ||
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

function isHex(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x46) || (cp >= 0x61 && cp <= 0x66);
}

function isAsciiAlnum(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
}

function ch(s: string): number {
  return s.charCodeAt(0);
}

/** `sizeLimit`: the NFA state budget, checked early for patterns made of huge Unicode classes. */
export function parseRegex(pattern: string, sizeLimit = Number.POSITIVE_INFINITY): ParsedRegex {
  return new Parser(pattern, sizeLimit).parse();
}

class Parser {
  /** Code points of the pattern. */
  private readonly cps: number[] = [];
  /** Byte offset of each code point (plus one past the end), for error messages. */
  private readonly offs: number[] = [];
  private pos = 0;
  private flags: Flags = { i: false, m: false, s: false, U: false, u: false, x: false, R: false };
  private captureCount = 0;
  private readonly names = new Set<string>();
  private depth = 0;
  private unicodeWordBoundary = false;

  private readonly sizeLimit: number;
  private estimatedStates = 0;

  constructor(pattern: string, sizeLimit: number) {
    this.sizeLimit = sizeLimit;
    let i = 0;
    while (i < pattern.length) {
      const b0 = pattern.charCodeAt(i);
      if (b0 > 0xff) throw new RegexSyntaxError(`pattern is not a byte string (code unit ${b0})`);
      let n = 1;
      let cp = b0;
      if (b0 >= 0x80) {
        let min = 0;
        if (b0 >= 0xc2 && b0 <= 0xdf) {
          n = 2;
          cp = b0 & 0x1f;
          min = 0x80;
        } else if (b0 >= 0xe0 && b0 <= 0xef) {
          n = 3;
          cp = b0 & 0x0f;
          min = 0x800;
        } else if (b0 >= 0xf0 && b0 <= 0xf4) {
          n = 4;
          cp = b0 & 0x07;
          min = 0x10000;
        } else {
          throw new RegexSyntaxError(`pattern is not valid UTF-8 at byte offset ${i}`);
        }
        if (i + n > pattern.length) {
          throw new RegexSyntaxError(`pattern is not valid UTF-8 at byte offset ${i}`);
        }
        for (let k = 1; k < n; k++) {
          const b = pattern.charCodeAt(i + k);
          if (b < 0x80 || b > 0xbf) {
            throw new RegexSyntaxError(`pattern is not valid UTF-8 at byte offset ${i}`);
          }
          cp = (cp << 6) | (b & 0x3f);
        }
        if (cp < min || cp > MAX_CODEPOINT || (cp >= 0xd800 && cp <= 0xdfff)) {
          throw new RegexSyntaxError(`pattern is not valid UTF-8 at byte offset ${i}`);
        }
      }
      this.cps.push(cp);
      this.offs.push(i);
      i += n;
    }
    this.offs.push(pattern.length);
  }

  parse(): ParsedRegex {
    const hir = this.parseAlternation();
    if (this.pos < this.cps.length) {
      // Only an unbalanced `)` stops the top-level alternation early.
      throw this.error("unopened group: `)` without a matching `(`");
    }
    // Groups and classes are limited while parsing; this bounds the total depth (repetitions of
    // repetitions, alternations inside groups, ...) so later recursive passes cannot overflow.
    if (hirDepth(hir) > HIR_DEPTH_LIMIT) {
      throw new RegexSyntaxError(`pattern nests too deeply (more than ${HIR_DEPTH_LIMIT} levels)`);
    }
    return { hir, captureCount: this.captureCount, unicodeWordBoundary: this.unicodeWordBoundary };
  }

  private error(message: string, at: number = this.pos): RegexSyntaxError {
    const offset = this.offs[Math.min(at, this.offs.length - 1)];
    return new RegexSyntaxError(`${message} (at byte offset ${offset})`);
  }

  private eof(): boolean {
    return this.pos >= this.cps.length;
  }

  private peek(ahead = 0): number {
    const i = this.pos + ahead;
    return i < this.cps.length ? this.cps[i] : -1;
  }

  /** In `x` mode, skip whitespace and `#` comments (to end of line). */
  private skipSpace(): void {
    if (!this.flags.x) return;
    while (!this.eof()) {
      const c = this.peek();
      if (isWhitespace(c)) this.pos++;
      else if (c === ch("#")) {
        while (!this.eof() && this.peek() !== 0x0a) this.pos++;
      } else break;
    }
  }

  private enter(at: number): void {
    this.depth++;
    if (this.depth > NEST_LIMIT) throw this.error(`nesting deeper than ${NEST_LIMIT} levels`, at);
  }

  private parseAlternation(): Hir {
    const branches: Hir[] = [this.parseConcat()];
    while (this.peek() === ch("|")) {
      this.pos++;
      branches.push(this.parseConcat());
    }
    return branches.length === 1 ? branches[0] : { type: "alt", subs: branches };
  }

  private parseConcat(): Hir {
    const items: Hir[] = [];
    // Whether the last item may take a repetition operator (not after `(?flags)` or nothing).
    let canRepeat = false;
    let repeats = 0;
    for (;;) {
      this.skipSpace();
      if (this.eof()) break;
      const c = this.peek();
      if (c === ch("|") || c === ch(")")) break;
      const start = this.pos;
      if (c === ch("*") || c === ch("+") || c === ch("?") || c === ch("{")) {
        if (!canRepeat) throw this.error("repetition operator missing expression");
        const rep = this.parseRepetitionOp();
        repeats++;
        if (repeats > NEST_LIMIT) {
          throw this.error(`nesting deeper than ${NEST_LIMIT} levels`, start);
        }
        const sub = items.pop()!;
        items.push({ type: "repeat", min: rep.min, max: rep.max, greedy: rep.greedy, sub });
        continue;
      }
      repeats = 0;
      if (c === ch("(")) {
        const group = this.parseGroup();
        if (group === undefined) {
          canRepeat = false;
        } else {
          items.push(group);
          canRepeat = true;
        }
        continue;
      }
      canRepeat = true;
      if (c === ch("[")) {
        const set = this.parseBracket();
        items.push(this.classHir(set));
      } else if (c === ch(".")) {
        this.pos++;
        items.push(this.dot());
      } else if (c === ch("^")) {
        this.pos++;
        const look = !this.flags.m
          ? Look.StartText
          : this.flags.R
            ? Look.StartLineCrlf
            : Look.StartLine;
        items.push({ type: "look", look });
      } else if (c === ch("$")) {
        this.pos++;
        const look = !this.flags.m ? Look.EndText : this.flags.R ? Look.EndLineCrlf : Look.EndLine;
        items.push({ type: "look", look });
      } else if (c === ch("\\")) {
        const e = this.parseEscape(false);
        if (e.t === "lit") items.push(this.literal(e.cp, e.byte));
        else if (e.t === "class") items.push(this.classHir(e.set));
        else items.push({ type: "look", look: e.look });
      } else {
        this.pos++;
        items.push(this.literal(c, false));
      }
    }
    if (items.length === 0) return EMPTY;
    return items.length === 1 ? items[0] : { type: "concat", subs: items };
  }

  /** At `*`, `+`, `?` or `{`: parse the operator and its optional lazy `?`. */
  private parseRepetitionOp(): { min: number; max: number; greedy: boolean } {
    const start = this.pos;
    const c = this.peek();
    this.pos++;
    let min: number;
    let max: number;
    if (c === ch("*")) {
      min = 0;
      max = -1;
    } else if (c === ch("+")) {
      min = 1;
      max = -1;
    } else if (c === ch("?")) {
      min = 0;
      max = 1;
    } else {
      min = this.parseDecimal(start);
      if (this.peek() === ch(",")) {
        this.pos++;
        this.skipAllSpace();
        if (this.peek() === ch("}")) max = -1;
        else max = this.parseDecimal(start);
      } else {
        max = min;
      }
      if (this.peek() !== ch("}")) throw this.error("unclosed counted repetition", start);
      this.pos++;
      if (max !== -1 && min > max) {
        throw this.error(
          `invalid counted repetition {${min},${max}}: min is greater than max`,
          start,
        );
      }
    }
    let greedy = true;
    if (this.peek() === ch("?")) {
      this.pos++;
      greedy = false;
    }
    if (this.flags.U) greedy = !greedy;
    return { min, max, greedy };
  }

  private skipAllSpace(): void {
    while (!this.eof() && isWhitespace(this.peek())) this.pos++;
  }

  /** A decimal inside `{...}`; surrounding whitespace is allowed, as in regex-syntax. */
  private parseDecimal(braceAt: number): number {
    this.skipAllSpace();
    if (this.eof()) throw this.error("unclosed counted repetition", braceAt);
    const start = this.pos;
    let value = 0;
    while (!this.eof() && this.peek() >= 0x30 && this.peek() <= 0x39) {
      value = value * 10 + (this.peek() - 0x30);
      if (value > 0xffffffff) throw this.error("repetition count too large", start);
      this.pos++;
    }
    if (this.pos === start) {
      throw this.error("counted repetition needs a decimal number (`{,n}` is not allowed)", start);
    }
    this.skipAllSpace();
    return value;
  }

  /**
   * At `(`. Returns the group's HIR, or undefined for a bare flag setting `(?flags)` (which
   * changes the flags of the rest of the enclosing group).
   */
  private parseGroup(): Hir | undefined {
    const open = this.pos;
    this.pos++;
    if (this.peek() !== ch("?")) {
      const index = ++this.captureCount;
      return this.groupBody(open, index);
    }
    this.pos++;
    const c = this.peek();
    if (c === ch("=") || c === ch("!")) {
      throw this.error("look-ahead is not supported", open);
    }
    if (c === ch("<") && (this.peek(1) === ch("=") || this.peek(1) === ch("!"))) {
      throw this.error("look-behind is not supported", open);
    }
    if (c === ch("P") && this.peek(1) === ch("=")) {
      throw this.error("back-references are not supported", open);
    }
    if (c === ch("#")) throw this.error("`(?#...)` comments are not supported", open);
    if (c === ch("<") || (c === ch("P") && this.peek(1) === ch("<"))) {
      this.pos += c === ch("P") ? 2 : 1;
      const nameStart = this.pos;
      let name = "";
      while (!this.eof() && this.peek() !== ch(">")) {
        const nc = this.peek();
        const s = String.fromCodePoint(nc);
        const ok =
          name.length === 0
            ? nc === ch("_") || /\p{Alphabetic}/u.test(s)
            : nc === ch("_") ||
              nc === ch(".") ||
              nc === ch("[") ||
              nc === ch("]") ||
              /[\p{Alphabetic}\p{Nd}\p{Nl}\p{No}]/u.test(s);
        if (!ok) throw this.error("invalid character in capture group name");
        name += s;
        this.pos++;
      }
      if (this.eof()) throw this.error("unclosed capture group name", nameStart);
      if (name.length === 0) throw this.error("empty capture group name", nameStart);
      if (this.names.has(name))
        throw this.error(`duplicate capture group name \`${name}\``, nameStart);
      this.names.add(name);
      this.pos++;
      const index = ++this.captureCount;
      return this.groupBody(open, index);
    }
    // Flags: `(?flags)` or `(?flags:...)`.
    const next: Flags = { ...this.flags };
    const seen = new Set<number>();
    let negating = false;
    let sawNegation = false;
    let lastWasDash = false;
    for (;;) {
      if (this.eof()) throw this.error("unclosed group", open);
      const f = this.peek();
      if (f === ch(")") || f === ch(":")) break;
      if (f === ch("-")) {
        if (sawNegation) throw this.error("repeated negation in flags");
        negating = true;
        sawNegation = true;
        lastWasDash = true;
        this.pos++;
        continue;
      }
      const key = String.fromCharCode(f);
      if (!"imsUuxR".includes(key) || f > 0x7f) {
        throw this.error(`unrecognized flag \`${String.fromCodePoint(f)}\``);
      }
      if (seen.has(f)) throw this.error(`duplicate flag \`${key}\``);
      seen.add(f);
      next[key as keyof Flags] = !negating;
      lastWasDash = false;
      this.pos++;
    }
    if (lastWasDash) throw this.error("dangling flag negation `-`");
    const end = this.peek();
    this.pos++;
    if (end === ch(")")) {
      if (seen.size === 0) throw this.error("empty flag group `(?)`", open);
      this.flags = next;
      return undefined;
    }
    const saved = this.flags;
    this.flags = next;
    const body = this.groupBody(open, 0);
    this.flags = saved;
    return body;
  }

  /** Parse a group's alternation through its `)`; index 0 means non-capturing. */
  private groupBody(open: number, index: number): Hir {
    this.enter(open);
    const saved = this.flags;
    const sub = this.parseAlternation();
    this.flags = saved;
    if (this.peek() !== ch(")")) throw this.error("unclosed group", open);
    this.pos++;
    this.depth--;
    return index === 0 ? sub : { type: "capture", index, sub };
  }

  /** At `\`. */
  private parseEscape(inClass: boolean): Escape {
    const start = this.pos;
    this.pos++;
    if (this.eof()) throw this.error("incomplete escape sequence at end of pattern", start);
    const c = this.peek();
    if (c >= ch("0") && c <= ch("9")) {
      throw this.error("back-references (and octal escapes) are not supported", start);
    }
    if (c === ch("x") || c === ch("u") || c === ch("U")) {
      return this.parseHex(start);
    }
    if (c === ch("p") || c === ch("P")) {
      return { t: "class", set: this.parseUnicodeClass(start) };
    }
    this.pos++;
    switch (String.fromCodePoint(c)) {
      case "d":
        return { t: "class", set: this.perl(ASCII_DIGIT, unicodeDigit, false) };
      case "D":
        return { t: "class", set: this.perl(ASCII_DIGIT, unicodeDigit, true) };
      case "s":
        return { t: "class", set: this.perl(ASCII_SPACE, unicodeSpace, false) };
      case "S":
        return { t: "class", set: this.perl(ASCII_SPACE, unicodeSpace, true) };
      case "w":
        return { t: "class", set: this.perl(ASCII_WORD, unicodeWord, false) };
      case "W":
        return { t: "class", set: this.perl(ASCII_WORD, unicodeWord, true) };
      case "a":
        return { t: "lit", cp: 0x07, byte: false };
      case "f":
        return { t: "lit", cp: 0x0c, byte: false };
      case "t":
        return { t: "lit", cp: 0x09, byte: false };
      case "n":
        return { t: "lit", cp: 0x0a, byte: false };
      case "r":
        return { t: "lit", cp: 0x0d, byte: false };
      case "v":
        return { t: "lit", cp: 0x0b, byte: false };
    }
    if (META.has(String.fromCodePoint(c))) return { t: "lit", cp: c, byte: false };
    // Any other ASCII punctuation or space may be escaped superfluously (regex-syntax).
    if (c < 0x80 && !isAsciiAlnum(c) && c !== ch("<") && c !== ch(">")) {
      return { t: "lit", cp: c, byte: false };
    }
    const look = this.assertionEscape(c, start);
    if (look !== undefined) {
      if (inClass) throw this.error("assertions are not allowed in a character class", start);
      return { t: "look", look };
    }
    throw this.error(`unrecognized escape sequence \`\\${String.fromCodePoint(c)}\``, start);
  }

  private assertionEscape(c: number, start: number): Look | undefined {
    const u = this.flags.u;
    if (u && (c === ch("b") || c === ch("B") || c === ch("<") || c === ch(">"))) {
      this.unicodeWordBoundary = true;
    }
    switch (String.fromCodePoint(c)) {
      case "A":
        return Look.StartText;
      case "z":
        return Look.EndText;
      case "B":
        return u ? Look.NotWordUnicode : Look.NotWordAscii;
      case "<":
        return u ? Look.WordStartUnicode : Look.WordStartAscii;
      case ">":
        return u ? Look.WordEndUnicode : Look.WordEndAscii;
      case "b": {
        // `\b{start}` etc., unless the brace is a counted repetition such as `\b{2}`.
        if (this.peek() === ch("{")) {
          let j = 1;
          while (isWhitespace(this.peek(j))) j++;
          const first = this.peek(j);
          const isName =
            (first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a) || first === 0x2d;
          if (isName) {
            let name = "";
            let k = j;
            while (k + this.pos < this.cps.length && this.peek(k) !== ch("}")) {
              name += String.fromCodePoint(this.peek(k));
              k++;
            }
            if (this.peek(k) !== ch("}")) throw this.error("unclosed special word boundary", start);
            this.pos += k + 1;
            switch (name.trim()) {
              case "start":
                return u ? Look.WordStartUnicode : Look.WordStartAscii;
              case "end":
                return u ? Look.WordEndUnicode : Look.WordEndAscii;
              case "start-half":
                return u ? Look.WordStartHalfUnicode : Look.WordStartHalfAscii;
              case "end-half":
                return u ? Look.WordEndHalfUnicode : Look.WordEndHalfAscii;
              default:
                throw this.error(`unrecognized special word boundary \`\\b{${name}}\``, start);
            }
          }
        }
        return u ? Look.WordUnicode : Look.WordAscii;
      }
      case "Z":
        throw this.error("`\\Z` is not supported (use `\\z` or `$`)", start);
      case "G":
      case "K":
        throw this.error(`\`\\${String.fromCodePoint(c)}\` is not supported`, start);
      default:
        return undefined;
    }
  }

  /** At `x`, `u` or `U` after a backslash. */
  private parseHex(start: number): Escape {
    const kind = this.peek();
    this.pos++;
    let digits = "";
    let braced = false;
    if (this.peek() === ch("{")) {
      braced = true;
      this.pos++;
      while (!this.eof() && this.peek() !== ch("}")) {
        if (!isHex(this.peek())) throw this.error("invalid hexadecimal digit");
        digits += String.fromCharCode(this.peek());
        this.pos++;
        if (digits.length > 8) throw this.error("hexadecimal escape out of range", start);
      }
      if (this.eof()) throw this.error("unclosed hexadecimal escape", start);
      this.pos++;
      if (digits.length === 0) throw this.error("empty hexadecimal escape", start);
    } else {
      const n = kind === ch("x") ? 2 : kind === ch("u") ? 4 : 8;
      for (let k = 0; k < n; k++) {
        if (this.eof()) throw this.error("incomplete hexadecimal escape", start);
        if (!isHex(this.peek())) throw this.error("invalid hexadecimal digit");
        digits += String.fromCharCode(this.peek());
        this.pos++;
      }
    }
    const cp = Number.parseInt(digits, 16);
    if (cp > MAX_CODEPOINT || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw this.error(`hexadecimal escape is not a Unicode scalar value (0x${digits})`, start);
    }
    // Only the fixed `\xHH` form names a raw byte (regex-syntax `Literal::byte`).
    return { t: "lit", cp, byte: kind === ch("x") && !braced };
  }

  /** At `p` or `P` after a backslash. */
  private parseUnicodeClass(start: number): RangeSet {
    let negated = this.peek() === ch("P");
    this.pos++;
    let body: string;
    if (this.peek() === ch("{")) {
      this.pos++;
      body = "";
      while (!this.eof() && this.peek() !== ch("}")) {
        body += String.fromCodePoint(this.peek());
        this.pos++;
      }
      if (this.eof()) throw this.error("unclosed Unicode class", start);
      this.pos++;
    } else {
      if (this.eof()) throw this.error("incomplete Unicode class escape", start);
      body = String.fromCodePoint(this.peek());
      this.pos++;
    }
    const shown = `\\${negated ? "P" : "p"}{${body}}`;
    if (!this.flags.u) {
      throw this.error(
        `Unicode class ${shown} is not allowed in bytes mode (enable it with the u flag: (?u))`,
        start,
      );
    }
    let spec = body.trim();
    if (spec.startsWith("^")) {
      negated = !negated;
      spec = spec.slice(1);
    }
    const ne = spec.indexOf("!=");
    if (ne >= 0) {
      negated = !negated;
      spec = spec.slice(0, ne) + "=" + spec.slice(ne + 2);
    }
    const set = unicodeProperty(spec);
    if (set === undefined) throw this.error(`unknown or unsupported Unicode class ${shown}`, start);
    // Rust case-folds a Unicode class before negating it: (?i)\P{Lu} excludes `a` too.
    const folded = this.fold(set);
    return negated ? negate(folded, MAX_CODEPOINT) : folded;
  }

  private perl(ascii: RangeSet, unicode: () => RangeSet, negated: boolean): RangeSet {
    if (this.flags.u) {
      const set = unicode();
      return negated ? negate(set, MAX_CODEPOINT) : set;
    }
    return negated ? negate(ascii, MAX_BYTE) : ascii;
  }

  private universe(): number {
    return this.flags.u ? MAX_CODEPOINT : MAX_BYTE;
  }

  private fold(set: RangeSet): RangeSet {
    if (!this.flags.i) return set;
    return this.flags.u ? foldUnicode(set) : foldAscii(set);
  }

  /** At `[`: a bracketed class, returned as a set in the current mode's units. */
  private parseBracket(): RangeSet {
    const open = this.pos;
    this.enter(open);
    this.pos++;
    let negated = false;
    if (this.peek() === ch("^")) {
      negated = true;
      this.pos++;
    }
    let current: number[] = [];
    let acc: RangeSet | undefined;
    let op: "&&" | "--" | "~~" | undefined;
    // A `]` right after the opening is a literal, as are leading `-`s.
    if (this.peek() === ch("]")) {
      current.push(0x5d, 0x5d);
      this.pos++;
    }
    while (this.peek() === ch("-")) {
      current.push(0x2d, 0x2d);
      this.pos++;
    }
    const applyOp = (lhs: RangeSet | undefined, rhs: RangeSet): RangeSet => {
      if (lhs === undefined || op === undefined) return rhs;
      const max = this.universe();
      if (op === "&&") return intersect(lhs, rhs);
      if (op === "--") return difference(lhs, rhs, max);
      return symmetricDifference(lhs, rhs, max);
    };
    for (;;) {
      this.skipSpace();
      if (this.eof()) throw this.error("unclosed character class", open);
      const c = this.peek();
      if (c === ch("]")) {
        this.pos++;
        break;
      }
      const c1 = this.peek(1);
      if (
        (c === ch("&") && c1 === ch("&")) ||
        (c === ch("-") && c1 === ch("-")) ||
        (c === ch("~") && c1 === ch("~"))
      ) {
        this.pos += 2;
        acc = applyOp(acc, this.fold(normalize(current)));
        op = c === ch("&") ? "&&" : c === ch("-") ? "--" : "~~";
        current = [];
        continue;
      }
      if (c === ch("[")) {
        const ascii = this.tryAsciiClass();
        if (ascii !== undefined) current.push(...ascii);
        else current.push(...this.parseBracket());
        continue;
      }
      this.parseClassRange(current);
    }
    let set = this.fold(applyOp(acc, this.fold(normalize(current))));
    if (negated) set = negate(set, this.universe());
    this.depth--;
    return set;
  }

  /** At `[`: `[:name:]` or `[:^name:]`; anything else leaves the position untouched. */
  private tryAsciiClass(): RangeSet | undefined {
    if (this.peek(1) !== ch(":")) return undefined;
    let k = 2;
    let negated = false;
    if (this.peek(k) === ch("^")) {
      negated = true;
      k++;
    }
    let name = "";
    while (this.peek(k) >= 0x61 && this.peek(k) <= 0x7a) {
      name += String.fromCharCode(this.peek(k));
      k++;
    }
    if (this.peek(k) !== ch(":") || this.peek(k + 1) !== ch("]")) return undefined;
    const set = ASCII_CLASSES[name];
    if (set === undefined) throw this.error(`unknown ASCII class [:${name}:]`);
    this.pos += k + 2;
    return negated ? negate(set, this.universe()) : set;
  }

  private parseClassAtom(): ClassAtom {
    const c = this.peek();
    if (c === ch("\\")) {
      const e = this.parseEscape(true);
      if (e.t === "look") throw this.error("assertions are not allowed in a character class");
      return e;
    }
    this.pos++;
    return { t: "lit", cp: c, byte: false };
  }

  /** The value a class literal contributes in the current mode. */
  private classValue(atom: { cp: number; byte: boolean }, at: number): number {
    if (this.flags.u || atom.byte || atom.cp <= 0x7f) return atom.cp;
    throw this.error(
      "non-ASCII character in a bytes-mode class (enable Unicode with (?u) or use \\xHH bytes)",
      at,
    );
  }

  private parseClassRange(out: number[]): void {
    const start = this.pos;
    const a = this.parseClassAtom();
    this.skipSpace();
    const next = this.peek(1);
    const isRange = this.peek() === ch("-") && next !== ch("]") && next !== ch("-") && next !== -1;
    if (a.t === "class") {
      // `[\d-z]` is an error in Rust, not a class plus a literal `-`.
      if (isRange) throw this.error("a class range start must be a single character", start);
      out.push(...a.set);
      return;
    }
    if (!isRange) {
      const v = this.classValue(a, start);
      out.push(v, v);
      return;
    }
    this.pos++;
    this.skipSpace();
    const bStart = this.pos;
    const b = this.parseClassAtom();
    if (b.t === "class") throw this.error("a class range end must be a single character", bStart);
    const lo = this.classValue(a, start);
    const hi = this.classValue(b, bStart);
    if (lo > hi) throw this.error("invalid class range: start is greater than end", start);
    out.push(lo, hi);
  }

  private dot(): Hir {
    const excluded: RangeSet = this.flags.s
      ? []
      : this.flags.R
        ? [0x0a, 0x0a, 0x0d, 0x0d]
        : [0x0a, 0x0a];
    const set = negate(excluded, this.universe());
    return this.classHir(set);
  }

  /** A single literal character (or raw byte) under the current flags. */
  private literal(cp: number, byte: boolean): Hir {
    if (this.flags.u) {
      if (this.flags.i) return this.classHir(foldUnicode([cp, cp]));
      return bytesHir(encodeUtf8(cp));
    }
    if (byte || cp <= 0x7f) {
      const set: RangeSet = [cp, cp];
      return { type: "bytes", set: this.flags.i ? foldAscii(set) : set };
    }
    // A non-ASCII character in bytes mode is its UTF-8 encoding, without case folding.
    return bytesHir(encodeUtf8(cp));
  }

  /** A class in the current mode's units, lowered to bytes. */
  private classHir(set: RangeSet): Hir {
    if (!this.flags.u) return { type: "bytes", set };
    // A class within ASCII is one byte in UTF-8 too.
    if (set.length === 0 || set[set.length - 1] <= 0x7f) return { type: "bytes", set };
    const key = set.join(",");
    let lowered = loweredClasses.get(key);
    if (lowered === undefined) {
      const hir = utf8Trie(utf8Sequences(set), 0);
      lowered = { hir, states: countStates(hir) };
      if (loweredClasses.size >= LOWERED_CACHE_ENTRIES) {
        loweredClasses.delete(loweredClasses.keys().next().value!);
      }
      loweredClasses.set(key, lowered);
    }
    // Every occurrence compiles to at least this many NFA states: fail before building a huge
    // HIR (e.g. thousands of `\pL`) that the compiler would reject anyway.
    this.estimatedStates += lowered.states;
    if (this.estimatedStates > this.sizeLimit) {
      throw new SizeLimitError("compiled regex exceeds size limit");
    }
    return lowered.hir;
  }
}

/** Unicode classes already lowered to UTF-8 HIR (immutable, so shared between patterns). */
const loweredClasses = new Map<string, { hir: Hir; states: number }>();
const LOWERED_CACHE_ENTRIES = 256;

/** NFA states a HIR without repetitions compiles to (a lower bound in general). */
function countStates(h: Hir): number {
  switch (h.type) {
    case "concat":
      return h.subs.reduce((n, sub) => n + countStates(sub), 0);
    case "alt":
      return h.subs.reduce((n, sub) => n + countStates(sub), h.subs.length - 1);
    case "capture":
      return countStates(h.sub) + 2;
    case "repeat":
      return countStates(h.sub);
    default:
      return 1;
  }
}

/**
 * Lower UTF-8 byte-range sequences (sorted by code point) to an alternation that shares common
 * leading byte ranges, so the hundreds of sequences of e.g. `\w` become a much smaller NFA.
 * The leading byte determines a sequence's length, so grouped sequences have the same length.
 */
function utf8Trie(seqs: number[][], depth: number): Hir {
  const groups: { lo: number; hi: number; rest: number[][] }[] = [];
  for (const seq of seqs) {
    const lo = seq[depth * 2];
    const hi = seq[depth * 2 + 1];
    const last = groups[groups.length - 1];
    if (last !== undefined && last.lo === lo && last.hi === hi) last.rest.push(seq);
    else groups.push({ lo, hi, rest: [seq] });
  }
  const subs: Hir[] = groups.map((g) => {
    const head: Hir = { type: "bytes", set: [g.lo, g.hi] };
    if (g.rest[0].length <= (depth + 1) * 2) return head;
    return { type: "concat", subs: [head, utf8Trie(g.rest, depth + 1)] };
  });
  return subs.length === 1 ? subs[0] : { type: "alt", subs };
}

function bytesHir(bytes: number[]): Hir {
  const subs: Hir[] = bytes.map((b) => ({ type: "bytes", set: [b, b] }));
  return subs.length === 1 ? subs[0] : { type: "concat", subs };
}
