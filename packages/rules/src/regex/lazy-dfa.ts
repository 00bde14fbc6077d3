/**
 * Lazy DFA for is_match: DFA states are sets of NFA states, built on demand while scanning and
 * cached in a transition table bounded in memory (cleared and rebuilt when full). Each input
 * byte costs one table lookup when the transition is cached and at most one state construction,
 * O(NFA size), when not, so a search is linear in the input whatever the pattern.
 *
 * Empty-width assertions: a state remembers the category of the byte before it (start of text,
 * `\n`, `\r`, ASCII word byte, other), which decides every look-behind; look-ahead is decided
 * when the next byte is known, because the epsilon closure of a state is computed per outgoing
 * transition (and once more for end of input). Unicode word boundaries need more than one byte of
 * context, so patterns with them use the Pike VM instead.
 */
import { Op, type Program } from "./compiler.ts";
import { Look } from "./hir.ts";
import { isWordByte, lookHoldsBytes, NONE } from "./look.ts";
import { bound } from "./range-set.ts";

/** Transition not computed yet. */
const UNKNOWN = -1;
/** A match was found: is_match is true. */
const MATCHED = -2;
/** No match is possible any more (anchored search with no live NFA state). */
const DEAD = -3;

/**
 * Previous-byte categories, each named by a byte representative of it (what looks are evaluated
 * with): start of text, `\n`, `\r`, ASCII word byte, other.
 */
const CTX_START = NONE;
const CTX_LF = 0x0a;
const CTX_CR = 0x0d;
const CTX_WORD = 0x61;
const CTX_OTHER = 0x20;

/** Fallback of a read the program check (compiler.ts) makes unreachable: no instruction. */
const NO_PC = -1;

/** `next` value meaning "not known yet": a look that depends on the next byte fails. */
const NEXT_UNKNOWN = -4;

/** Whether a look's truth depends on the byte after the position. */
function needsNext(look: number): boolean {
  return look !== Look.StartText && look !== Look.StartLine && look !== Look.WordStartHalfAscii;
}

/** States the transition table has room for at first. */
const INITIAL_STATES = 4;

/** Default cache budget: wirefilter's lazy-DFA cache size (2 MiB). */
const CACHE_BYTES = 2 * 1024 * 1024;

export class LazyDfa {
  private readonly prog: Program;
  /** Byte → equivalence class; class `nonByteClass` is any code unit above 0xFF. */
  readonly classOf: Uint8Array;
  private readonly nonByteClass: number;
  /** Row width of the transition table. */
  private readonly stride: number;
  /** A representative byte per class (-2 for the non-byte class). */
  private readonly classByte: Int32Array;
  /** The previous-byte category (CTX_*) a class leaves behind. */
  private readonly classCtx: Int32Array;
  private readonly maxStates: number;
  /** Cache budget in bytes, and the estimated bytes used by the current states. */
  private readonly budget: number;
  private used = 0;
  private readonly anchored: boolean;

  private trans: Int32Array;
  private eoi: Int8Array;
  private kernels: Int32Array[] = [];
  private ctxs: number[] = [];
  private readonly index = new Map<string, number>();
  private startId = UNKNOWN;
  /** 0 = not computed, 1 = no, 2 = the start state matches before reading anything. */
  private startNow = 0;

  // Closure scratch: generation-stamped visited marks and an explicit stack.
  private readonly mark: Uint32Array;
  private gen = 0;
  private readonly stack: Int32Array;
  private readonly found: Int32Array;
  private foundCount = 0;

  /** Work counter for the linear-time tests: NFA states visited while building states. */
  steps = 0;
  /** How many times the cache was cleared (observability; never affects results). */
  clears = 0;

