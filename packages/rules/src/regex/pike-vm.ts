/**
 * Pike VM: simulates the NFA on all threads in lock step, one input position at a time, keeping
 * threads in priority order so the first thread to reach Match is the leftmost-first match
 * (what a backtracker would report, without the backtracking). Each NFA state is entered at most
 * once per position, so the work is O(input length × NFA size): linear in the input.
 */
import { Op, type Program } from "./compiler.ts";
import { lookHoldsAt } from "./look.ts";

/**
 * Fallback of a read that cannot miss: pcs come from the program, whose targets the program
 * check (compiler.ts) verified once, and every list, stack and slot array is sized from the
 * program. The fallbacks keep per-step checks out of the search loops; an out-of-range pc would
 * read op `undefined` and end its thread.
 */
const NO_PC = -1;

/** Sparse set of pcs with per-thread capture slots. */
class ThreadList {
  readonly dense: Int32Array;
  readonly sparse: Int32Array;
  size = 0;
  readonly caps: Int32Array;

  constructor(n: number, slots: number) {
    this.dense = new Int32Array(n);
    this.sparse = new Int32Array(n);
    this.caps = new Int32Array(Math.max(1, n * slots));
  }

  has(pc: number): boolean {
    const i = this.sparse[pc] ?? this.size;
    return i < this.size && this.dense[i] === pc;
  }

  add(pc: number): void {
    this.sparse[pc] = this.size;
    this.dense[this.size++] = pc;
  }
}

export class PikeVm {
  private readonly prog: Program;
  private clist: ThreadList;
  private nlist: ThreadList;
  /** Explicit stack for the epsilon closure: pairs (pc, -1) to explore, (slot, value) to restore. */
  private readonly stack: Int32Array;
  private readonly scratch: Int32Array;
  private readonly slots: number;
  /** NFA states visited by the last search (the linear-time proof counts these). */
  steps = 0;

  constructor(prog: Program) {
    this.prog = prog;
    const n = prog.op.length;
    this.slots = prog.slotCount;
    this.clist = new ThreadList(n, this.slots);
    this.nlist = new ThreadList(n, this.slots);
    // Each pc is entered at most once per closure and pushes at most one frame (2 ints).
    this.stack = new Int32Array(4 * n + 4);
    this.scratch = new Int32Array(this.slots);
  }

  /**
   * Leftmost-first search. With `out` (length ≥ slotCount) captures are reported there (-1 =
   * unset) and the first match is extended as leftmost-first dictates; without it, returns at the
   * first match found (is_match).
   */
  search(input: string, out: Int32Array | undefined): boolean {
    const prog = this.prog;
    const op = prog.op;
    const pa = prog.a;
    const pb = prog.b;
    const sets = prog.sets;
    const slots = out === undefined ? 0 : this.slots;
    const len = input.length;
    let matched = false;
    let clist = this.clist;
    let nlist = this.nlist;
    clist.size = 0;
    this.steps = 0;
    const empty = this.scratch;
    for (let pos = 0; pos <= len; pos++) {
      if (!matched && (pos === 0 || !prog.anchoredStart)) {
        // The unanchored restart thread has the lowest priority: it goes after all others.
        empty.fill(-1);
        this.addThread(clist, prog.start, pos, input, empty, 0, slots);
      }
      if (clist.size === 0) break;
      nlist.size = 0;
      const c = pos < len ? input.charCodeAt(pos) : -1;
      const dense = clist.dense;
      const caps = clist.caps;
      for (let i = 0; i < clist.size; i++) {
        const pc = dense[i] ?? NO_PC;
        this.steps++;
        const o = op[pc];
        if (o === Op.Bytes) {
          if (c >= 0 && c < 256 && sets[pa[pc] ?? NO_PC]?.[c] === 1) {
            this.addThread(nlist, pb[pc] ?? NO_PC, pos + 1, input, caps, pc * slots, slots);
          }
        } else if (o === Op.Match) {
          if (out === undefined) return true;
          matched = true;
          for (let k = 0; k < slots; k++) out[k] = caps[pc * slots + k] ?? -1;
          // Lower-priority threads can no longer win: cut them off.
          break;
        }
      }
      const t = clist;
      clist = nlist;
      nlist = t;
    }
    this.clist = clist;
    this.nlist = nlist;
    return matched;
  }

  /** Follow epsilon edges from `pc` at `pos`, adding Bytes/Match states to `list` in priority order. */
  private addThread(
    list: ThreadList,
    pc0: number,
    pos: number,
    input: string,
    srcCaps: Int32Array,
    srcOff: number,
    slots: number,
  ): void {
    const prog = this.prog;
    const op = prog.op;
    const pa = prog.a;
    const pb = prog.b;
    const stack = this.stack;
    const cur = this.scratch;
    for (let k = 0; k < slots; k++) cur[k] = srcCaps[srcOff + k] ?? -1;
    let sp = 0;
    stack[sp++] = pc0;
    stack[sp++] = -1;
    while (sp > 0) {
      // Frames are pushed in pairs, so both reads are below the stack pointer.
      const second = stack[--sp] ?? -1;
      const first = stack[--sp] ?? NO_PC;
      if (second !== -1) {
        cur[first] = second === -2 ? -1 : second - 3;
        continue;
      }
      let pc = first;
      for (;;) {
        if (list.has(pc)) break;
        list.add(pc);
        this.steps++;
        const o = op[pc];
        if (o === Op.Jump) {
          pc = pb[pc] ?? NO_PC;
        } else if (o === Op.Split) {
          stack[sp++] = pb[pc] ?? NO_PC;
          stack[sp++] = -1;
          pc = pa[pc] ?? NO_PC;
        } else if (o === Op.Save) {
          const slot = pa[pc] ?? slots;
          if (slot < slots) {
            // Restore frames encode the old value v as v + 3 (so -1 stays distinct from markers).
            // slot < slots = cur.length, so the read is in range.
            const old = cur[slot] ?? -1;
            stack[sp++] = slot;
            stack[sp++] = old === -1 ? -2 : old + 3;
            cur[slot] = pos;
          }
          pc = pb[pc] ?? NO_PC;
        } else if (o === Op.Look) {
          if (!lookHoldsAt(pa[pc] ?? NO_PC, input, pos)) break;
          pc = pb[pc] ?? NO_PC;
        } else {
          if (slots > 0 && (o === Op.Bytes || o === Op.Match)) {
            const off = pc * slots;
            for (let k = 0; k < slots; k++) list.caps[off + k] = cur[k] ?? -1;
          }
          break;
        }
      }
    }
  }
}
