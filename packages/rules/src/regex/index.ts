/**
 * Linear-time regular expressions with Rust `regex` crate syntax and semantics, configured as
 * Cloudflare's wirefilter does (bytes mode, unanchored is_match, leftmost-first). See README.md.
 */
import { compileProgram, DEFAULT_SIZE_LIMIT, type Program, SizeLimitError } from "./compiler.ts";
import { Look } from "./hir.ts";
import { LazyDfa } from "./lazy-dfa.ts";
import { parseRegex, RegexSyntaxError } from "./parser.ts";
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
}

class Regex implements CompiledRegex {
  readonly pattern: string;
  readonly prog: Program;
  readonly captureCount: number;
  private readonly pike: PikeVm;
  /** Undefined when the pattern has a Unicode word boundary (one byte of context is not enough). */
  private readonly dfa: LazyDfa | undefined;
  private readonly slots: Int32Array;

  constructor(pattern: string, prog: Program, captureCount: number) {
    this.pattern = pattern;
    this.prog = prog;
    this.captureCount = captureCount;
    this.pike = new PikeVm(prog);
    this.dfa = usesUnicodeLook(prog) ? undefined : new LazyDfa(prog);
    this.slots = new Int32Array(prog.slotCount);
  }

  test(input: string): boolean {
    const dfa = this.dfa;
    return dfa !== undefined ? dfa.isMatch(input) : this.pike.search(input, undefined);
  }

  replaceFirst(input: string, replacement: Replacement): string {
    let rep: ParsedReplacement;
    if (replacement instanceof ParsedReplacement) rep = replacement;
    else {
      const parsed = parseReplacement(replacement.template);
      if (!parsed.ok) throw new TypeError(parsed.message);
      rep = parsed.value as ParsedReplacement;
    }
    const slots = this.slots;
    if (!this.pike.search(input, slots)) return input;
    let out = input.slice(0, slots[0]);
    for (let i = 0; i < rep.groups.length; i++) {
      out += rep.pieces[i];
      const g = rep.groups[i];
      if (g <= this.captureCount) {
        const s = slots[2 * g];
        const e = slots[2 * g + 1];
        if (s >= 0 && e >= 0) out += input.slice(s, e);
      }
    }
    out += rep.pieces[rep.pieces.length - 1];
    return out + input.slice(slots[1]);
  }
}

function usesUnicodeLook(prog: Program): boolean {
  return prog.lookMask >>> Look.WordUnicode !== 0;
}

export function compileRegex(
  pattern: string,
  options?: CompileOptions,
): { ok: true; value: CompiledRegex } | { ok: false; message: string } {
  const sizeLimit = options?.sizeLimit ?? DEFAULT_SIZE_LIMIT;
  try {
    const parsed = parseRegex(pattern);
    const prog = compileProgram(parsed.hir, parsed.captureCount, sizeLimit);
    return { ok: true, value: new Regex(pattern, prog, parsed.captureCount) };
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
 * Debug/test hook: run a search on the given engine and report the work done, in NFA-state
 * visits (Pike VM) or DFA transitions plus state-construction visits (lazy DFA).
 */
export function debugSearchSteps(
  regex: CompiledRegex,
  input: string,
  engine: "pike" | "dfa" = "pike",
): { matched: boolean; steps: number } {
  if (!(regex instanceof Regex)) throw new TypeError("not a regex from compileRegex()");
  if (engine === "pike") {
    const vm = new PikeVm(regex.prog);
    const matched = vm.search(input, undefined);
    return { matched, steps: vm.steps };
  }
  if (usesUnicodeLook(regex.prog)) throw new TypeError("the lazy DFA cannot run Unicode \\b");
  const dfa = new LazyDfa(regex.prog);
  const matched = dfa.isMatchCounting(input);
  return { matched, steps: dfa.steps };
}
