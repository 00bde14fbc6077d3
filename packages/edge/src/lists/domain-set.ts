// A memory-lean exact-match set of domain names. A million names as JS strings in a Set cost
// ~70-100 MB (string headers, hash-table entries); here every name lives once in one byte arena
// and an open-addressing table of uint32 slots holds each name's arena offset, with a byte per
// slot for its length, so a million names cost roughly (average stored length + 4/3 × 5) bytes
// each (the table is sized to 4/3 of the names, not to a power of two). Lookups take the rules
// engine's BytesValue (a binary string, one char per byte) and allocate nothing.
//
// A name's last label (its TLD: ".com", ".net", …) is stored as one byte: the name's bytes up
// to the last dot, then 0x80 + the suffix's id in the set's table of suffixes (the first 128
// distinct last labels the set meets, each kept once with its dot). Names hold only the bytes
// a-z 0-9 - _ and dots (the parser's check), so a byte of 0x80 or more can only be such an id,
// and it is always a stored name's last byte. A name with no dot (a name equal to a TLD) or
// whose last label is not in the table is stored as it is. The table slot's length byte is the
// whole name's length, so lookups rule names out by length before reading the arena.
//
// Suffix matching is not done here: `dns.domains` already holds the name and all its parents
// (contract `domainsOf`), so `any(dns.domains[*] in $list)` is an exact test per parent.

import type { BytesValue, ListMatcher } from "@gatehouse/rules";
import { at, u8 } from "../net/bytes.ts";
import { runSync, type Steps } from "../slices.ts";

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** Slots written per slice when a new table's pages are faulted in (1 MiB). */
const TOUCH_SLOTS = 1 << 18;
/** Bytes copied per slice when a buffer is trimmed to what it holds. */
const COPY_BYTES = 1 << 20;

// The builder's buffers are allocated uninitialised (malloc, not calloc): a zeroed buffer of
// tens of MB taken from the heap is cleared in one go when it is allocated, faulting in all its
// pages at once (8.8 MB for 2.2M names: a step of 85-150 ms), while an uninitialised one is
// faulted in as it is written, a chunk per slice. Only what has been written is ever read: the
// arena below `used`, lengths below `count`, and the table after it is cleared (in slices) in
// buildSteps.
//
// The names lie end to end in the arena (every path that adds one writes it at `used`), so a
// name's offset is the sum of the lengths before it: the builder keeps one length byte per name
// and no offsets (a per-name Uint32Array was 4 MB per million names alive during a swap's build,
// beside the old set and the new one).

function bytesUninit(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

function u32Uninit(n: number): Uint32Array {
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Uint32Array(b.buffer, b.byteOffset, n);
}

// A set built for worker threads (workers.ts, mode "threads") keeps its three arrays in
// SharedArrayBuffers: one thread builds it, every thread reads the same memory (SharedDomainSet).

function bytesShared(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(n));
}

function u32Shared(n: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(n * 4));
}

/** A DomainSet's arrays as they cross to another thread (all on SharedArrayBuffers: no copy). */
export interface SharedDomainSet {
  readonly arena: Uint8Array;
  readonly table: Uint32Array;
  readonly lens: Uint8Array;
  readonly size: number;
  /** The last labels stored as one id byte (0x80 + index), each with its leading dot. */
  readonly suffixes: readonly string[];
}

/** Ids 0x80..0xff: at most 128 suffixes per set. */
const MAX_SUFFIXES = 128;
const SUFFIX_ID = 0x80;
/** Slots of the builder's suffix lookup (a power of two, four times MAX_SUFFIXES). */
const SUFFIX_SLOTS = 512;

/**
 * Table slots for `n` names: a third more (a load of at most three quarters: a miss reads about
 * eight neighbouring slots, most ruled out by their length byte alone; a load of one half took
 * 10 bytes per name, this 6.7), and not rounded up to a power of two, which for some counts
 * nearly doubled the table.
 */
function tableSlots(n: number): number {
  return Math.max(16, n + Math.ceil(n / 3) + 1);
}

/** The first slot for hash `h` in a table of `cap` slots: the high bits of h × cap (no modulo). */
function slotOf(h: number, cap: number): number {
  return Math.floor((h >>> 0) * cap * 2.3283064365386963e-10);
}

/**
 * `a[0, used)` on its own buffer, copied 1 MiB a slice; or, with `keepView`, kept as it is (a
 * view of its first `used` elements) rather than copied.
 */
