// Build the rules engine's ListSet from a bundle's lists, once per config. Domain lists become
// DomainLists (hash sets of names plus compiled rules; the exceptions also as `<name>.allow`),
// string lists Sets of UTF-8 binary strings, int lists Sets of numbers, ip lists IpSets. A
// domain list's unusable lines are counted (ListStats), never fatal; errors in other lists name
// the list and the item.

import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { List } from "@gatehouse/contract";
import type { BytesValue, IntValue, IpValue, ListMatcher, ListSet } from "@gatehouse/rules";
import { parseCidr } from "../net/ip-address.ts";
import { runSync, type Steps } from "../slices.ts";
import type { PackedLists } from "../sync/bundle-parse.ts";
import {
  DomainList,
  DomainListBuilder,
  type DomainParseStats,
  newParseStats,
  type SharedDomainList,
} from "./domain-list.ts";
import { type DomainListFormat, parseDomainList } from "./domain-list-parser.ts";
import { ListQueryState } from "./domain-rules.ts";
import { IpSet } from "./ip-set.ts";
import { suffixIndexSteps } from "./suffix-index.ts";

export class ListError extends Error {
  readonly listName: string;
  constructor(listName: string, message: string, options?: { cause?: unknown }) {
    super(`list $${listName}: ${message}`, options);
    this.name = "ListError";
    this.listName = listName;
  }
}

export interface ListStats {
  readonly name: string;
  readonly type: List["type"];
  readonly size: number;
  readonly rejected: number;
  /** Domain lists: rules that mean nothing to DNS (skipped), and the first rejected lines. */
  readonly unsupported?: number;
  readonly samples?: DomainParseStats["samples"];
}

export class EdgeListSet implements ListSet {
  /** Built once per config (buildListSetSteps), then only read. */
  readonly stable = true;
  private readonly bytesLists = new Map<string, ListMatcher<BytesValue>>();
  private readonly intLists = new Map<string, ListMatcher<IntValue>>();
  private readonly ipLists = new Map<string, ListMatcher<IpValue>>();
  readonly stats: ListStats[] = [];
  /** Per-query facts (query type, client) every domain list of this set reads; see DNS stages. */
  readonly query = new ListQueryState();
  private readonly domainLists = new Map<string, DomainList>();

  bytes(name: string): ListMatcher<BytesValue> | undefined {
    return this.bytesLists.get(name);
  }
  int(name: string): ListMatcher<IntValue> | undefined {
    return this.intLists.get(name);
  }
  ip(name: string): ListMatcher<IpValue> | undefined {
    return this.ipLists.get(name);
  }
  /** The domain list of that name (for callers that match outside the rules, e.g. PAC bypass). */
  domains(name: string): DomainList | undefined {
    return this.domainLists.get(name);
  }

  /** Every domain list, in the order they were added. */
  domainListsInOrder(): IterableIterator<DomainList> {
    return this.domainLists.values();
  }

  /** Bytes the domain lists' hash sets hold (outside the JS heap). */
  get byteLength(): number {
    let n = 0;
    for (const l of this.domainLists.values()) n += l.byteLength;
    return n;
  }

  /** Some of these lists has a rule limited to client addresses (`$client`). */
  readsClient(names: readonly string[]): boolean {
    return names.some((n) => this.domainLists.get(n)?.readsClient === true);
  }

  addDomains(list: DomainList): void {
    this.domainLists.set(list.name, list);
    this.bytesLists.set(list.name, list);
    this.bytesLists.set(`${list.name}.allow`, list.allow);
  }

  addBytes(name: string, m: ListMatcher<BytesValue>): void {
    this.bytesLists.set(name, m);
  }
  addInt(name: string, m: ListMatcher<IntValue>): void {
    this.intLists.set(name, m);
  }
  addIp(name: string, m: ListMatcher<IpValue>): void {
    this.ipLists.set(name, m);
  }
}

/**
 * The domain lists of a bundle built once for every worker thread (workers.ts), by list index:
 * their sets in shared memory, their rules as parsed, and their stats.
 */
