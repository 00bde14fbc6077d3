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
import { AtomParser, type Flags, NEST_LIMIT } from "./atom-parser.ts";
import { SizeLimitError } from "./compiler.ts";
import { EMPTY, type Hir, Look } from "./hir.ts";
import { bytesHir, HIR_DEPTH_LIMIT, hirDepth, lowerUnicodeClass } from "./lowering.ts";
import { ch, RegexSyntaxError } from "./pattern-reader.ts";
import { foldAscii, negate, type RangeSet } from "./range-set.ts";
import { encodeUtf8, foldUnicode } from "./unicode.ts";

export { RegexSyntaxError } from "./pattern-reader.ts";

export interface ParsedRegex {
  hir: Hir;
  /** Number of explicit capture groups (group 0, the whole match, not counted). */
  captureCount: number;
  /** Whether any look assertion is Unicode-aware (forces the Pike VM). */
  unicodeWordBoundary: boolean;
}

/** `sizeLimit`: the NFA state budget, checked early for patterns made of huge Unicode classes. */
export function parseRegex(pattern: string, sizeLimit = Number.POSITIVE_INFINITY): ParsedRegex {
  return new Parser(pattern, sizeLimit).parse();
}

/** The grammar: alternation, concatenation, repetition, groups and flags. */
class Parser extends AtomParser {
  private captureCount = 0;
  private readonly names = new Set<string>();

  private readonly sizeLimit: number;
  private estimatedStates = 0;

  constructor(pattern: string, sizeLimit: number) {
    super(pattern);
    this.sizeLimit = sizeLimit;
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

  private parseAlternation(): Hir {
    const branches: Hir[] = [this.parseConcat()];
    while (this.peek() === ch("|")) {
      this.pos++;
      branches.push(this.parseConcat());
    }
    const [only] = branches;
    return branches.length === 1 && only ? only : { type: "alt", subs: branches };
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
        const sub = items.pop();
        if (sub === undefined) throw this.error("repetition operator missing expression");
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
    const [only] = items;
    return items.length === 1 && only ? only : { type: "concat", subs: items };
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
    if ((set.at(-1) ?? 0) <= 0x7f) return { type: "bytes", set };
    const lowered = lowerUnicodeClass(set);
    // Every occurrence compiles to at least this many NFA states: fail before building a huge
    // HIR (e.g. thousands of `\pL`) that the compiler would reject anyway.
    this.estimatedStates += lowered.states;
    if (this.estimatedStates > this.sizeLimit) {
      throw new SizeLimitError("compiled regex exceeds size limit");
    }
    return lowered.hir;
  }
}
