// A config bundle's body read whole: what bundle-stream.ts falls back to for a body that is not
// canonical JSON (an older control, a hand-written file) or whose bytes do not match its hash,
// where the hash is checked over a re-serialisation of the parse. A body (tens of MB for
// millions of list items) is parsed and hash-checked off the event loop: a worker thread runs
// JSON.parse and the contract's verifyBundleHash, then hands back the bundle with each list's items packed into one buffer of "\n"-separated UTF-8 bytes,
// and the body's bytes; both buffers are transferred, not copied. A string or a million-string
// array would be copied into fresh memory on the main thread as the message arrives: for the
// 70 MB of a 2.2M-name list that is one block of 0.3-0.5 s, nearly all of it page faults (the
// parser thread has already touched the transferred pages). Domain lists stay packed: the
// compile reads the bytes in slices (snapshot.ts, lists/list-set.ts), so the main thread never
// creates one string per name (2.2 million of them cost a collector pause of about half a
// second). Other lists are split into their item arrays in slices. Small bodies are parsed
// inline by the same code: a worker's start-up costs more than they do.

import { Worker } from "node:worker_threads";
import type { ConfigBundle } from "@gatehouse/contract";
import { verifyBundleHash } from "@gatehouse/contract/bundle-hash";
import { runSliced, type Steps } from "../slices.ts";

/** Bodies from this size on are parsed in a worker thread. */
export const OFF_THREAD_BYTES = 1 << 20;

/**
 * The largest config poll answer an edge reads (edge.limits.maxBundleBytes): 256 MiB, room for
 * about 7 million names of typical length (2.2 million make 77 MB of JSON).
 */
export const DEFAULT_MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

/**
 * The parser thread's heap limit in MiB (edge.limits.bundleParseMemoryMb). Parsing a 77 MB body
 * with 2.2 million names takes about 300 MB; a body whose parsed form outgrows this (deeply
 * nested, millions of tiny objects) stops the thread, not the edge.
 */
const DEFAULT_PARSE_MEMORY_MB = 1024;

/** The parser thread ran out of its heap (resourceLimits): the body is refused. */
export class BundleParseMemoryError extends Error {
  override name = "BundleParseMemoryError";
}

export interface ParseOptions {
  /** The parser thread's heap limit (MiB); default DEFAULT_PARSE_MEMORY_MB. */
  readonly memoryMb?: number;
}

/** A list's items as UTF-8 bytes, "\n" between them: `count` items, none holding a "\n". */
export interface PackedItems {
  readonly bytes: Uint8Array;
  readonly count: number;
}

/** Packed items by list index; each such list's `items` in the bundle is left empty. */
export type PackedLists = ReadonlyMap<number, PackedItems>;

/** A bundle with the items of some lists moved into `packed`. */
interface PackedBundle {
  readonly bundle: ConfigBundle;
  /** lists[list].items = the UTF-8 text of `bytes` split at "\n" (count items). */
  readonly packed: { list: number; bytes: Uint8Array; count: number }[];
  /** The bundle carries a hash and it matches its content (contract verifyBundleHash). */
  readonly hashOk: boolean;
}

export interface ParsedBundle {
  /** The bundle; the items of the lists in `packed` are left out (an empty array). */
  readonly bundle: ConfigBundle;
  /** Domain lists' items, packed: compile with Edge.apply(bundle, packed). */
  readonly packed: PackedLists;
  readonly hashOk: boolean;
  /** The body as received: the bundle's JSON, to write as the last good bundle. */
  readonly body: Uint8Array;
}

type WorkerAnswer =
  | { ok: true; result: PackedBundle; body: Uint8Array }
  | { ok: false; message: string };

/** Parse and hash-check a body, then pack its list items (runs in the worker, or inline). */
export async function parseAndPack(body: Uint8Array): Promise<PackedBundle> {
  const bundle = JSON.parse(new TextDecoder().decode(body)) as ConfigBundle;
  const hashOk = bundle !== null && typeof bundle === "object" && (await verifyBundleHash(bundle));
  const packed: { list: number; bytes: Uint8Array; count: number }[] = [];
  const lists: unknown = bundle?.lists;
  if (Array.isArray(lists)) {
    lists.forEach((l: { items?: unknown }, i) => {
      const items = l?.items;
      // Only plain string items without a newline pack; anything else travels as it is and is
      // refused (or accepted) by the compile exactly as before.
      if (!Array.isArray(items) || items.length < 2) return;
      for (const x of items) if (typeof x !== "string" || x.includes("\n")) return;
      packed.push({
        list: i,
        bytes: ownBuffer(utf8.encode(items.join("\n"))),
        count: items.length,
      });
      l.items = [];
    });
  }
  return { bundle, packed, hashOk };
}

const utf8 = new TextEncoder();

/** `a` itself when it is the whole of its ArrayBuffer (so it can be transferred), else a copy. */
function ownBuffer(a: Uint8Array): Uint8Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
}

/** Packed bytes decoded per chunk of about this many (cut at a "\n"). */
const SPLIT_CHUNK = 64 * 1024;

/** `items` split into its strings, a chunk of bytes at a time. */
function* splitSteps({ bytes, count }: PackedItems): Steps<string[]> {
  const items: string[] = [];
  const all = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let start = 0; ; ) {
    const nl = start + SPLIT_CHUNK >= all.length ? -1 : all.indexOf(0x0a, start + SPLIT_CHUNK);
    const end = nl < 0 ? all.length : nl;
    for (const item of all.toString("utf8", start, end).split("\n")) items.push(item);
    if (end === all.length) break;
    start = end + 1;
    yield;
  }
  if (items.length !== count)
    throw new Error(`packed bundle items: ${items.length} found, ${count} announced`);
  return items;
}

