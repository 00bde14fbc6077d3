/**
 * HIR → Thompson NFA ("program"), stored in parallel typed arrays so the matchers walk flat
 * memory. Counted repetition is expanded, which is what the size limit bounds.
 */
import { type Hir, Look } from "./hir.ts";
import { bound, type RangeSet } from "./range-set.ts";

export const Op = {
  /** Accept. */
  Match: 0,
  /** Consume one byte in `sets[a]`, then go to `b`. */
  Bytes: 1,
  /** Fork: `a` is preferred (leftmost-first priority), `b` second. */
  Split: 2,
  /** Record the position in capture slot `a`, then go to `b`. */
  Save: 3,
  /** Empty-width assertion `a` (a Look value), then go to `b`. */
  Look: 4,
  /** Go to `b`. */
  Jump: 5,
  /** Dead end (e.g. an empty class). */
  Fail: 6,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

export interface Program {
  readonly op: Uint8Array;
  readonly a: Int32Array;
  readonly b: Int32Array;
  /** Byte membership tables (256 entries of 0/1), indexed by a Bytes instruction's `a`. */
  readonly sets: readonly Uint8Array[];
  /** The same sets as sorted inclusive byte ranges (what the DFA derives byte classes from). */
  readonly setRanges: readonly RangeSet[];
  readonly start: number;
  /** 2 × (capture groups + 1): slot 2k/2k+1 are the start/end of group k (0 = whole match). */
  readonly slotCount: number;
  /** Every match must start at offset 0 (pattern begins with `\A` / `^` without `m`). */
  readonly anchoredStart: boolean;
  /** Union of (1 << look) over the look instructions present. */
  readonly lookMask: number;
}

export class SizeLimitError extends Error {}

/**
 * Default NFA size limit in states: wirefilter's 10 MiB compiled-size limit divided by the ~16
 * bytes a Rust NFA state takes, i.e. about 655k states.
 */
export const DEFAULT_SIZE_LIMIT = Math.floor((10 * 1024 * 1024) / 16);

interface Frag {
  start: number;
  /** Dangling exits, each encoded as pc * 2 + (0 for field a, 1 for field b). */
  outs: number[];
}

/**
 * Byte tables by their ranges, shared by every program: most patterns are made of literal
 * bytes and a few classes (`[0-9]`, `.`), so a thousand list regexes would hold thousands of
 * identical 256-byte tables (a third of a small regex's memory). Tables are never written once
 * built. Bounded: past SHARED_SETS distinct sets a program gets tables of its own.
 */
const sharedSets = new Map<string, { readonly table: Uint8Array; readonly ranges: RangeSet }>();
const SHARED_SETS = 4096;

function setTable(key: string, set: RangeSet): { table: Uint8Array; ranges: RangeSet } {
  const hit = sharedSets.get(key);
  if (hit !== undefined) return hit;
  const table = new Uint8Array(256);
  for (let i = 0; i < set.length; i += 2) table.fill(1, bound(set, i), bound(set, i + 1) + 1);
  const made = { table, ranges: set };
  if (sharedSets.size < SHARED_SETS) sharedSets.set(key, made);
  return made;
}

class Builder {
  op: number[] = [];
  a: number[] = [];
  b: number[] = [];
  sets: Uint8Array[] = [];
  setRanges: RangeSet[] = [];
  private readonly setIndex = new Map<string, number>();
  lookMask = 0;
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  emit(op: Op, a: number, b: number): number {
    if (this.op.length >= this.limit) throw new SizeLimitError("compiled regex exceeds size limit");
    this.op.push(op);
    this.a.push(a);
    this.b.push(b);
    return this.op.length - 1;
  }

  setId(set: RangeSet): number {
    const key = set.join(",");
    let id = this.setIndex.get(key);
    if (id === undefined) {
      const { table, ranges } = setTable(key, set);
      id = this.sets.length;
      this.sets.push(table);
      this.setRanges.push(ranges);
      this.setIndex.set(key, id);
    }
    return id;
  }

  patch(outs: number[], target: number): void {
    for (const o of outs) {
      if (o & 1) this.b[o >> 1] = target;
      else this.a[o >> 1] = target;
    }
  }
}

export function compileProgram(hir: Hir, captureCount: number, sizeLimit: number): Program {
  const bld = new Builder(sizeLimit);
  // Group 0 wraps the whole pattern so the Pike VM reports the match span.
  const body = compileNode(bld, { type: "capture", index: 0, sub: hir });
  const match = bld.emit(Op.Match, 0, 0);
  bld.patch(body.outs, match);
  const prog: Program = {
    op: Uint8Array.from(bld.op),
    a: Int32Array.from(bld.a),
    b: Int32Array.from(bld.b),
    sets: bld.sets,
    setRanges: bld.setRanges,
    start: body.start,
    slotCount: 2 * (captureCount + 1),
    anchoredStart: isAnchoredStart(hir),
    lookMask: bld.lookMask,
  };
  checkProgram(prog);
  return prog;
}

/**
 * Every jump target, set id and capture slot of the program is in range. The matchers read the
 * program's typed arrays in their inner loops with a fallback (`?? Op.Fail`, `?? NO_PC`) instead
 * of a check per step; this check, once per compiled pattern, is what makes those fallbacks
 * unreachable. A failure is a compiler bug, reported as such.
 */
function checkProgram(prog: Program): void {
  const n = prog.op.length;
  const bad = (pc: number, what: string): never => {
    throw new Error(`internal: regex program instruction ${pc} has ${what}`);
  };
  if (prog.start < 0 || prog.start >= n) bad(prog.start, "the start out of range");
  for (const [pc, op] of prog.op.entries()) {
    const a = prog.a[pc] ?? bad(pc, "no operand a");
    const b = prog.b[pc] ?? bad(pc, "no operand b");
    const target = (t: number) => t >= 0 && t < n;
    switch (op) {
      case Op.Bytes:
        if (prog.sets[a]?.length !== 256) bad(pc, `set ${a} missing`);
        if (!target(b)) bad(pc, `target ${b} out of range`);
        break;
      case Op.Split:
        if (!target(a) || !target(b)) bad(pc, `targets ${a}/${b} out of range`);
        break;
      case Op.Save:
        if (a < 0) bad(pc, `slot ${a}`);
        if (!target(b)) bad(pc, `target ${b} out of range`);
        break;
      case Op.Look:
      case Op.Jump:
        if (!target(b)) bad(pc, `target ${b} out of range`);
        break;
      case Op.Match:
      case Op.Fail:
        break;
      default:
        bad(pc, `unknown op ${op}`);
    }
  }
}

function compileNode(bld: Builder, h: Hir): Frag {
  switch (h.type) {
    case "empty": {
      const pc = bld.emit(Op.Jump, 0, -1);
      return { start: pc, outs: [pc * 2 + 1] };
    }
    case "bytes": {
      if (h.set.length === 0) return { start: bld.emit(Op.Fail, 0, 0), outs: [] };
      const pc = bld.emit(Op.Bytes, bld.setId(h.set), -1);
      return { start: pc, outs: [pc * 2 + 1] };
    }
    case "look": {
      bld.lookMask |= 1 << h.look;
      const pc = bld.emit(Op.Look, h.look, -1);
      return { start: pc, outs: [pc * 2 + 1] };
    }
    case "capture": {
      const open = bld.emit(Op.Save, h.index * 2, -1);
      const sub = compileNode(bld, h.sub);
      bld.b[open] = sub.start;
      const close = bld.emit(Op.Save, h.index * 2 + 1, -1);
      bld.patch(sub.outs, close);
      return { start: open, outs: [close * 2 + 1] };
    }
    case "concat": {
      let first: Frag | undefined;
      let outs: number[] = [];
      for (const sub of h.subs) {
        const f = compileNode(bld, sub);
        if (first === undefined) first = f;
        else bld.patch(outs, f.start);
        outs = f.outs;
      }
      if (first === undefined) return compileNode(bld, { type: "empty" });
      return { start: first.start, outs };
    }
    case "alt": {
      if (h.subs.length === 0) return { start: bld.emit(Op.Fail, 0, 0), outs: [] };
      const [only] = h.subs;
      if (h.subs.length === 1 && only !== undefined) return compileNode(bld, only);
      // A chain of splits: split(b1, split(b2, ... bn)); earlier branches are preferred.
      const outs: number[] = [];
      let start = -1;
      let prevSplit = -1;
      for (const [i, sub] of h.subs.entries()) {
        const last = i === h.subs.length - 1;
        const split = last ? -1 : bld.emit(Op.Split, -1, -1);
        const f = compileNode(bld, sub);
        outs.push(...f.outs);
        const entry = last ? f.start : split;
        if (!last) bld.a[split] = f.start;
        if (prevSplit >= 0) bld.b[prevSplit] = entry;
        else start = entry;
        prevSplit = split;
      }
      return { start, outs };
    }
    case "repeat":
      return compileRepeat(bld, h.sub, h.min, h.max, h.greedy);
  }
}

/** `sub?` (greedy: prefer taking it). */
function optional(bld: Builder, sub: Hir, greedy: boolean): Frag {
  const split = bld.emit(Op.Split, -1, -1);
  const f = compileNode(bld, sub);
  if (greedy) {
    bld.a[split] = f.start;
    return { start: split, outs: [...f.outs, split * 2 + 1] };
  }
  bld.b[split] = f.start;
  return { start: split, outs: [...f.outs, split * 2] };
}

/** `sub*`. */
function star(bld: Builder, sub: Hir, greedy: boolean): Frag {
  const split = bld.emit(Op.Split, -1, -1);
  const f = compileNode(bld, sub);
  bld.patch(f.outs, split);
  if (greedy) {
    bld.a[split] = f.start;
    return { start: split, outs: [split * 2 + 1] };
  }
  bld.b[split] = f.start;
  return { start: split, outs: [split * 2] };
}

function compileRepeat(bld: Builder, sub: Hir, min: number, max: number, greedy: boolean): Frag {
  const parts: Frag[] = [];
  const mandatory = max === -1 && min > 0 ? min - 1 : min;
  for (let i = 0; i < mandatory; i++) parts.push(compileNode(bld, sub));
  if (max === -1) {
    if (min === 0 && !canMatchEmpty(sub)) parts.push(star(bld, sub, greedy));
    else if (min === 0) {
      // As Rust's Thompson compiler does, `x*` with an x that can match empty is `(x+)?`: the
      // leftmost-first match then equals Rust's (it differs from JS backtracking there).
      const plus = compileRepeat(bld, sub, 1, -1, greedy);
      const split = bld.emit(Op.Split, -1, -1);
      if (greedy) bld.a[split] = plus.start;
      else bld.b[split] = plus.start;
      parts.push({ start: split, outs: [...plus.outs, split * 2 + (greedy ? 1 : 0)] });
    } else {
      // `sub+`: one more copy that loops back on itself.
      const f = compileNode(bld, sub);
      const split = bld.emit(Op.Split, -1, -1);
      bld.patch(f.outs, split);
      if (greedy) bld.a[split] = f.start;
      else bld.b[split] = f.start;
      parts.push({ start: f.start, outs: [split * 2 + (greedy ? 1 : 0)] });
    }
  } else if (max > min) {
    // `sub{0,k}` as nested optionals: (sub(sub(sub)?)?)?, every level exits to the end.
    const exits: number[] = [];
    let prev: Frag | undefined;
    let first: Frag | undefined;
    for (let i = min; i < max; i++) {
      const f = optional(bld, sub, greedy);
      // The skip branch of this level is the last entry of outs (see optional()).
      const skip = f.outs.at(-1);
      if (skip === undefined) throw new Error("internal: optional() fragment has no skip exit");
      exits.push(skip);
      if (prev === undefined) first = f;
      else bld.patch(prev.outs.slice(0, -1), f.start);
      prev = f;
    }
    // max > min: the loop ran at least once, so first and prev are set.
    if (first !== undefined && prev !== undefined) {
      exits.push(...prev.outs.slice(0, -1));
      parts.push({ start: first.start, outs: exits });
    }
  }
  const [head] = parts;
  if (head === undefined) return compileNode(bld, { type: "empty" });
  let tail = head;
  for (const part of parts) {
    if (part !== head) bld.patch(tail.outs, part.start);
    tail = part;
  }
  return { start: head.start, outs: tail.outs };
}

/** Whether `h` can match the empty string (assertions are empty). */
function canMatchEmpty(h: Hir): boolean {
  switch (h.type) {
    case "empty":
    case "look":
      return true;
    case "bytes":
      return false;
    case "capture":
      return canMatchEmpty(h.sub);
    case "repeat":
      return h.min === 0 || canMatchEmpty(h.sub);
    case "concat":
      return h.subs.every(canMatchEmpty);
    case "alt":
      return h.subs.some(canMatchEmpty);
  }
}

/** Conservative: true only when every match provably starts at offset 0. */
function isAnchoredStart(h: Hir): boolean {
  switch (h.type) {
    case "look":
      return h.look === Look.StartText;
    case "capture":
      return isAnchoredStart(h.sub);
    case "concat":
      return h.subs[0] !== undefined && isAnchoredStart(h.subs[0]);
    case "alt":
      return h.subs.length > 0 && h.subs.every(isAnchoredStart);
    case "repeat":
      return h.min > 0 && isAnchoredStart(h.sub);
    default:
      return false;
  }
}