function* trimSteps<T extends Uint8Array | Uint32Array>(
  a: T,
  used: number,
  make: (n: number) => T,
  keepView: boolean,
): Steps<T> {
  if (keepView) return a.subarray(0, used) as T;
  const out = make(used);
  const step = COPY_BYTES / a.BYTES_PER_ELEMENT;
  for (let at = 0; at < used; at += step) {
    out.set(a.subarray(at, Math.min(used, at + step)), at);
    if (used > step) yield;
  }
  return out;
}

/**
 * A name's arena offset is the sum of the lengths before it, each kept in one byte: a length
 * outside a name's 1..253 bytes would misplace every later name, so it is refused.
 */
function checkLength(len: number): void {
  if (!(len >= 1 && len <= 253)) throw new RangeError(`a domain set name of ${len} bytes`);
}

/**
 * Incrementally collects names (bytes already lowercased and validated by the parser).
 *
 * A list read from one buffer of its own (a list file's bytes, a bundle's packed items) can be
 * adopted as the arena (adopt()): each name is moved down to the end of the names before it,
 * inside the same buffer, instead of being copied into a second one. A name is never longer
 * than the line it came from, so the names written never reach a line not read yet; a name
 * made from a decoded line (addString, e.g. an IDN turned into punycode) is written in place
 * only below `floor`, what the parser said it has read (consumed()), else the names so far move
 * to a buffer of their own first.
 */
export class DomainSetBuilder {
  private arena: Uint8Array;
  private used = 0;
  /** The names' whole lengths added up (`used` counts a suffix id as one byte). */
  private whole = 0;
  /** Per name, its length; the names are contiguous from arena offset 0. */
  private lengths: Uint8Array;
  private count = 0;
  /** Adopted arena: bytes from here on are the source's, not read yet (else arena.length). */
  private floor: number;
  /** Build the set into SharedArrayBuffers (SharedDomainSet). */
  private readonly shared: boolean;
  /** The last labels stored as an id byte, in id order, with their dots (".com"). */
  private readonly suffixes: string[] = [];
  /** Lookup of `suffixes` by the FNV hash of their bytes: id + 1 per slot, 0 empty. */
  private readonly suffixSlots = new Uint8Array(SUFFIX_SLOTS);

