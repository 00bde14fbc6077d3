/**
 * Unicode data for `(?u)` mode, derived from the JavaScript engine's own Unicode tables (V8's
 * `\p{...}` support and String case mapping) instead of shipping tables: the Unicode version is
 * therefore the one of the running Node.js, which can differ slightly from the Rust crate's.
 * Everything here runs at regex compile time and is cached per property.
 */
import { bound, contains, fromPoints, normalize, type RangeSet, union } from "./range-set.ts";
import { decodeAt } from "./utf8.ts";

let allScalars: string | undefined;

/**
 * One string holding every Unicode scalar value in order (surrogates skipped), so that one
 * native global regex scan (`/\p{X}+/gu`) yields the ranges of a property in milliseconds.
 */
function scalarString(): string {
  if (allScalars !== undefined) return allScalars;
  const parts: string[] = [];
  const chunk: number[] = [];
  const flush = () => {
    parts.push(String.fromCodePoint(...chunk));
    chunk.length = 0;
  };
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    chunk.push(cp);
    if (chunk.length === 4096) flush();
  }
  flush();
  allScalars = parts.join("");
  return allScalars;
}

/** Map a UTF-16 index in scalarString() back to its code point. */
function indexToCodePoint(index: number): number {
  if (index < 0xd800) return index;
  if (index < 0xf800) return index + 0x800;
  return 0x10000 + ((index - 0xf800) >> 1);
}

const propertyCache = new Map<string, RangeSet>();

/** Ranges of the code points matched by a JS `\p{...}` body, e.g. `Script=Greek`. */
function rangesOfJsProperty(body: string): RangeSet | undefined {
  // The body is pattern text: only a property name (and value) may reach the RegExp source,
  // or `L}|.*|\p{L` would inject syntax.
  if (!/^[A-Za-z0-9_]+(?:=[A-Za-z0-9_]+)?$/.test(body)) return undefined;
  const cached = propertyCache.get(body);
  if (cached !== undefined) return cached;
  let re: RegExp;
  try {
    re = new RegExp(`\\p{${body}}+`, "gu");
  } catch {
    return undefined;
  }
  const text = scalarString();
  const ranges: number[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    // Both halves of a surrogate pair map to the same code point, so the last unit suffices.
    ranges.push(indexToCodePoint(m.index), indexToCodePoint(m.index + m[0].length - 1));
  }
  const set = normalize(ranges);
  propertyCache.set(body, set);
  return set;
}

/** Rust-style loose name: case, spaces, `_` and `-` are insignificant. */
function loose(name: string): string {
  return name.toLowerCase().replace(/[\s_-]/g, "");
}

const propertyKeys: Record<string, string> = {
  generalcategory: "General_Category",
  gc: "General_Category",
  script: "Script",
  sc: "Script",
  scriptextensions: "Script_Extensions",
  scx: "Script_Extensions",
};

/** Spellings to try for a value name: as written, and as Title_Case words joined by `_`. */
function candidates(value: string): string[] {
  const trimmed = value.trim();
  const words = trimmed.split(/[\s_-]+/).filter((w) => w.length > 0);
  const title = words.map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()).join("_");
  const out = [trimmed, title];
  if (trimmed.length > 0) out.push(trimmed.charAt(0).toUpperCase() + trimmed.slice(1));
  return [...new Set(out)];
}

/**
 * Resolve a Rust `\p{...}` / `\pX` class body to code point ranges, or undefined when the name is
 * unknown (the caller reports it). Accepts `Name`, `Key=Value`, `Key:Value`; negation (`!=`) is
 * handled by the caller.
 */
