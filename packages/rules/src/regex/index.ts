/**
 * Linear-time regular expressions with Rust `regex` crate syntax and semantics, configured as
 * Cloudflare's wirefilter does (bytes mode, unanchored is_match, leftmost-first). See README.md.
 */
import {
  hasCrlfLook,
  isAnchoredEnd,
  literalPrefix,
  requiredLiteral,
  reverseHir,
} from "./analysis.ts";
import { compileProgram, DEFAULT_SIZE_LIMIT, type Program, SizeLimitError } from "./compiler.ts";
import { type Hir, Look } from "./hir.ts";
import { LazyDfa } from "./lazy-dfa.ts";
import { type ParsedRegex, parseRegex, RegexSyntaxError } from "./parser.ts";
import { PikeVm } from "./pike-vm.ts";
import { ParsedReplacement, parseReplacement, type Replacement } from "./replacement.ts";

export { DEFAULT_SIZE_LIMIT } from "./compiler.ts";
export { parseReplacement, type Replacement } from "./replacement.ts";

export interface CompiledRegex {
  /** Unanchored search; input is a "binary string": one char per byte, char codes 0..255. */
  test(input: string): boolean;
  /** regex_replace(): replace the FIRST leftmost-first match using the template; no match →
   *  input unchanged. */
  replaceFirst(input: string, replacement: Replacement): string;
}

export interface CompileOptions {
  /** Upper bound on the compiled NFA size, in states (default DEFAULT_SIZE_LIMIT). */
  sizeLimit?: number;
  /**
   * false: neither look in nor add to the compile cache (a caller that holds the regex itself,
   * or drops it soon, must not have the cache keep it alive). Default true.
   */
  cache?: boolean;
}

/** How test() searches; chosen once at compile time. */
const Strategy = {
  /** Forward lazy DFA (with an optional required-literal prefilter). */
  Forward: 0,
  /** Reverse anchored lazy DFA from the end of the input (pattern anchored at the end). */
  Reverse: 1,
  /** Pike VM (Unicode word boundaries need more context than the DFA keeps). */
  Pike: 2,
  /** Find the literal every match starts with, then run the forward DFA from there. */
  Prefix: 3,
} as const;
type Strategy = (typeof Strategy)[keyof typeof Strategy];

class Regex implements CompiledRegex {
  readonly pattern: string;
  readonly prog: Program;
  readonly captureCount: number;
  /** The reversed program, when the pattern is anchored at the end. */
  readonly reverseProg: Program | undefined;
  private readonly strategy: Strategy;
  /** Created on first use: its thread lists take NFA size × capture slots of memory. */
  private pikeVm: PikeVm | undefined;
  private readonly dfa: LazyDfa | undefined;
  /** A string every match contains ("" for none): its absence rejects an input at once. */
  private readonly literal: string;
  /** Finds the first occurrence of the literal prefix (Prefix strategy). */
  private readonly prefixText: string;
  private readonly prefixRe: RegExp | undefined;
  private readonly slots: Int32Array;