  /**
   * `expect`: about how many bytes and names will come (a list's text length and line count),
   * so the buffers are allocated once instead of doubled and copied as they fill. `shared`:
   * the built set's arrays live in SharedArrayBuffers (the names are copied there once, at
   * build, trimmed to what they hold), for worker threads to read without a copy each.
   */
  constructor(expect?: { readonly bytes: number; readonly names: number }, shared = false) {
    this.shared = shared;
    this.arena = bytesUninit(Math.max(1 << 16, expect?.bytes ?? 0));
    const names = Math.max(1 << 12, expect?.names ?? 0);
    this.lengths = bytesUninit(names);
    this.floor = this.arena.length;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Take `source` (the caller's own bytes, about to be parsed into this builder and not used
   * after) as the arena, so its names are compacted in place. Only into an empty builder.
   */
  adopt(source: Uint8Array): void {
    if (this.used !== 0 || this.count !== 0) throw new Error("adopt() into a builder in use");
    this.arena = source;
    this.floor = 0;
  }

  /** The parser has read `src` up to `end` (a view of the adopted source, or anything else). */
  consumed(src: Uint8Array, end: number): void {
    if (src.buffer !== this.arena.buffer) return;
    const at = src.byteOffset - this.arena.byteOffset + end;
    if (at > this.floor) this.floor = Math.min(at, this.arena.length);
  }

  /** Append `src[start, end)` as one name; the caller guarantees 1..253 bytes. */
  addBytes(src: Uint8Array, start: number, end: number): void {
    const len = end - start;
    checkLength(len);
    // The name's bytes up to its last dot, then the suffix id; or the name as it is (id -1).
    const dot = lastDot(src, start, end);
    const id = dot < 0 ? -1 : this.suffixId(src, dot, end);
    const keep = id < 0 ? len : dot - start;
    const stored = id < 0 ? len : keep + 1;
    const arena = this.arena;
    if (src.buffer === arena.buffer) {
      const from = src.byteOffset - arena.byteOffset + start;
      // Within the adopted source: moved down, never over bytes not read yet (the id byte
      // lands on the name's own dot or before it).
      if (from >= this.used && from + len <= arena.length) {
        if (from !== this.used) arena.copyWithin(this.used, from, from + keep);
        if (id >= 0) arena[this.used + keep] = SUFFIX_ID + id;
        if (from + len > this.floor) this.floor = from + len;
        this.push(stored, len);
        return;
      }
    }
    this.reserve(stored);
    this.arena.set(src.subarray(start, start + keep), this.used);
    if (id >= 0) this.arena[this.used + keep] = SUFFIX_ID + id;
    this.push(stored, len);
  }

  /** Append an already-normalised ASCII name. */
  addString(name: string): void {
    const len = name.length;
    checkLength(len);
    const bytes = new Uint8Array(len);
    for (let i = 0; i < len; i++) bytes[i] = name.charCodeAt(i);
    this.addBytes(bytes, 0, len);
  }

  /**
   * The id of the last label `src[dot, end)` (its dot included), given one if the table has
   * room; -1 when it has none. A byte outside a name's a-z 0-9 - _ is refused: a byte of 0x80
   * or more would read as an id.
   */
  private suffixId(src: Uint8Array, dot: number, end: number): number {
    let h = FNV_OFFSET;
    for (let j = dot; j < end; j++) h = Math.imul(h ^ u8(src, j), FNV_PRIME);
    const mask = SUFFIX_SLOTS - 1;
    for (let slot = (h >>> 0) & mask; ; slot = (slot + 1) & mask) {
      const e = u8(this.suffixSlots, slot);
      if (e === 0) {
        if (this.suffixes.length === MAX_SUFFIXES) return -1;
        this.suffixes.push(latin1(src, dot, end - dot));
        this.suffixSlots[slot] = this.suffixes.length;
        return this.suffixes.length - 1;
      }
      const s = this.suffixes[e - 1] ?? "";
      if (s.length === end - dot && sameAscii(src, dot, s)) return e - 1;
    }
  }

  /** Room for `len` more bytes below `floor` (moving the names to a larger buffer if needed). */
  private reserve(len: number): void {
    if (this.used + len > this.floor) {
      const adopted = this.floor < this.arena.length;
      let cap = Math.max(this.arena.length, 1 << 16);
      // An adopted source still being read keeps its buffer: the names move to one as large.
      if (!adopted) cap *= 2;
      while (cap < this.used + len) cap *= 2;
      const next = bytesUninit(cap);
      next.set(this.arena.subarray(0, this.used));
      this.arena = next;
      this.floor = cap;
    }
    if (this.count === this.lengths.length) {
      const l = bytesUninit(this.lengths.length * 2);
      l.set(this.lengths);
      this.lengths = l;
    }
  }

  /** One more name, `stored` bytes in the arena, `whole` bytes long. */
  private push(stored: number, whole: number): void {
    this.lengths[this.count] = stored;
    this.used += stored;
    this.whole += whole;
    this.count++;
  }

  /** Build the immutable set; duplicates collapse. The builder must not be reused. */
  build(exclude?: ReadonlySet<string>): DomainSet {
    return runSync(this.buildSteps(exclude));
  }

  /** build() as steps (slices.ts), pausing every 16,384 names. */
  *buildSteps(exclude?: ReadonlySet<string>): Steps<DomainSet> {
    const n = this.count;
    const cap = tableSlots(n);
    const shared = this.shared;
    // Each slot: the name's arena offset + 1 (0 = empty) and its length.
    const table = shared ? u32Shared(cap) : u32Uninit(cap);
    const lens = shared ? bytesShared(cap) : bytesUninit(cap);
    // A large table's pages are mapped on first write. Inserting touches them in random order,
    // so the first slice would fault in nearly all of them at once (228 ms for 32 MB in a
    // microVM); clearing the table front to back first faults them in order, 1 MiB a slice.
    for (let at = 0; at < cap; at += TOUCH_SLOTS) {
      table.fill(0, at, Math.min(cap, at + TOUCH_SLOTS));
      if (cap > TOUCH_SLOTS) yield;
    }
    const arena = this.arena;
    const lengths = this.lengths;
    const suffixes = this.suffixes;
    let unique = 0;
    let next = 0;
    for (let i = 0; i < n; i++) {
      if ((i & 0x3fff) === 0x3fff) yield;
      const off = next;
      const stored = u8(lengths, i);
      next += stored;
      const last = u8(arena, off + stored - 1);
      const suffix = last >= SUFFIX_ID ? (suffixes[last - SUFFIX_ID] ?? "") : "";
      // The whole name's length: its stored bytes with the id byte replaced by its suffix.
      const len = suffix === "" ? stored : stored - 1 + suffix.length;
      if (exclude?.has(expand(arena, off, len, suffixes))) continue;
      const h = storedHash(arena, off, suffix === "" ? stored : stored - 1, suffix);
      let slot = slotOf(h, cap);
      for (;;) {
        const e = at(table, slot);
        if (e === 0) {
          table[slot] = off + 1;
          lens[slot] = len;
          unique++;
          break;
        }
        if (lens[slot] === len && storedEqual(arena, e - 1, off, len)) break;
        if (++slot === cap) slot = 0;
      }
    }
    // The builder's per-name lengths are not needed any more: released before the arena is
    // trimmed (a copy), so they and the copy are not held at once.
    this.lengths = new Uint8Array(0);
    this.count = 0;
    // Trim the growth slack (or the room for lines that held no name) so the set holds only
    // what it needs: the table's offsets stay valid (the names keep their places). A buffer
    // the names nearly fill is kept as it is (and an adopted arena already in shared memory, a
    // bundle's items decoded straight into a SharedArrayBuffer, sync/bundle-stream.ts): "nearly"
    // counts the names' whole bytes, not the fewer their suffix ids leave, so a plain list's
    // adopted source (names and newlines) is not copied just because the ids shortened it —
    // the copy would be held beside the source during a swap (+19 MB for 1M names at the
    // peak, bench/dns/set-build-peak.ts) to save what the source's slack holds.
    const keep =
      (!shared || arena.buffer instanceof SharedArrayBuffer) &&
      this.whole >= arena.length - (arena.length >> 3);
    const set = new DomainSet(
      yield* trimSteps(arena, this.used, shared ? bytesShared : bytesUninit, keep),
      table,
      lens,
      unique,
      suffixes,
    );
    this.arena = new Uint8Array(0);
    this.floor = 0;
    this.used = 0;
    this.whole = 0;
    return set;
  }
}

function latin1(a: Uint8Array, off: number, len: number): string {
  let s = "";
  for (let k = 0; k < len; k++) s += String.fromCharCode(u8(a, off + k));
  return s;
}

/** Where the last dot of `src[start, end)` is, or -1; refuses a byte a name cannot hold. */
function lastDot(src: Uint8Array, start: number, end: number): number {
  let dot = -1;
  for (let i = start; i < end; i++) {
    const c = u8(src, i);
    if (c === 0x2e) dot = i;
    else if (c >= SUFFIX_ID) throw new RangeError(`a domain set name with the byte ${c}`);
  }
  return dot;
}

function sameAscii(src: Uint8Array, at: number, s: string): boolean {
  for (let k = 0; k < s.length; k++) if (src[at + k] !== s.charCodeAt(k)) return false;
  return true;
}

/** The whole name stored at `off` (`len` bytes once its suffix id is expanded). */
function expand(a: Uint8Array, off: number, len: number, suffixes: readonly string[]): string {
  let s = "";
  for (let k = 0; k < len; k++) {
    const c = u8(a, off + k);
    if (c >= SUFFIX_ID) return s + (suffixes[c - SUFFIX_ID] ?? "");
    s += String.fromCharCode(c);
  }
  return s;
}

/** nameHash of a stored name: `keep` bytes at `off`, then its suffix's ("" for none). */
function storedHash(a: Uint8Array, off: number, keep: number, suffix: string): number {
  let h = FNV_OFFSET;
  for (let j = 0; j < keep; j++) h = Math.imul(h ^ u8(a, off + j), FNV_PRIME);
  for (let j = 0; j < suffix.length; j++) h = Math.imul(h ^ suffix.charCodeAt(j), FNV_PRIME);
  return h >>> 0;
}

/**
 * Two stored names of the same whole length: equal when their bytes are, up to and including
 * a suffix id (the same id is the same suffix, so the rest is equal too).
 */
function storedEqual(a: Uint8Array, x: number, y: number, len: number): boolean {
  for (let k = 0; k < len; k++) {
    const c = u8(a, x + k);
    if (c !== a[y + k]) return false;
    if (c >= SUFFIX_ID) return true;
  }
  return true;
}

/**
 * The hash every DomainSet files `value.slice(start)` under (FNV-1a over its bytes), unsigned;
 * one hash function for all sets, so a name's hash is worth computing once (suffix-index.ts).
 */
export function nameHash(value: BytesValue, start: number): number {
  let h = FNV_OFFSET;
  for (let j = start; j < value.length; j++)
    h = Math.imul(h ^ (value.charCodeAt(j) & 0xff), FNV_PRIME);
  return h >>> 0;
}

export class DomainSet implements ListMatcher<BytesValue> {
  private readonly arena: Uint8Array;
  /** Per slot: the name's arena offset + 1, 0 when empty. */
  private readonly table: Uint32Array;
  /** Per slot: the name's length (read first: most slots a probe meets are ruled out by it). */
  private readonly lens: Uint8Array;
  private readonly cap: number;
  /** The last labels a stored name's id byte stands for (0x80 + index), with their dots. */
  private readonly suffixes: readonly string[];
  /** Distinct names held. */
  readonly size: number;