  constructor(prog: Program, cacheBytes: number = CACHE_BYTES) {
    this.prog = prog;
    const n = prog.op.length;
    this.mark = new Uint32Array(n);
    this.stack = new Int32Array(n + 1);
    this.found = new Int32Array(n + 1);
    this.anchored = prog.anchoredStart;

    // Byte classes: bytes no instruction (and no assertion) can tell apart share a column.
    const boundary = new Uint8Array(257);
    for (const ranges of prog.setRanges) {
      for (let i = 0; i < ranges.length; i += 2) {
        boundary[bound(ranges, i)] = 1;
        boundary[bound(ranges, i + 1) + 1] = 1;
      }
    }
    const hasLook = prog.lookMask !== 0;
    if (hasLook) {
      boundary[0x0a] = boundary[0x0b] = boundary[0x0d] = boundary[0x0e] = 1;
      for (let c = 1; c < 256; c++) if (isWordByte(c) !== isWordByte(c - 1)) boundary[c] = 1;
    }
    this.classOf = new Uint8Array(256);
    let cls = 0;
    const reps: number[] = [0];
    for (let c = 0; c < 256; c++) {
      if (c > 0 && boundary[c]) {
        cls++;
        reps.push(c);
      }
      this.classOf[c] = cls;
    }
    this.nonByteClass = cls + 1;
    reps.push(-2);
    this.stride = cls + 2;
    this.classByte = Int32Array.from(reps);
    this.classCtx = new Int32Array(this.stride);
    for (const [k, b] of reps.entries()) {
      this.classCtx[k] = !hasLook
        ? CTX_START
        : b === 0x0a
          ? CTX_LF
          : b === 0x0d
            ? CTX_CR
            : isWordByte(b)
              ? CTX_WORD
              : CTX_OTHER;
    }
    this.budget = cacheBytes;
    this.maxStates = Math.max(8, Math.floor(cacheBytes / (4 * this.stride + 64)));
    // Room for a few states: most searches of a small pattern meet only a handful (a list's
    // thousand regexes each held a 16-state table before being used); it doubles as needed.
    const initial = Math.min(this.maxStates, INITIAL_STATES);
    this.trans = new Int32Array(initial * this.stride).fill(UNKNOWN);
    this.eoi = new Int8Array(initial);
  }

  /**
   * is_match scanning forward (unanchored unless the program is anchored at the start). State
   * ids in the table are premultiplied by the row width, so a step is one add and one load.
   */
  isMatch(input: string, from = 0): boolean {
    // Starting past 0 is only valid for programs without looks (the start state assumes the
    // start of text); the caller guarantees it.
    const classOf = this.classOf;
    const nonByte = this.nonByteClass;
    let trans = this.trans;
    if (this.startMatchesNow()) return true;
    let s = this.startId;
    if (s === UNKNOWN) s = this.start();
    const len = input.length;
    for (let i = from; i < len; i++) {
      const c = input.charCodeAt(i);
      // classOf has 256 entries and every state row `stride` columns, so both reads are in
      // range; the fallbacks only keep a per-byte check out of this loop (a row past the table
      // would go to transition(), which checks the state and throws).
      const k = c < 256 ? (classOf[c] ?? nonByte) : nonByte;
      let t = trans[s + k] ?? UNKNOWN;
      if (t < 0) {
        if (t === UNKNOWN) {
          t = this.transition(s, k);
          trans = this.trans;
        }
        if (t === MATCHED) return true;
        if (t === DEAD) return false;
      }
      s = t;
    }
    return this.matchesAtEnd(s);
  }

  /**
   * is_match of a program built from the reversed pattern, scanning the input from its end:
   * used for patterns anchored at the end of text, where the anchored reverse scan reads only
   * the bytes a match could span and stops at the first byte that rules a match out.
   */
  isMatchReverse(input: string): boolean {
    const classOf = this.classOf;
    const nonByte = this.nonByteClass;
    let trans = this.trans;
    if (this.startMatchesNow()) return true;
    let s = this.startId;
    if (s === UNKNOWN) s = this.start();
    for (let i = input.length - 1; i >= 0; i--) {
      const c = input.charCodeAt(i);
      // In range as in isMatch; the fallbacks keep the check in transition().
      const k = c < 256 ? (classOf[c] ?? nonByte) : nonByte;
      let t = trans[s + k] ?? UNKNOWN;
      if (t < 0) {
        if (t === UNKNOWN) {
          t = this.transition(s, k);
          trans = this.trans;
        }
        if (t === MATCHED) return true;
        if (t === DEAD) return false;
      }
      s = t;
    }
    return this.matchesAtEnd(s);
  }