  constructor(pattern: string, parsed: ParsedRegex, prog: Program, sizeLimit: number) {
    this.pattern = pattern;
    this.prog = prog;
    this.captureCount = parsed.captureCount;
    this.pikeVm = undefined;
    this.slots = new Int32Array(prog.slotCount);
    this.reverseProg = undefined;
    this.literal = "";
    this.prefixText = "";
    this.prefixRe = undefined;
    if (usesUnicodeLook(prog)) {
      this.strategy = Strategy.Pike;
      this.dfa = undefined;
      return;
    }
    if (isAnchoredEnd(parsed.hir) && !hasCrlfLook(parsed.hir)) {
      try {
        this.reverseProg = compileProgram(reverseHir(parsed.hir), 0, sizeLimit);
      } catch (e) {
        if (!(e instanceof SizeLimitError)) throw e;
      }
    }
    if (this.reverseProg !== undefined) {
      this.strategy = Strategy.Reverse;
      this.dfa = new LazyDfa(this.reverseProg);
      return;
    }
    this.dfa = new LazyDfa(prog);
    this.strategy = Strategy.Forward;
    // Literal searches only pay when the DFA would scan the whole input anyway.
    if (prog.anchoredStart) return;
    const prefix = literalPrefix(parsed.hir);
    // Starting the DFA mid-input is exact only without looks (they would need the byte before).
    if (prefix !== undefined && prefix.text.length >= 2 && prog.lookMask === 0) {
      this.strategy = Strategy.Prefix;
      this.prefixText = prefix.text;
      if (prefix.ci) {
        // A JS RegExp made only of \xHH escapes is a plain literal search (no quantifier, so
        // no backtracking beyond the literal's length). With the `i` flag an ASCII letter
        // matches only its ASCII case pair in a binary string; the Latin-1 letters JS would
        // also fold can only add false positives, which the DFA then rules out.
        const source = Array.from(
          prefix.text,
          (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
        );
        this.prefixRe = new RegExp(source.join(""), "i");
      }
      return;
    }
    this.literal = requiredLiteral(parsed.hir);
  }

  test(input: string): boolean {
    const dfa = this.dfa;
    // The constructor gives every strategy but Pike a DFA.
    if (dfa === undefined) return this.pike().search(input, undefined);
    switch (this.strategy) {
      case Strategy.Forward:
        if (this.literal.length > 0 && input.indexOf(this.literal) === -1) return false;
        return dfa.isMatch(input);
      case Strategy.Reverse:
        return dfa.isMatchReverse(input);
      case Strategy.Prefix: {
        // No match can start before the first occurrence of the prefix every match begins with.
        const re = this.prefixRe;
        const at = re === undefined ? input.indexOf(this.prefixText) : input.search(re);
        return at >= 0 && dfa.isMatch(input, at);
      }
      default:
        return this.pike().search(input, undefined);
    }
  }

  /** How many times the lazy DFA's cache was cleared (full) so far; 0 for the Pike VM. */
  get cacheClears(): number {
    return this.dfa?.clears ?? 0;
  }

  private pike(): PikeVm {
    this.pikeVm ??= new PikeVm(this.prog);
    return this.pikeVm;
  }

  replaceFirst(input: string, replacement: Replacement): string {
    let rep: ParsedReplacement;
    if (replacement instanceof ParsedReplacement) rep = replacement;
    else {
      const parsed = parseReplacement(replacement.template);
      if (!parsed.ok) throw new TypeError(parsed.message);
      rep = parsed.value as ParsedReplacement;
    }
    // The DFA rejects non-matching inputs far faster than the capturing Pike VM.
    if (!this.test(input)) return input;
    const slots = this.slots;
    if (!this.pike().search(input, slots)) return input;
    let out = input.slice(0, slots[0]);
    for (let i = 0; i < rep.groups.length; i++) {
      out += rep.pieces[i];
      const g = rep.groups[i];
      if (g !== undefined && g <= this.captureCount) {
        const s = slots[2 * g] ?? -1;
        const e = slots[2 * g + 1] ?? -1;
        if (s >= 0 && e >= 0) out += input.slice(s, e);
      }
    }
    out += rep.pieces[rep.pieces.length - 1];
    return out + input.slice(slots[1]);
  }
}

/**
 * The bytes every match of `pattern` ends with when every match ends at the end of the input
 * (the pattern ends with `$` without `m`, or `\z`, after those bytes): so an input that does
 * not end with them cannot match. "" when there are none, or the pattern does not parse.
 */
export function literalSuffixOf(pattern: string): string {
  let hir: Hir;
  try {
    hir = parseRegex(pattern, DEFAULT_SIZE_LIMIT).hir;
  } catch {
    return "";
  }
  const items: Hir[] = [];
  const flatten = (h: Hir): void => {
    if (h.type === "concat") for (const s of h.subs) flatten(s);
    else if (h.type === "capture") flatten(h.sub);
    else if (h.type !== "empty") items.push(h);
  };
  flatten(hir);
  let i = items.length - 1;
  let anchored = false;
  for (; i >= 0; i--) {
    const h = items[i];
    if (h?.type !== "look" || h.look !== Look.EndText) break;
    anchored = true;
  }
  if (!anchored) return "";
  let out = "";
  for (; i >= 0; i--) {
    const h = items[i];
    if (h?.type !== "bytes" || h.set.length !== 2 || h.set[0] !== h.set[1]) break;
    out = String.fromCharCode(h.set[0] ?? 0) + out;
  }
  return out;
}

function usesUnicodeLook(prog: Program): boolean {
  return prog.lookMask >>> Look.WordUnicode !== 0;
}

/**
 * Compiled regexes by (size limit, pattern), most recently compiled last. Policies repeat
 * patterns and callers validate then compile, so this saves compile time and lets identical
 * patterns share one lazy-DFA cache. Sharing is safe: matching is synchronous and a regex's only
 * mutable state is its caches and scratch space. Bounded in entries and in NFA size.
 */
const cache = new Map<string, Regex>();
const CACHE_ENTRIES = 1024;
const CACHE_MAX_STATES = 20_000;

export function compileRegex(
  pattern: string,
  options?: CompileOptions,
): { ok: true; value: CompiledRegex } | { ok: false; message: string } {
  const sizeLimit = options?.sizeLimit ?? DEFAULT_SIZE_LIMIT;
  if (!(sizeLimit > 0))
    return { ok: false, message: "sizeLimit must be a positive number of states" };
  const cached = options?.cache !== false;
  const key = cached ? `${sizeLimit}:${pattern}` : "";
  const hit = cached ? cache.get(key) : undefined;
  if (hit !== undefined) return { ok: true, value: hit };
  try {
    const parsed = parseRegex(pattern, sizeLimit);
    const prog = compileProgram(parsed.hir, parsed.captureCount, sizeLimit);
    const regex = new Regex(pattern, parsed, prog, sizeLimit);
    if (cached && prog.op.length <= CACHE_MAX_STATES) {
      if (cache.size >= CACHE_ENTRIES) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(key, regex);
    }
    return { ok: true, value: regex };
  } catch (e) {
    if (e instanceof RegexSyntaxError || e instanceof SizeLimitError) {
      return { ok: false, message: e.message };
    }
    // A RangeError from an absurd pattern (e.g. memory) must not escape as a crash either.
    if (e instanceof RangeError) return { ok: false, message: `regex too large: ${e.message}` };
    throw e;
  }
}

/**
 * How many times `regex`'s lazy-DFA cache filled up and was cleared (its states are rebuilt as
 * searches go on): a caller can see a cache that thrashes and search another way.
 */
export function regexCacheClears(regex: CompiledRegex): number {
  return regex instanceof Regex ? regex.cacheClears : 0;
}

/** `h` without its capture groups (a union of patterns only answers whether one matches). */
function withoutCaptures(h: Hir): Hir {
  switch (h.type) {
    case "capture":
      return withoutCaptures(h.sub);
    case "repeat":
      return { ...h, sub: withoutCaptures(h.sub) };
    case "concat":
    case "alt":
      return { type: h.type, subs: h.subs.map(withoutCaptures) };
    default:
      return h;
  }
}

/**
 * One program that matches where any of `patterns` matches (their alternation, built from the
 * parsed patterns, so no pattern's flags or syntax can reach another): test() on it is the OR
 * of test() on each, in one pass over the input. Patterns that would force the Pike VM on the
 * whole union (Unicode word boundaries) or that do not compile are left out and listed in
 * `left` (indexes into `patterns`): test those on their own. `sizeLimit` bounds the union's
 * NFA; a union over it is an error (test the patterns one by one then). Not cached.
 */
export function compileRegexUnion(
  patterns: readonly string[],
  options?: CompileOptions,
): { ok: true; value: CompiledRegex; left: number[] } | { ok: false; message: string } {
  const sizeLimit = options?.sizeLimit ?? DEFAULT_SIZE_LIMIT;
  const subs: Hir[] = [];
  const left: number[] = [];
  try {
    for (let i = 0; i < patterns.length; i++) {
      let parsed: ParsedRegex;
      try {
        parsed = parseRegex(patterns[i] ?? "", sizeLimit);
      } catch (e) {
        if (e instanceof RegexSyntaxError || e instanceof SizeLimitError) {
          left.push(i);
          continue;
        }
        throw e;
      }
      if (parsed.unicodeWordBoundary) left.push(i);
      else subs.push(withoutCaptures(parsed.hir));
    }
    const parsed: ParsedRegex = {
      hir: { type: "alt", subs },
      captureCount: 0,
      unicodeWordBoundary: false,
    };
    const prog = compileProgram(parsed.hir, 0, sizeLimit);
    return { ok: true, value: new Regex(`union of ${subs.length}`, parsed, prog, sizeLimit), left };
  } catch (e) {
    if (e instanceof SizeLimitError) return { ok: false, message: e.message };
    if (e instanceof RangeError) return { ok: false, message: `regex too large: ${e.message}` };
    throw e;
  }
}

/**
 * Debug/test hook: run a search on one engine and report the work done: NFA-state visits for
 * the Pike VM; transitions taken plus NFA-state visits while building states for the lazy DFAs
 * ("dfa" scans forward, "reverse-dfa" scans the reversed program from the end and exists only
 * for patterns anchored at the end). Fresh engine state each call, so caches do not hide work.
 */
export function debugSearchSteps(
  regex: CompiledRegex,
  input: string,
  engine: "pike" | "dfa" | "reverse-dfa" = "pike",
): { matched: boolean; steps: number } {
  if (!(regex instanceof Regex)) throw new TypeError("not a regex from compileRegex()");
  if (engine === "pike") {
    const vm = new PikeVm(regex.prog);
    const matched = vm.search(input, undefined);
    return { matched, steps: vm.steps };
  }
  if (usesUnicodeLook(regex.prog)) throw new TypeError("the lazy DFA cannot run Unicode \\b");
  const prog = engine === "dfa" ? regex.prog : regex.reverseProg;
  if (prog === undefined) throw new TypeError("this pattern has no reverse program");
  const dfa = new LazyDfa(prog);
  const matched = dfa.isMatchCounting(input, engine === "reverse-dfa");
  return { matched, steps: dfa.steps };
}

/** Whether debugSearchSteps(regex, _, "reverse-dfa") is available. */
export function debugHasReverse(regex: CompiledRegex): boolean {
  return regex instanceof Regex && regex.reverseProg !== undefined;
}

/**
 * Debug/test hook: the leftmost-first match as capture slots [start0, end0, start1, end1, …]
 * (-1 for a group that did not participate), or null when there is no match.
 */
export function debugCaptures(regex: CompiledRegex, input: string): number[] | null {
  if (!(regex instanceof Regex)) throw new TypeError("not a regex from compileRegex()");
  const vm = new PikeVm(regex.prog);
  const slots = new Int32Array(regex.prog.slotCount);
  return vm.search(input, slots) ? Array.from(slots) : null;
}