  constructor(
    arena: Uint8Array,
    table: Uint32Array,
    lens: Uint8Array,
    size: number,
    suffixes: readonly string[] = [],
  ) {
    this.arena = arena;
    this.table = table;
    this.lens = lens;
    this.cap = table.length;
    this.size = size;
    this.suffixes = suffixes;
  }

  static empty(): DomainSet {
    return new DomainSetBuilder().build();
  }

  /** A set another thread built (toShared()), reading the same memory. */
  static fromShared(s: SharedDomainSet): DomainSet {
    return new DomainSet(s.arena, s.table, s.lens, s.size, s.suffixes);
  }

  /** This set's arrays, to post to worker threads; only a set built with `shared`. */
  toShared(): SharedDomainSet {
    for (const a of [this.arena, this.table, this.lens])
      if (!(a.buffer instanceof SharedArrayBuffer))
        throw new Error("DomainSet.toShared: the set was not built into shared memory");
    return {
      arena: this.arena,
      table: this.table,
      lens: this.lens,
      size: this.size,
      suffixes: this.suffixes,
    };
  }

  /** Exact membership of a lowercased name without trailing dot (binary string). */
  has(value: BytesValue): boolean {
    return this.hasFrom(value, 0);
  }

  /** Exact membership of `value.slice(start)`, without making that string. */
  hasFrom(value: BytesValue, start: number): boolean {
    const len = value.length - start;
    if (len <= 0 || len > 255 || this.size === 0) return false;
    const cap = this.cap;
    let slot = slotOf(nameHash(value, start), cap);
    const table = this.table;
    const lens = this.lens;
    for (;;) {
      const e = at(table, slot);
      if (e === 0) return false;
      if (lens[slot] === len && this.equalAt(e - 1, value, start, len)) return true;
      if (++slot === cap) slot = 0;
    }
  }