export type SharedLists = ReadonlyMap<
  number,
  { readonly list: SharedDomainList; readonly stats: ListStats }
>;

export interface BuildListsOptions {
  /** Directory relative `file:` paths resolve against (the config file's directory). */
  baseDir?: string;
  /** Build the domain lists into shared memory, for shareLists() (worker threads). */
  shared?: boolean;
  /**
   * Domain lists another thread built (shareLists()): used as they are, by index; their
   * items and files are not read again.
   */
  prebuilt?: SharedLists;
}

/** The domain lists of `set` (built with `shared`) to post to worker threads. */
export function shareLists(set: EdgeListSet, lists: readonly List[]): SharedLists {
  const out = new Map<number, { list: SharedDomainList; stats: ListStats }>();
  for (const [index, l] of lists.entries()) {
    if (l.type !== "domain") continue;
    const d = set.domains(l.name);
    const stats = set.stats.find((s) => s.name === l.name);
    if (!d || !stats) throw new Error(`list $${l.name} was not built`);
    out.set(index, { list: d.toShared(), stats });
  }
  return out;
}

/** Build every list of a bundle. Throws ListError on unreadable files or bad items. */
export function buildListSet(lists: readonly List[], opts: BuildListsOptions = {}): EdgeListSet {
  return runSync(buildListSetSteps(lists, opts));
}

/** Inline domain items parsed per chunk of this many (one item = one line). */
const ITEM_CHUNK = 8192;
/** A list file's bytes parsed per chunk of about this many (cut at a line end). */
const FILE_CHUNK = 256 * 1024;

/** [start, end) spans of about FILE_CHUNK, each ending after a newline (or at `length`). */
function* lineChunks(
  length: number,
  newlineFrom: (from: number) => number,
): Generator<[number, number], void, void> {
  for (let start = 0; start < length; ) {
    const cut = start + FILE_CHUNK >= length ? -1 : newlineFrom(start + FILE_CHUNK - 1);
    const end = cut < 0 ? length : cut + 1;
    yield [start, end];
    start = end;
  }
}

/** A list file this large is adopted as its names' arena (smaller ones are copied). */
const ADOPT_BYTES = 64 * 1024;