/** Split the given packed lists back into the bundle's item arrays. */
export function* unpackSteps(
  bundle: ConfigBundle,
  packed: Iterable<readonly [number, PackedItems]>,
): Steps<ConfigBundle> {
  for (const [list, items] of packed)
    (bundle.lists[list] as { items?: string[] }).items = yield* splitSteps(items);
  return bundle;
}

/**
 * The bundle with every packed list split back into its items (in slices): one string per
 * item, as JSON.parse would have made them (tests, and a compile that cannot take packed lists).
 */
export function unpackBundle(p: Pick<ParsedBundle, "bundle" | "packed">): Promise<ConfigBundle> {
  return runSliced(unpackSteps(p.bundle, p.packed));
}

// The parser thread is kept between bodies (unref'd: it never holds the process open while
// idle). A thread that exits hands the heap pages V8 pooled for it to the main thread, which
// unmaps them 8 s later in one task: 100-330 ms of munmap for a 77 MB body's parse, a stall as
// long as the one the thread was there to avoid. A thread kept alive frees them itself, in its
// own garbage collection (one after each body: bundle-parse-worker.ts). It is replaced when it
// dies (out of its heap) or the heap limit changes; bodies are parsed one at a time.
let parser: { worker: Worker; memoryMb: number } | undefined;
let parsing: Promise<unknown> = Promise.resolve();

/** The parser thread's id while one is running (tests, diagnostics). */
export function bundleParserThreadId(): number | undefined {
  return parser?.worker.threadId;
}

/** The parser thread's heap in use, bytes, while one is running (tests, diagnostics). */
export async function bundleParserHeapBytes(): Promise<number | undefined> {
  const w = parser?.worker;
  return w ? (await w.getHeapStatistics()).used_heap_size : undefined;
}

function parserThread(memoryMb: number): Worker {
  if (parser?.memoryMb === memoryMb) return parser.worker;
  if (parser) void parser.worker.terminate();
  const worker = new Worker(new URL("./bundle-parse-worker.ts", import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: memoryMb },
  });
  worker.unref();
  parser = { worker, memoryMb };
  return worker;
}

function parseInWorker(
  body: Uint8Array,
  memoryMb: number,
): Promise<PackedBundle & { body: Uint8Array }> {
  const run = parsing.then(() => parseOnce(body, memoryMb));
  // Settled with nothing: the chain must not keep the last bundle and its bytes.
  parsing = run.then(
    () => undefined,
    () => undefined,
  );
  return run;
}

function parseOnce(
  body: Uint8Array,
  memoryMb: number,
): Promise<PackedBundle & { body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const w = parserThread(memoryMb);
    const done = (dead: boolean) => {
      w.off("message", onMessage);
      w.off("error", onError);
      w.off("exit", onExit);
      w.unref();
      if (dead && parser?.worker === w) parser = undefined;
    };
    const onMessage = (m: WorkerAnswer) => {
      done(false);
      if (m.ok) resolve({ ...m.result, body: m.body });
      else reject(new SyntaxError(m.message));
    };
    const onError = (e: Error & { code?: string }) => {
      done(true);
      reject(
        e.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? new BundleParseMemoryError(
              `parsing the bundle needs more than the parser thread's ${memoryMb} MiB heap (edge.limits.bundleParseMemoryMb)`,
              { cause: e },
            )
          : e,
      );
    };
    const onExit = (code: number) => {
      done(true);
      reject(new Error(`the bundle parser thread exited (${code})`));
    };
    w.on("message", onMessage);
    w.on("error", onError);
    w.on("exit", onExit);
    // Held open while it parses, so an answer awaited with nothing else pending arrives.
    w.ref();
    // The body's bytes move to the worker (transferred when they own their buffer).
    const own =
      body.buffer instanceof ArrayBuffer &&
      body.byteOffset === 0 &&
      body.byteLength === body.buffer.byteLength;
    const buf = own ? body : body.slice();
    w.postMessage(buf, [buf.buffer as ArrayBuffer]);
  });
}

/**
 * A config bundle from its body, with its hash checked; a large body is parsed off the event
 * loop and handed to the worker (a body that owns its ArrayBuffer is transferred: the caller's
 * view is left empty; `body` in the answer holds the bytes). Domain lists' items come back in
 * `packed`, other lists' as arrays. Throws SyntaxError when the body is not JSON,
 * BundleParseMemoryError when the parser thread outgrows its heap limit.
 */
export async function parseBundleBody(
  body: Uint8Array,
  opts: ParseOptions = {},
): Promise<ParsedBundle> {
  const p =
    body.byteLength >= OFF_THREAD_BYTES
      ? await parseInWorker(body, opts.memoryMb ?? DEFAULT_PARSE_MEMORY_MB)
      : { ...(await parseAndPack(body)), body };
  const packed = new Map<number, PackedItems>();
  const split: [number, PackedItems][] = [];
  for (const { list, bytes, count } of p.packed) {
    if (p.bundle.lists[list]?.type === "domain") packed.set(list, { bytes, count });
    else split.push([list, { bytes, count }]);
  }
  const bundle = await runSliced(unpackSteps(p.bundle, split));
  return { bundle, packed, hashOk: p.hashOk, body: p.body };
}