  /** The name stored at `off` is `value.slice(start)` (`len` bytes, the stored name's length). */
  private equalAt(off: number, value: BytesValue, start: number, len: number): boolean {
    const arena = this.arena;
    for (let k = 0; k < len; k++) {
      const c = u8(arena, off + k);
      if (c >= SUFFIX_ID) {
        // The rest of the value is the suffix (its length is the rest: the lengths matched).
        const s = this.suffixes[c - SUFFIX_ID];
        if (s === undefined) return false;
        const from = start + k;
        for (let j = 0; j < s.length; j++)
          if (s.charCodeAt(j) !== value.charCodeAt(from + j)) return false;
        return true;
      }
      if (c !== value.charCodeAt(start + k)) return false;
    }
    return true;
  }

  /** Where the listed part of `name` starts (the name itself or a parent), or -1; `from`: a label start to begin at. */
  suffixAt(name: BytesValue, from = 0): number {
    if (this.size === 0) return -1;
    for (let i = from; ; ) {
      if (this.hasFrom(name, i)) return i;
      const dot = name.indexOf(".", i);
      if (dot === -1) return -1;
      i = dot + 1;
    }
  }

  /** True when the name or one of its parents is in the set (for callers outside the rules). */
  hasOrParent(name: string): boolean {
    return this.suffixAt(name) >= 0;
  }

  /** Calls `fn` with the nameHash of every name held (suffix-index.ts). */
  forEachHash(fn: (hash: number) => void): void {
    const table = this.table;
    for (let slot = 0; slot < table.length; slot++) {
      const e = at(table, slot);
      if (e === 0) continue;
      const off = e - 1;
      const len = u8(this.lens, slot);
      let keep = 0;
      while (keep < len && u8(this.arena, off + keep) < SUFFIX_ID) keep++;
      const id = keep < len ? u8(this.arena, off + keep) - SUFFIX_ID : -1;
      const suffix = id < 0 ? "" : (this.suffixes[id] ?? "");
      fn(storedHash(this.arena, off, keep, suffix));
    }
  }

  /** Approximate bytes held (arena + index), for reporting. */
  get byteLength(): number {
    return this.arena.byteLength + this.table.byteLength + this.lens.byteLength;
  }
}
