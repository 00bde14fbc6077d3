/**
 * The atoms of Rust regex syntax: escapes (literals, hex, perl and Unicode classes, assertions)
 * and bracketed classes with nesting, POSIX classes and set operations. Flags are applied here:
 * classes are built in the current mode's units (bytes, or code points with `(?u)`), case-folded
 * before negation as regex-syntax does.
 */
import { Look } from "./hir.ts";
import { ch, isAsciiAlnum, isHex, isWhitespace, PatternReader } from "./pattern-reader.ts";
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
  foldUnicode,
  unicodeDigit,
  unicodeProperty,
  unicodeSpace,
  unicodeWord,
} from "./unicode.ts";

export interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
  u: boolean;
  x: boolean;
  R: boolean;
}

/** Rust's default nest limit (regex-syntax `ParserBuilder::nest_limit`). */
export const NEST_LIMIT = 250;

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

export class AtomParser extends PatternReader {
  protected flags: Flags = { i: false, m: false, s: false, U: false, u: false, x: false, R: false };
  /** Open groups and classes (bounded by NEST_LIMIT). */
  protected depth = 0;
  /** Whether a Unicode-aware word assertion was used (the DFA cannot run those). */
  protected unicodeWordBoundary = false;

  /** In `x` mode, skip whitespace and `#` comments (to end of line). */
  protected skipSpace(): void {
    if (!this.flags.x) return;
    while (!this.eof()) {
      const c = this.peek();
      if (isWhitespace(c)) this.pos++;
      else if (c === ch("#")) {
        while (!this.eof() && this.peek() !== 0x0a) this.pos++;
      } else break;
    }
  }

  protected enter(at: number): void {
    this.depth++;
    if (this.depth > NEST_LIMIT) throw this.error(`nesting deeper than ${NEST_LIMIT} levels`, at);
  }

  /** At `\`. */
  protected parseEscape(inClass: boolean): Escape {
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

  protected assertionEscape(c: number, start: number): Look | undefined {
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
  protected parseHex(start: number): Escape {
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
  protected parseUnicodeClass(start: number): RangeSet {
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

  protected perl(ascii: RangeSet, unicode: () => RangeSet, negated: boolean): RangeSet {
    if (this.flags.u) {
      const set = unicode();
      return negated ? negate(set, MAX_CODEPOINT) : set;
    }
    return negated ? negate(ascii, MAX_BYTE) : ascii;
  }

  protected universe(): number {
    return this.flags.u ? MAX_CODEPOINT : MAX_BYTE;
  }

  protected fold(set: RangeSet): RangeSet {
    if (!this.flags.i) return set;
    return this.flags.u ? foldUnicode(set) : foldAscii(set);
  }

  /** At `[`: a bracketed class, returned as a set in the current mode's units. */
  protected parseBracket(): RangeSet {
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
  protected tryAsciiClass(): RangeSet | undefined {
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

  protected parseClassAtom(): ClassAtom {
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
  protected classValue(atom: { cp: number; byte: boolean }, at: number): number {
    if (this.flags.u || atom.byte || atom.cp <= 0x7f) return atom.cp;
    throw this.error(
      "non-ASCII character in a bytes-mode class (enable Unicode with (?u) or use \\xHH bytes)",
      at,
    );
  }

  protected parseClassRange(out: number[]): void {
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
}
