// A config bundle read from a file in two streaming passes, so a synced edge never holds the
// bundle's JSON, a parse of it, or one string per list item: the list items' bytes go straight
// into buffers of their exact final size (which the compile adopts as the names' arena), and
// the rest of the bundle (policies, locations: small) is parsed with JSON.parse.
//
// Control writes a bundle as its canonical JSON (contract bundle-hash.ts: keys sorted at every
// depth, no whitespace) with its `hash` member among the others. The hash covers the canonical
// JSON of every other member, so it is checked over the file's exact bytes: every byte but the
// `"hash":"…"` member and one comma beside it goes through sha256 as it is read.
//
// Pass 1 (BundleScanner) walks the JSON structure a chunk at a time: it notes whether the text
// is canonical (no whitespace outside strings, keys in increasing order), where the top-level
// hash member is, and for each list (`lists[i].items`) the span of its items array, how many
// items it holds and their decoded UTF-8 length, and whether every item is a string without a
// "\n" (then the list is packed). Pass 2 (BundleBuilder) reads the file again: it hashes, copies
// everything but the packed items arrays' contents into a skeleton (those arrays read `[]`),
// and decodes each packed list's items into one buffer, "\n" between them, allocated once at
// the size pass 1 counted (by the caller's allocator when it gives one: e.g. shared memory).
//
// A body that is not canonical (a control from before this format, a hand-written file) is read
// the old way, whole (bundle-parse.ts), where the hash is computed over a re-serialisation.
// Neither pass trusts what it reads: a malformed body makes no packed list or a skeleton
// JSON.parse refuses, and its hash does not match; nothing of it is used before the hash is.

import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import type { ConfigBundle } from "@gatehouse/contract";
import { runSliced } from "../slices.ts";
import {
  OFF_THREAD_BYTES,
  type PackedItems,
  type PackedLists,
  type ParsedBundle,
  parseBundleBody,
  unpackSteps,
} from "./bundle-parse.ts";

/** One list's items array, as pass 1 found it. */
export interface ItemsScan {
  /** Index in `lists`. */
  readonly list: number;
  /** Offsets of the array's content: just after its "[", at its "]". */
  start: number;
  end: number;
  /** Items, and their decoded UTF-8 bytes (no separators). */
  count: number;
  bytes: number;
  /** Every item a string without a "\n", and at least two of them: packed in pass 2. */
  packable: boolean;
}

export interface BundleScan {
  /** No whitespace outside strings, object keys in increasing order, one top-level object. */
  canonical: boolean;
  /** The top-level `"hash":"…"` member and one comma beside it: [start, end) offsets. */
  hashRegion: [number, number] | undefined;
  /** The hash member's value when it is a string. */
  hash: string | undefined;
  readonly lists: ItemsScan[];
  /** Bytes read. */
  size: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

/** Roles of the containers pass 1 cares about; everything else is OTHER. */
const TOP = 1;
const LISTS = 2;
const LIST = 3;
const ITEMS = 4;
const OTHER = 5;

interface Frame {
  readonly object: boolean;
  readonly role: number;
  /** Objects: the last complete key; expecting a key (after "{" or ","). */
  key: string | undefined;
  expectKey: boolean;
  /** Arrays: the index of the current element (-1 before the first). */
  index: number;
  /** Arrays: an element has started since the last "," (or "["). */
  started: boolean;
  /** LIST: its index in `lists`. */
  readonly list: number;
  /** ITEMS: the scan being filled. */
  readonly items: ItemsScan | undefined;
}

/**
 * The decoded UTF-8 form of a JSON string's content, fed a byte range at a time: counted, and
 * written into `out` when one is given. Escapes decode as JSON.parse reads them and a lone
 * surrogate as U+FFFD (as TextEncoder writes it); raw bytes are taken as they are.
 */
class StringDecoder {
  /** 0: plain; 1: after "\"; 2-5: that many hex digits of \u still to read, minus one. */
  esc = 0;
  hex = 0;
  /** A high surrogate waiting for its pair (0: none). */
  high = 0;
  bytes = 0;
  newline = false;
  out: Uint8Array | undefined;
  at = 0;

  reset(out?: Uint8Array, at = 0): void {
    this.esc = 0;
    this.hex = 0;
    this.high = 0;
    this.bytes = 0;
    this.newline = false;
    this.out = out;
    this.at = at;
  }