export function unicodeProperty(spec: string): RangeSet | undefined {
  const sep = spec.search(/[=:]/);
  if (sep >= 0) {
    const key = propertyKeys[loose(spec.slice(0, sep))];
    if (key === undefined) return undefined;
    for (const value of candidates(spec.slice(sep + 1))) {
      const r = rangesOfJsProperty(`${key}=${value}`);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  const name = loose(spec);
  if (name === "any") return [0, 0x10ffff];
  // Rust resolves a lone name as a binary property or general category first (JS accepts
  // both spelled alone), then as a script.
  for (const value of candidates(spec)) {
    const r = rangesOfJsProperty(value);
    if (r !== undefined) return r;
  }
  for (const value of candidates(spec)) {
    const sc = rangesOfJsProperty(`Script=${value}`);
    if (sc !== undefined) return sc;
  }
  return undefined;
}

/** UTS#18 `\w`, as Rust defines it: Alphabetic, M, Nd, Pc, Join_Control. */
export function unicodeWord(): RangeSet {
  const cached = propertyCache.get("#word");
  if (cached !== undefined) return cached;
  const parts = ["Alphabetic", "M", "Nd", "Pc", "Join_Control"].map(
    (p) => rangesOfJsProperty(p) ?? [],
  );
  const set = normalize(parts.flat());
  propertyCache.set("#word", set);
  return set;
}

export function unicodeDigit(): RangeSet {
  return rangesOfJsProperty("Nd") ?? [];
}

export function unicodeSpace(): RangeSet {
  return rangesOfJsProperty("White_Space") ?? [];
}

let foldOrbits: Map<number, number[]> | undefined;

/**
 * Simple case-folding equivalence classes, built from single-code-point lower/upper mappings
 * (e.g. {k, K, U+212A KELVIN SIGN}). Built once, on first use of `(?iu)`.
 */
function orbits(): Map<number, number[]> {
  if (foldOrbits !== undefined) return foldOrbits;
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    for (let up = parent.get(r); up !== undefined && up !== r; up = parent.get(r)) r = up;
    parent.set(x, r);
    return r;
  };
  const join = (a: number, b: number) => {
    if (!parent.has(a)) parent.set(a, a);
    if (!parent.has(b)) parent.set(b, b);
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  const addMappings = (cp: number): void => {
    // U+0130/U+0131 (Turkic dotted and dotless I) case-map to ASCII I/i, but Unicode simple
    // case folding (CaseFolding.txt status C/S, which Rust uses) does not relate them.
    if (cp === 0x130 || cp === 0x131) return;
    const s = String.fromCodePoint(cp);
    const lower = s.toLowerCase();
    const upper = s.toUpperCase();
    if (lower !== s) {
      const l = lower.codePointAt(0);
      if (l !== undefined && String.fromCodePoint(l) === lower) join(cp, l);
    }
    if (upper !== s) {
      const u = upper.codePointAt(0);
      if (u !== undefined && String.fromCodePoint(u) === upper) join(cp, u);
    }
  };
  // Only code points that change under case mapping can be in a non-trivial class.
  const cased = rangesOfJsProperty("Changes_When_Casemapped") ?? [];
  for (let r = 0; r < cased.length; r += 2) {
    for (let cp = bound(cased, r); cp <= bound(cased, r + 1); cp++) addMappings(cp);
  }
  const groups = new Map<number, number[]>();
  for (const cp of parent.keys()) {
    const r = find(cp);
    let g = groups.get(r);
    if (g === undefined) {
      g = [];
      groups.set(r, g);
    }
    g.push(cp);
  }
  foldOrbits = new Map();
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    for (const cp of g) foldOrbits.set(cp, g);
  }
  return foldOrbits;
}

/** Close a code point set under simple case folding. */
export function foldUnicode(set: RangeSet): RangeSet {
  const all = orbits();
  const extra: number[] = [];
  let size = 0;
  for (let i = 0; i < set.length; i += 2) size += bound(set, i + 1) - bound(set, i) + 1;
  if (size < all.size) {
    // Small sets (literals, short ranges): look each member up.
    for (let i = 0; i < set.length; i += 2) {
      for (let cp = bound(set, i), hi = bound(set, i + 1); cp <= hi; cp++) {
        const group = all.get(cp);
        if (group !== undefined) for (const other of group) extra.push(other);
      }
    }
  } else {
    for (const [cp, group] of all) {
      if (contains(set, cp)) for (const other of group) extra.push(other);
    }
  }
  return extra.length === 0 ? set : union(set, fromPoints(extra));
}

/** UTF-8 encoding of one scalar value (RFC 3629 §3). */
export function encodeUtf8(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [
    0xf0 | (cp >> 18),
    0x80 | ((cp >> 12) & 0x3f),
    0x80 | ((cp >> 6) & 0x3f),
    0x80 | (cp & 0x3f),
  ];
}

/**
 * Split a scalar range into sequences of byte ranges such that the concatenation of each
 * sequence's byte ranges matches exactly the UTF-8 encodings of the range (RFC 3629 §4 table).
 * Each sequence is a flat [lo0, hi0, lo1, hi1, ...] list of per-byte ranges.
 */
export function utf8Sequences(set: RangeSet): number[][] {
  const out: number[][] = [];
  const emit = (lo: number, hi: number) => {
    // Split at encoding-length boundaries first.
    const bounds = [0x7f, 0x7ff, 0xffff];
    for (const b of bounds) {
      if (lo <= b && hi > b) {
        emit(lo, b);
        emit(b + 1, hi);
        return;
      }
    }
    if (hi < 0x80) {
      out.push([lo, hi]);
      return;
    }
    const n = hi < 0x800 ? 2 : hi < 0x10000 ? 3 : 4;
    // Split until every continuation position spans a full or aligned sub-range.
    for (let i = 1; i < n; i++) {
      const m = (1 << (6 * i)) - 1;
      if ((lo & ~m) !== (hi & ~m)) {
        if ((lo & m) !== 0) {
          emit(lo, lo | m);
          emit((lo | m) + 1, hi);
          return;
        }
        if ((hi & m) !== m) {
          emit(lo, (hi & ~m) - 1);
          emit(hi & ~m, hi);
          return;
        }
      }
    }
    const a = encodeUtf8(lo);
    const z = encodeUtf8(hi);
    const seq: number[] = [];
    for (const [i, byte] of a.entries()) {
      const last = z[i];
      if (last === undefined)
        throw new Error(`internal: U+${hi.toString(16)} encodes shorter than U+${lo.toString(16)}`);
      seq.push(byte, last);
    }
    out.push(seq);
  };
  for (let i = 0; i < set.length; i += 2) {
    // Surrogates are not scalar values and have no UTF-8 encoding.
    const lo = bound(set, i);
    const hi = bound(set, i + 1);
    if (hi < 0xd800 || lo > 0xdfff) emit(lo, hi);
    else {
      if (lo < 0xd800) emit(lo, 0xd7ff);
      if (hi > 0xdfff) emit(0xe000, hi);
    }
  }
  return out;
}

/**
 * Decode the scalar value ending just before `pos` in a binary string, or -1 when there is none
 * or the bytes there are not valid UTF-8 (invalid bytes count as non-word, as in Rust).
 */
export function codePointBefore(input: string, pos: number): number {
  for (let len = 1; len <= 4 && pos - len >= 0; len++) {
    const start = pos - len;
    const b = input.charCodeAt(start);
    if (len === 1 && b < 0x80) return b;
    if (b >= 0x80 && b < 0xc0) continue;
    const [cp, used] = decodeAt(input, start);
    return used === len ? cp : -1;
  }
  return -1;
}

/** Decode the scalar value starting at `pos`, or -1 when absent or invalid UTF-8. */
export function codePointAt(input: string, pos: number): number {
  if (pos >= input.length) return -1;
  return decodeAt(input, pos)[0];
}