/** Lines in `data` (an upper bound on the names a plain list holds). */
function countLines(data: Buffer): number {
  let n = 1;
  for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** A domain list's bytes parsed chunk by chunk; the next line number. */
function* parseBytes(
  data: Buffer,
  format: DomainListFormat,
  into: DomainListBuilder,
  stats: DomainParseStats,
  firstLine: number,
): Steps<number> {
  let line = firstLine;
  for (const [start, end] of lineChunks(data.length, (i) => data.indexOf(0x0a, i))) {
    line = parseDomainList(data.subarray(start, end), format, into, stats, line);
    yield;
  }
  // All read: the rest of an adopted buffer is free for the names of a next source.
  into.block.consumed(data, data.length);
  return line;
}

/**
 * buildListSet as steps (slices.ts): pauses between chunks of items, lines and entries. A domain
 * list in `packed` (its items' UTF-8 bytes, "\n" between them, sync/bundle-parse.ts) is read
 * from those bytes, chunk by chunk, as a list file is: no string per name.
 */
export function* buildListSetSteps(
  lists: readonly List[],
  opts: BuildListsOptions = {},
  packed?: PackedLists,
): Steps<EdgeListSet> {
  const set = new EdgeListSet();
  for (const [index, list] of lists.entries()) {
    switch (list.type) {
      case "domain": {
        const pre = opts.prebuilt?.get(index);
        if (pre) {
          set.addDomains(yield* DomainList.fromSharedSteps(list.name, pre.list, set.query));
          set.stats.push(pre.stats);
          break;
        }
        const pack = packed?.get(index);
        const items = list.items;
        // The list's bytes, read into this process for this compile only, become the names'
        // arena (DomainSetBuilder.adopt): packed items, else a list file given on its own.
        const file = list.file ? readListFile(list, list.file, opts) : undefined;
        const own =
          pack && !file
            ? Buffer.from(pack.bytes.buffer, pack.bytes.byteOffset, pack.bytes.byteLength)
            : file && !pack && !items?.length && file.length >= ADOPT_BYTES
              ? file
              : undefined;
        // Otherwise the arena is sized once for every source (DomainSetBuilder grows a buffer
        // that fills by copying it whole into one twice as large, in one step): a name is
        // never longer than its line or item.
        let bytes = own ? 0 : (pack?.bytes.length ?? 0) + (file?.length ?? 0);
        let names = own ? (pack ? pack.count : countLines(own)) : (pack?.count ?? 0);
        if (!own && items) {
          for (const item of items) bytes += String(item).length;
          names += items.length;
        }
        if (!own && file) names += countLines(file);
        const into = new DomainListBuilder({ bytes, names }, opts.shared === true);
        if (own) into.block.adopt(own);
        const stats = newParseStats();
        const format: DomainListFormat = list.format ?? "auto";
        let line = 1;
        if (pack) {
          // The same bytes the item-by-item path below makes (UTF-8, "\n" between items).
          line = yield* parseBytes(
            own ?? Buffer.from(pack.bytes.buffer, pack.bytes.byteOffset, pack.bytes.byteLength),
            format,
            into,
            stats,
            line,
          );
        } else if (items) {
          // Inline items use the same parser (one item = one line) so they follow the same rules.
          for (let i = 0; i < items.length; i += ITEM_CHUNK) {
            const text = items
              .slice(i, i + ITEM_CHUNK)
              .map(String)
              .join("\n");
            line = parseDomainList(Buffer.from(text, "utf8"), format, into, stats, line);
            yield;
          }
        }
        if (file) yield* parseBytes(file, format, into, stats, 1);
        const domains = yield* into.buildSteps(list.name, set.query, stats);
        set.addDomains(domains);
        set.stats.push({
          name: list.name,
          type: list.type,
          size: domains.size,
          rejected: stats.rejected,
          unsupported: stats.unsupported,
          samples: stats.samples,
        });
        break;
      }
      case "string": {
        const s = new Set<string>();
        let n = 0;
        for (const item of itemsOf(list, opts)) {
          s.add(Buffer.from(String(item)).toString("latin1"));
          if ((++n & 0xfff) === 0) yield;
        }
        set.addBytes(list.name, s);
        set.stats.push({ name: list.name, type: list.type, size: s.size, rejected: 0 });
        break;
      }
      case "int": {
        const s = new Set<number>();
        let n = 0;
        for (const item of itemsOf(list, opts)) {
          if ((++n & 0xfff) === 0) yield;
          const v = typeof item === "number" ? item : Number(String(item).trim());
          if (!Number.isSafeInteger(v))
            throw new ListError(list.name, `"${item}" is not an integer`);
          s.add(v);
        }
        set.addInt(list.name, s);
        set.stats.push({ name: list.name, type: list.type, size: s.size, rejected: 0 });
        break;
      }
      case "ip": {
        const cidrs = itemsOf(list, opts).map((item) => {
          try {
            return parseCidr(String(item));
          } catch (e) {
            throw new ListError(list.name, (e as Error).message, { cause: e });
          }
        });
        const ips = new IpSet(cidrs);
        set.addIp(list.name, ips);
        set.stats.push({ name: list.name, type: list.type, size: ips.size, rejected: 0 });
        break;
      }
    }
  }
  set.query.index = yield* suffixIndexSteps(set.domainListsInOrder());
  return set;
}

function readListFile(list: List, file: string, opts: BuildListsOptions): Buffer {
  const path = isAbsolute(file) ? file : resolve(opts.baseDir ?? process.cwd(), file);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ListError(list.name, `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Inline items plus non-comment lines of the file, for non-domain lists. */
function itemsOf(list: List, opts: BuildListsOptions): (string | number)[] {
  const out: (string | number)[] = [...(list.items ?? [])];
  if (list.file) {
    for (const raw of readListFile(list, list.file, opts).toString("utf8").split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
      out.push(line);
    }
  }
  return out;
}