  /** isMatch / isMatchReverse counting one step per transition (for the linear-time tests). */
  isMatchCounting(input: string, reverse: boolean): boolean {
    if (this.startMatchesNow()) return true;
    let s = this.startId;
    if (s === UNKNOWN) s = this.start();
    const len = input.length;
    for (let j = 0; j < len; j++) {
      const c = input.charCodeAt(reverse ? len - 1 - j : j);
      const k = c < 256 ? (this.classOf[c] ?? this.nonByteClass) : this.nonByteClass;
      this.steps++;
      let t = this.trans[s + k] ?? UNKNOWN;
      if (t === UNKNOWN) t = this.transition(s, k);
      if (t === MATCHED) return true;
      if (t === DEAD) return false;
      s = t;
    }
    return this.matchesAtEnd(s);
  }

  private start(): number {
    const kernel = Int32Array.of(this.prog.start);
    this.startId = this.intern(kernel, CTX_START);
    return this.startId;
  }

  /** Whether the empty string at the start already matches whatever follows (e.g. `a*`). */
  private startMatchesNow(): boolean {
    if (this.startNow === 0) {
      const kernel = Int32Array.of(this.prog.start);
      this.startNow = this.closure(kernel, CTX_START, NEXT_UNKNOWN) ? 2 : 1;
    }
    return this.startNow === 2;
  }

  private matchesAtEnd(s: number): boolean {
    const id = s / this.stride;
    let v = this.eoi[id];
    if (v === 0) {
      const state = this.state(id);
      v = this.closure(state.kernel, state.ctx, NONE) ? 2 : 1;
      this.eoi[id] = v;
    }
    return v === 2;
  }

  /** The kernel and context of cached state `id` (a state id comes from intern()). */
  private state(id: number): { kernel: Int32Array; ctx: number } {
    const kernel = this.kernels[id];
    const ctx = this.ctxs[id];
    if (kernel === undefined || ctx === undefined) {
      throw new Error(
        `internal: lazy DFA state ${id} is not cached (${this.kernels.length} states)`,
      );
    }
    return { kernel, ctx };
  }

  /** Compute (and cache) the transition from state `s` (premultiplied) on byte class `k`. */
  private transition(s: number, k: number): number {
    const prog = this.prog;
    const b = this.classByte[k];
    const ctx = this.classCtx[k];
    if (b === undefined || ctx === undefined)
      throw new Error(`internal: lazy DFA has no byte class ${k}`);
    const from = this.state(s / this.stride);
    if (this.closure(from.kernel, from.ctx, b)) {
      this.trans[s + k] = MATCHED;
      return MATCHED;
    }
    const next: number[] = [];
    if (b >= 0) {
      const found = this.found;
      for (let j = 0; j < this.foundCount; j++) {
        // `found` holds Bytes instructions, whose set and target the program check verified.
        const pc = found[j] ?? NO_PC;
        if (prog.sets[prog.a[pc] ?? NO_PC]?.[b] === 1) next.push(prog.b[pc] ?? NO_PC);
      }
    }
    if (!this.anchored) next.push(prog.start);
    if (next.length === 0) {
      this.trans[s + k] = DEAD;
      return DEAD;
    }
    next.sort((x, y) => x - y);
    let w = 0;
    for (const pc of next) if (w === 0 || pc !== next[w - 1]) next[w++] = pc;
    next.length = w;
    const clearsBefore = this.clears;
    const kernel = Int32Array.from(next);
    // If the new state's closure reaches Match whatever byte comes next, is_match is decided
    // now: record the transition as MATCHED instead of stepping into that state.
    if (this.closure(kernel, ctx, NEXT_UNKNOWN)) {
      this.trans[s + k] = MATCHED;
      return MATCHED;
    }
    const target = this.intern(kernel, ctx);
    // After a cache clear `s` no longer exists; the new state is still correct to continue from.
    if (this.clears === clearsBefore) this.trans[s + k] = target;
    return target;
  }