  /** Decode `b[i, n)` up to the closing quote: its index, or -1 when the range ends first. */
  feed(b: Uint8Array, i: number, n: number): number {
    while (i < n) {
      if (this.esc === 0) {
        let j = i;
        // A high surrogate followed by anything but an escape is a lone one.
        if (this.high !== 0 && b[j] !== QUOTE && b[j] !== BACKSLASH) this.flushHigh();
        const o = this.out;
        let at = this.at;
        while (j < n) {
          const c = b[j] as number;
          if (c === QUOTE || c === BACKSLASH) break;
          // A raw control character is not JSON (never canonical): the list is not packed.
          if (c < 0x20) this.newline = true;
          if (o) o[at++] = c;
          j++;
        }
        this.at = at;
        this.bytes += j - i;
        if (j === n) return -1;
        if (b[j] === QUOTE) {
          this.flushHigh();
          return j;
        }
        this.esc = 1;
        i = j + 1;
      } else if (this.esc === 1) {
        const c = b[i++] as number;
        if (c === 0x75 /* u */) {
          this.esc = 5;
          this.hex = 0;
          continue;
        }
        this.esc = 0;
        const unit =
          c === 0x6e
            ? 0x0a
            : c === 0x74
              ? 0x09
              : c === 0x72
                ? 0x0d
                : c === 0x62
                  ? 0x08
                  : c === 0x66
                    ? 0x0c
                    : c; // \" \\ \/ (anything else is not JSON: taken as itself)
        this.unit(unit);
      } else {
        const c = b[i++] as number;
        const d =
          c >= 0x30 && c <= 0x39
            ? c - 0x30
            : c >= 0x61 && c <= 0x66
              ? c - 0x57
              : c >= 0x41 && c <= 0x46
                ? c - 0x37
                : 0;
        this.hex = (this.hex << 4) | d;
        if (--this.esc === 1) {
          this.esc = 0;
          this.unit(this.hex);
        }
      }
    }
    return -1;
  }

  /** A UTF-16 code unit from an escape. */
  private unit(u: number): void {
    if (u >= 0xdc00 && u <= 0xdfff && this.high !== 0) {
      const cp = 0x10000 + ((this.high - 0xd800) << 10) + (u - 0xdc00);
      this.high = 0;
      this.code(cp);
      return;
    }
    this.flushHigh();
    if (u >= 0xd800 && u <= 0xdbff) this.high = u;
    else if (u >= 0xdc00 && u <= 0xdfff) this.code(0xfffd);
    else this.code(u);
  }

  private flushHigh(): void {
    if (this.high === 0) return;
    this.high = 0;
    this.code(0xfffd);
  }

  private code(cp: number): void {
    if (cp === NEWLINE) this.newline = true;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    this.bytes += n;
    const o = this.out;
    if (!o) return;
    let at = this.at;
    if (n === 1) o[at++] = cp;
    else if (n === 2) {
      o[at++] = 0xc0 | (cp >> 6);
      o[at++] = 0x80 | (cp & 0x3f);
    } else if (n === 3) {
      o[at++] = 0xe0 | (cp >> 12);
      o[at++] = 0x80 | ((cp >> 6) & 0x3f);
      o[at++] = 0x80 | (cp & 0x3f);
    } else {
      o[at++] = 0xf0 | (cp >> 18);
      o[at++] = 0x80 | ((cp >> 12) & 0x3f);
      o[at++] = 0x80 | ((cp >> 6) & 0x3f);
      o[at++] = 0x80 | (cp & 0x3f);
    }
    this.at = at;
  }
}

/**
 * Containers deeper than this are not tracked (a bundle nests a few levels): the text is not
 * read as canonical, so the whole-body parse, with its heap limit, decides what it is.
 */
const MAX_DEPTH = 64;

/** Keys (and the hash's value) longer than this are not kept: the text is not canonical. */
const MAX_KEY_BYTES = 1024;

/** What a string being read is, in pass 1. */
const S_SKIP = 0;
const S_KEY = 1;
const S_ITEM = 2;
const S_HASH = 3;

/** Pass 1: the structure of a bundle's JSON, a chunk at a time (see the file comment). */
export class BundleScanner {
  readonly scan: BundleScan = {
    canonical: true,
    hashRegion: undefined,
    hash: undefined,
    lists: [],
    size: 0,
  };
  readonly #stack: Frame[] = [];
  /** Containers open beyond MAX_DEPTH (not tracked). */
  #untracked = 0;
  /** A top-level value has been completed. */
  #done = false;
  #inString = false;
  #stringKind = S_SKIP;
  readonly #str = new StringDecoder();
  /** S_KEY / S_HASH: the raw bytes so far (at most MAX_KEY_BYTES). */
  #raw = new Uint8Array(MAX_KEY_BYTES);
  #rawLength = 0;
  #rawOver = false;
  /** Inside a scalar (number, true, false, null). */
  #inScalar = false;
  /** Top level: offset of the last "," (or -1 after "{"), and of the last key's quote. */
  #topComma = -1;
  #topKeyStart = 0;
  /** 1: reading the hash member's value; 2: it ended, the comma after it ends the region. */
  #hashState = 0;
  /** Where the hash member's region starts: the comma before it, else its key. */
  #hashStart = 0;