  /** The premultiplied id of the state (kernel, ctx), creating it if needed. */
  private intern(kernel: Int32Array, ctx: number): number {
    const key = `${ctx}:${kernel.join(",")}`;
    const found = this.index.get(key);
    if (found !== undefined) return found * this.stride;
    // Budget: the table row, the kernel and its key (large NFAs make large kernels). A state
    // that alone exceeds the budget is still added after a clear, so the search progresses.
    const cost = 4 * this.stride + 4 * kernel.length + 2 * key.length + 64;
    const full = this.used + cost > this.budget && this.kernels.length > 0;
    if (this.kernels.length >= this.maxStates || full) this.clear();
    this.used += cost;
    const id = this.kernels.length;
    if ((id + 1) * this.stride > this.trans.length) {
      const cap = Math.min(this.maxStates, Math.max(INITIAL_STATES, (id + 1) * 2));
      const t = new Int32Array(cap * this.stride).fill(UNKNOWN);
      t.set(this.trans.subarray(0, id * this.stride));
      this.trans = t;
      const e = new Int8Array(cap);
      e.set(this.eoi.subarray(0, id));
      this.eoi = e;
    }
    this.kernels.push(kernel);
    this.ctxs.push(ctx);
    this.index.set(key, id);
    return id * this.stride;
  }

  /** Drop every cached state (the cache is full); states are rebuilt as the search goes on. */
  private clear(): void {
    this.clears++;
    this.used = 0;
    this.kernels = [];
    this.ctxs = [];
    this.index.clear();
    this.trans.fill(UNKNOWN);
    this.eoi.fill(0);
    this.startId = UNKNOWN;
  }

  /**
   * Epsilon closure of `kernel` at a position between bytes `prev` and `next` (NONE at the
   * text's ends). Collects the Bytes instructions reached in `found`; returns true as soon as
   * Match is reachable.
   */
  private closure(kernel: Int32Array, prev: number, next: number): boolean {
    const prog = this.prog;
    const op = prog.op;
    const pa = prog.a;
    const pb = prog.b;
    const mark = this.mark;
    const stack = this.stack;
    if (++this.gen === 0xffffffff) {
      mark.fill(0);
      this.gen = 1;
    }
    const gen = this.gen;
    this.foundCount = 0;
    // Kernel entries and the program's targets are in range (the program check in compiler.ts),
    // so the `?? NO_PC` fallbacks never fire; an out-of-range pc would read op `undefined` and
    // end its thread at the final `else break`.
    for (let j = kernel.length - 1; j >= 0; j--) {
      let sp = 0;
      stack[sp++] = kernel[j] ?? NO_PC;
      while (sp > 0) {
        let pc = stack[--sp] ?? NO_PC;
        for (;;) {
          if (mark[pc] === gen) break;
          mark[pc] = gen;
          this.steps++;
          const o = op[pc];
          if (o === Op.Jump || o === Op.Save) pc = pb[pc] ?? NO_PC;
          else if (o === Op.Split) {
            stack[sp++] = pb[pc] ?? NO_PC;
            pc = pa[pc] ?? NO_PC;
          } else if (o === Op.Look) {
            const look = pa[pc] ?? NO_PC;
            // With the next byte unknown only looks decided by the previous byte can hold.
            const holds =
              next === NEXT_UNKNOWN
                ? !needsNext(look) && lookHoldsBytes(look, prev, NONE)
                : lookHoldsBytes(look, prev, next);
            if (!holds) break;
            pc = pb[pc] ?? NO_PC;
          } else if (o === Op.Bytes) {
            this.found[this.foundCount++] = pc;
            break;
          } else if (o === Op.Match) {
            return true;
          } else break;
        }
      }
    }
    return false;
  }
}