  /** Feed the next bytes of the body. */
  write(b: Uint8Array): void {
    const base = this.scan.size;
    const n = b.length;
    let i = 0;
    while (i < n) {
      if (this.#inString) {
        const end =
          this.#stringKind === S_SKIP ? skipString(b, i, n, this) : this.#strFeed(b, i, n);
        if (end < 0) {
          i = n;
          break;
        }
        this.#inString = false;
        this.#stringDone(base + end);
        i = end + 1;
        continue;
      }
      const c = b[i] as number;
      if (this.#inScalar) {
        if (c === 0x2c || c === 0x5d || c === 0x7d || isSpace(c)) {
          this.#inScalar = false;
          this.#valueDone(base + i);
        } else {
          i++;
          continue;
        }
      }
      switch (c) {
        case 0x7b /* { */:
        case 0x5b /* [ */:
          this.#open(c === 0x7b, base + i);
          break;
        case 0x7d /* } */:
        case 0x5d /* ] */:
          this.#close(base + i);
          break;
        case QUOTE:
          this.#stringStart(base + i);
          break;
        case 0x3a /* : */:
          {
            const f = this.#top();
            if (f?.object) f.expectKey = false;
            break;
          }
        case 0x2c /* , */:
          this.#comma(base + i);
          break;
        default:
          if (isSpace(c)) this.scan.canonical = false;
          else {
            this.#valueStart(false);
            this.#inScalar = true;
          }
      }
      i++;
    }
    this.scan.size = base + n;
  }

  /** The body ended. */
  end(): BundleScan {
    if (this.#inScalar) {
      this.#inScalar = false;
      this.#valueDone(this.scan.size);
    }
    if (this.#stack.length > 0 || this.#inString || !this.#done) this.scan.canonical = false;
    for (const l of this.scan.lists) if (l.end < l.start) l.packable = false;
    return this.scan;
  }

  #top(): Frame | undefined {
    return this.#stack[this.#stack.length - 1];
  }

  /** A value starts in the current container. */
  #valueStart(string: boolean): void {
    const f = this.#top();
    if (!f) {
      if (this.#done) this.scan.canonical = false;
      return;
    }
    if (!f.object) {
      f.started = true;
      if (f.index < 0) f.index = 0;
      if (f.role === ITEMS && f.items) {
        f.items.count++;
        if (!string) f.items.packable = false;
      }
    }
  }

  /** A value ended at `at` (offset just after it). */
  #valueDone(at: number): void {
    const f = this.#top();
    if (!f) {
      this.#done = true;
      return;
    }
    if (f.role === TOP && this.#hashState === 1) {
      // The hash member ends here; with a comma before it the region ends too.
      if (this.#hashStart === this.#topComma) {
        this.scan.hashRegion = [this.#hashStart, at];
        this.#hashState = 0;
      } else this.#hashState = 2;
    }
  }

  #open(object: boolean, at: number): void {
    if (this.#untracked > 0 || this.#stack.length >= MAX_DEPTH) {
      this.#untracked++;
      this.scan.canonical = false;
      return;
    }
    const parent = this.#top();
    this.#valueStart(false);
    let role = OTHER;
    let list = -1;
    let items: ItemsScan | undefined;
    if (!parent) role = this.#done ? OTHER : object ? TOP : OTHER;
    else if (parent.role === TOP && !object && parent.key === "lists") role = LISTS;
    else if (parent.role === LISTS && object) {
      role = LIST;
      list = parent.index;
    } else if (parent.role === LIST && !object && parent.key === "items") {
      role = ITEMS;
      items = {
        list: parent.list,
        start: at + 1,
        end: -1,
        count: 0,
        bytes: 0,
        packable: true,
      };
      // A second `items` in one list (never canonical) is not packed.
      const twice = this.scan.lists.find((l) => l.list === parent.list);
      if (twice) twice.packable = items.packable = false;
      this.scan.lists.push(items);
    }
    // An item that is an array or an object: that list is not packed (valueStart said so).
    this.#stack.push({
      object,
      role,
      key: undefined,
      expectKey: object,
      index: -1,
      started: false,
      list,
      items,
    });
    if (role === TOP) this.#topComma = -1;
  }

  #close(at: number): void {
    if (this.#untracked > 0) {
      this.#untracked--;
      return;
    }
    const f = this.#stack.pop();
    if (!f) {
      this.scan.canonical = false;
      return;
    }
    if (f.items) {
      f.items.end = at;
      if (f.items.count < 2) f.items.packable = false;
    }
    this.#valueDone(at + 1);
  }

  #comma(at: number): void {
    const f = this.#top();
    if (!f) return;
    if (f.object) {
      f.expectKey = true;
      if (f.role === TOP) {
        if (this.#hashState === 2) {
          // The hash member came first: it and the comma after it.
          this.scan.hashRegion = [this.#hashStart, at + 1];
          this.#hashState = 0;
        }
        this.#topComma = at;
      }
    } else {
      f.index++;
      f.started = false;
    }
  }

  #stringStart(at: number): void {
    const f = this.#top();
    if (f?.object && f.expectKey) {
      this.#stringKind = S_KEY;
      if (f.role === TOP) this.#topKeyStart = at;
    } else {
      this.#valueStart(true);
      if (f?.role === ITEMS) this.#stringKind = S_ITEM;
      else if (f?.role === TOP && f.key === "hash" && this.#hashState === 1)
        this.#stringKind = S_HASH;
      else this.#stringKind = S_SKIP;
    }
    this.#inString = true;
    this.skipEscaped = false;
    this.#rawLength = 0;
    this.#rawOver = false;
    this.#str.reset();
  }

  #strFeed(b: Uint8Array, i: number, n: number): number {
    if (this.#stringKind === S_ITEM) return this.#str.feed(b, i, n);
    // Keys and the hash: raw bytes kept for decoding at the end.
    const end = skipString(b, i, n, this);
    const to = end < 0 ? n : end;
    const len = to - i;
    if (this.#rawLength + len > MAX_KEY_BYTES) this.#rawOver = true;
    else {
      this.#raw.set(b.subarray(i, to), this.#rawLength);
      this.#rawLength += len;
    }
    return end;
  }

  /** Pass 1's own escape state for strings it only skips (see skipString). */
  skipEscaped = false;

  #stringDone(at: number): void {
    const f = this.#top();
    const kind = this.#stringKind;
    if (kind === S_KEY && f) {
      const key = this.#rawOver ? undefined : decodeKey(this.#raw.subarray(0, this.#rawLength));
      if (key === undefined || (f.key !== undefined && !(key > f.key))) this.scan.canonical = false;
      f.key = key;
      if (f.role === TOP && key === "hash") {
        this.#hashState = 1;
        this.#hashStart = this.#topComma >= 0 ? this.#topComma : this.#topKeyStart;
      }
      return;
    }
    if (kind === S_ITEM && f?.items) {
      f.items.bytes += this.#str.bytes;
      if (this.#str.newline) f.items.packable = false;
    }
    if (kind === S_HASH && !this.#rawOver)
      this.scan.hash = decodeKey(this.#raw.subarray(0, this.#rawLength));
    this.#valueDone(at + 1);
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Skip string content from `i`: the closing quote's index, or -1 (escape state on `s`). */
function skipString(b: Uint8Array, i: number, n: number, s: { skipEscaped: boolean }): number {
  if (s.skipEscaped) {
    if (i >= n) return -1;
    s.skipEscaped = false;
    i++;
  }
  while (i < n) {
    const c = b[i] as number;
    if (c === QUOTE) return i;
    if (c === BACKSLASH) {
      if (i + 1 >= n) {
        s.skipEscaped = true;
        return -1;
      }
      i += 2;
    } else i++;
  }
  return -1;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A key's text (raw bytes between the quotes), or undefined when it does not decode. */
function decodeKey(raw: Uint8Array): string | undefined {
  let plain = true;
  for (const c of raw)
    if (c >= 0x80 || c === BACKSLASH) {
      plain = false;
      break;
    }
  if (plain) return Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString("latin1");
  try {
    return JSON.parse(`"${utf8.decode(raw)}"`) as string;
  } catch {
    return undefined;
  }
}

/** Where pass 2 puts a packed list's bytes. */
export type Allocate = (bytes: number) => Uint8Array;

const allocUnsafe: Allocate = (n) => {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
};

/** A packed list being filled in pass 2. */
interface Filling {
  readonly scan: ItemsScan;
  readonly out: Uint8Array;
  /** Items started. */
  items: number;
}

/** Pass 2: hash, skeleton and packed lists (see the file comment). */
export class BundleBuilder {
  readonly #scan: BundleScan;
  readonly #hash = createHash("sha256");
  readonly #skeleton: Buffer[] = [];
  readonly #filling: Filling[];
  /** Index into #filling of the next span to meet. */
  #next = 0;
  #at = 0;
  readonly #str = new StringDecoder();
  #inItem = false;

  constructor(scan: BundleScan, allocate: Allocate = allocUnsafe) {
    this.#scan = scan;
    this.#filling = scan.lists
      .filter((l) => l.packable)
      .sort((a, b) => a.start - b.start)
      .map((l) => ({ scan: l, out: allocate(l.bytes + l.count - 1), items: 0 }));
  }

  write(b: Uint8Array): void {
    const base = this.#at;
    const end = base + b.length;
    const region = this.#scan.hashRegion;
    // The hash: every byte outside the region.
    if (!region || region[1] <= base || region[0] >= end) this.#hash.update(b);
    else {
      if (region[0] > base) this.#hash.update(b.subarray(0, region[0] - base));
      if (region[1] < end) this.#hash.update(b.subarray(region[1] - base));
    }
    // Skeleton outside the spans, items inside them.
    let i = 0;
    while (i < b.length) {
      const f = this.#filling[this.#next];
      const pos = base + i;
      if (!f || pos < f.scan.start) {
        const to = f ? Math.min(b.length, f.scan.start - base) : b.length;
        this.#skeleton.push(Buffer.from(b.subarray(i, to)));
        i = to;
        continue;
      }
      if (pos >= f.scan.end) {
        this.#finish(f);
        this.#next++;
        continue;
      }
      const to = Math.min(b.length, f.scan.end - base);
      i = this.#items(f, b, i, to);
    }
    this.#at = end;
  }

  /** Items of `f` from b[i, to): the index reached. */
  #items(f: Filling, b: Uint8Array, i: number, to: number): number {
    while (i < to) {
      if (this.#inItem) {
        const q = this.#str.feed(b, i, to);
        if (q < 0) return to;
        this.#inItem = false;
        i = q + 1;
        continue;
      }
      const c = b[i] as number;
      if (c === QUOTE) {
        const at = this.#str.out === f.out ? this.#str.at : 0;
        if (f.items > 0) f.out[at] = NEWLINE;
        this.#str.reset(f.out, f.items > 0 ? at + 1 : 0);
        f.items++;
        this.#inItem = true;
      }
      i++;
    }
    return i;
  }

  #finish(f: Filling): void {
    const written = this.#str.out === f.out ? this.#str.at : 0;
    if (this.#inItem || f.items !== f.scan.count || written !== f.out.length)
      throw new Error(
        `bundle list ${f.scan.list}: ${f.items} items / ${written} bytes read, ${f.scan.count} / ${f.out.length} counted`,
      );
  }

  /** The body ended: the skeleton's bytes, the packed lists, and the hash over the bytes. */
  end(): {
    skeleton: Buffer;
    packed: { list: number; bytes: Uint8Array; count: number }[];
    digest: string;
  } {
    for (; this.#next < this.#filling.length; this.#next++) {
      const f = this.#filling[this.#next] as Filling;
      this.#finish(f);
    }
    const skeleton = Buffer.concat(this.#skeleton);
    this.#skeleton.length = 0;
    return {
      skeleton,
      packed: this.#filling.map((f) => ({ list: f.scan.list, bytes: f.out, count: f.scan.count })),
      digest: this.#hash.digest("hex"),
    };
  }
}

/** Bytes read from the file per step. */
const READ_CHUNK = 256 * 1024;

export interface ParseFileOptions {
  /** Where packed lists' bytes go (default: a buffer of their own each). */
  readonly allocate?: Allocate;
  /** The parser thread's heap limit (MiB) for a body read the old way. */
  readonly memoryMb?: number;
  /** Read size per step (tests split the body at every boundary with small ones). */
  readonly chunkBytes?: number;
}

/** What parseBundleFile returns: ParsedBundle without the body, and how it was read. */
export interface ParsedBundleFile extends Omit<ParsedBundle, "body"> {
  /** True when the file was canonical and read in two streaming passes. */
  readonly streamed: boolean;
}

/** Read `path` through `sink` a chunk at a time, giving the event loop a turn between chunks. */
async function readThrough(
  path: string,
  chunkBytes: number,
  sink: (b: Uint8Array) => void,
): Promise<void> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.allocUnsafeSlow(chunkBytes);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, null);
      if (bytesRead === 0) return;
      sink(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

/**
 * A config bundle from a file (a body control sent, written to disk as it arrived; a last good
 * bundle): canonical JSON in two streaming passes, anything else whole (parseBundleBody).
 * Throws SyntaxError when it is not JSON, BundleParseMemoryError when read whole and too big.
 */
export async function parseBundleFile(
  path: string,
  opts: ParseFileOptions = {},
): Promise<ParsedBundleFile> {
  const chunk = opts.chunkBytes ?? READ_CHUNK;
  const scanner = new BundleScanner();
  await readThrough(path, chunk, (b) => scanner.write(b));
  const scan = scanner.end();
  if (scan.canonical) {
    const builder = new BundleBuilder(scan, opts.allocate);
    await readThrough(path, chunk, (b) => builder.write(b));
    const built = builder.end();
    if (built.digest === scan.hash)
      return { ...(await assemble(built, scan, opts.memoryMb)), streamed: true };
    // Not the bytes the hash was made over: damaged, or canonical-looking text that is not
    // canonicalJson's (`1.0`, `\u0041`). Read whole, the hash is checked over its content.
  }
  const { body: _body, ...p } = await parseBundleBody(await readFile(path), {
    ...(opts.memoryMb !== undefined ? { memoryMb: opts.memoryMb } : {}),
  });
  return { ...p, streamed: false };
}

/** The parsed skeleton with the packed lists beside it (non-domain ones split back into items). */
async function assemble(
  built: ReturnType<BundleBuilder["end"]>,
  scan: BundleScan,
  memoryMb: number | undefined,
): Promise<Omit<ParsedBundle, "body">> {
  let bundle: ConfigBundle;
  let more: PackedLists | undefined;
  if (built.skeleton.length >= OFF_THREAD_BYTES) {
    // A large rest (identities, zones, lists that are not packed) is parsed off the event loop,
    // as a whole body is; its hash there is not the bundle's (the items are left out).
    const p = await parseBundleBody(built.skeleton, {
      ...(memoryMb !== undefined ? { memoryMb } : {}),
    });
    bundle = p.bundle;
    more = p.packed;
  } else bundle = JSON.parse(built.skeleton.toString("utf8")) as ConfigBundle;
  // The digest matched the hash member pass 1 read: the skeleton must carry that member too.
  const hashOk = bundle?.hash === scan.hash;
  const packed = new Map<number, PackedItems>(more);
  const split: [number, PackedItems][] = [];
  const lists: unknown = bundle?.lists;
  for (const p of built.packed) {
    const l = Array.isArray(lists) ? (lists[p.list] as { type?: unknown } | undefined) : undefined;
    if (!l) continue;
    if (l.type === "domain") packed.set(p.list, { bytes: p.bytes, count: p.count });
    else split.push([p.list, { bytes: p.bytes, count: p.count }]);
  }
  await runSliced(unpackSteps(bundle, split));
  return { bundle, packed, hashOk };
}
