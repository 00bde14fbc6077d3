// Giving memory back after a burst. While an edge answers a burst of new names V8 grows its old
// space (queries in flight outlive the 1 MB young generation and are promoted) and the C heap
// holds the buffers' backing stores; when the burst ends nothing allocates, so no collection
// runs, and what the heap held stays resident, and so do the pages glibc's malloc freed between
// blocks still in use (free() only returns the top of an arena). Measured in docs/benchmarks.md
// ("Edge memory after a burst").
//
// Every CHECK_MS a timer (unref'd: it never holds the process) compares the RSS with the RSS it
// settled at after the last release. When it grew by GROWTH_BYTES or more, the event loop was
// mostly idle over the interval (the burst is over; a collection's pause then delays little)
// and the last release is MIN_RELEASE_GAP_MS ago, it runs (on an idle interval only: while
// queries still come, the release only trims) a full collection if V8's heap
// still holds that much beyond what is used (V8's own memory reducer shrinks it too, some
// 10-15 s after a burst), then, once V8's background threads freed the backing stores of the
// buffers it found dead, glibc's malloc_trim (native/malloc_trim.c: every whole free page of
// every arena back to the kernel; the GC's own bookkeeping is malloc'd too). V8 unmaps what a
// collection freed later, on a background thread, so when the RSS has since fallen by
// GROWTH_BYTES a second malloc_trim follows at a later quiet check. A quiet interval can come in
// the middle of a load (5,000 new names a second keep the loop 10-30 % busy), so the end of a
// load is told apart by an idle interval (IDLE_UTILIZATION) after a busier one: with the RSS
// GROWTH_BYTES or more above where the last such release left it, a compacting release runs at
// once, whatever the gap (otherwise a release during the load held it back for a minute, and the
// load's garbage, counted as used until collected, stayed: docs/benchmarks.md, "Edge memory
// after load"). A steady load never gives the watch its quiet interval: malloc_trim alone then
// runs at most once a minute, when glibc holds GROWTH_BYTES or more of freed blocks (trimHeld).
// Without the addon (no C compiler at install, or another C library) the collection alone runs. A collection that leaves V8's heap
// 16 MB or more beyond what it uses is followed by a compacting one (V8 keeps the pages a heap
// grew to: a list of many rules compiled leaves 100+ MB for 30 used).
//
// A config apply does not wait for the watch: the sync client collects and trims once the poll's
// answer is on disk (its socket reads are garbage in malloc's heap by then), and a swap of large
// lists is followed by releaseMemorySoon (a collection, a trim, a second trim). Measured in
// docs/benchmarks.md ("after a config swap").

import { performance } from "node:perf_hooks";
import { fullCollection } from "./full-collection.ts";
import { loadNativeAddon } from "./native-addon.ts";

interface TrimAddon {
  /** malloc_trim(0): true when memory was released; undefined without glibc. */
  trim(): boolean | undefined;
  /** mallinfo2(): [bytes in use, bytes free but held, bytes in mmapped blocks]. */
  stats(): [number, number, number] | undefined;
}

let addon: TrimAddon | null | undefined;

/** The malloc_trim addon, or undefined when it is not built or turned off. */
export function trimAddon(): TrimAddon | undefined {
  if (process.env["GATEHOUSE_MALLOC_TRIM"] === "0") return undefined;
  if (addon === undefined) {
    addon = null;
    if (process.platform === "linux") {
      addon =
        loadNativeAddon<TrimAddon>(
          "malloc_trim",
          "memory the C heap freed stays with the process",
        ) ?? null;
    }
  }
  return addon ?? undefined;
}

/** How often the RSS is looked at. */
export const CHECK_MS = 5000;
/** Growth of the RSS since it last settled that is worth a full collection. */
export const GROWTH_BYTES = 16 * 1024 * 1024;
/** Event-loop utilisation over the last interval at or below which the edge counts as quiet. */
export const QUIET_UTILIZATION = 0.25;
/**
 * Event-loop utilisation over the last interval at or below which the edge counts as idle: the
 * load is over (5,000 new names a second keep an edge's loop 10-30 % busy, which counts as
 * quiet, so a quiet interval can come in the middle of a load; an idle one does not).
 */
export const IDLE_UTILIZATION = 0.02;
/**
 * Least time between two releases started by the watch: where the RSS keeps growing under a
 * light, steady load (control's stores in `gatehouse up`), a full collection at most this often.
 */
export const MIN_RELEASE_GAP_MS = 60_000;
/**
 * From the watch's start to one malloc_trim of what starting up freed (loading modules,
 * compiling the config): 1.3 MB of an idle edge (docs/benchmarks.md, "Idle edge: what loads at
 * start"), unless a release or a trim ran first.
 */
const START_TRIM_MS = 2000;
/** From the collection to the trim: V8 frees dead ArrayBuffers' memory on background threads. */
const TRIM_AFTER_MS = 1000;

export interface MemoryReleaseStats {
  /** Releases run (a full collection, then a trim where the addon is built). */
  releases: number;
  /** RSS bytes given back, summed over releases (RSS before the collection minus after the trim). */
  releasedBytes: number;
}

/** What this process's releases did (gatehouse_edge_memory_* metrics). */
export const memoryReleaseStats: MemoryReleaseStats = { releases: 0, releasedBytes: 0 };

/** The state of one process's watch: one timer however many edges run in the process. */
let users = 0;
let timer: ReturnType<typeof setInterval> | undefined;
let settled = 0;
let releasing = false;
let lastElu: ReturnType<typeof performance.eventLoopUtilization> | undefined;
/** When the watch last started a release (performance.now()). */
let lastRelease = Number.NEGATIVE_INFINITY;
/** malloc_trim ran in this process (a release, a trim, or the one after the watch's start). */
let trimmed = false;
/** When malloc_trim last ran for a release or trimHeld() (performance.now()). */
let lastHeldTrim = Number.NEGATIVE_INFINITY;
/** Least time between two of trimHeld()'s trims (the watch's `heldTrimGapMs`). */
let heldTrimGap = MIN_RELEASE_GAP_MS;
/** An interval busier than idle came since the last release started on an idle interval. */
let loaded = false;
/** The RSS the last release started on an idle interval settled at (or the watch's start). */
let idleSettled = 0;

/**
 * One release now: a full collection when V8's heap holds GROWTH_BYTES or more beyond what is
 * used (its memory reducer has not shrunk it yet), then, TRIM_AFTER_MS later, malloc_trim.
 * Resolves once done. `collect` true or false forces the collection or leaves it out;
 * `trimAfterMs` shortens the wait for V8's background threads where the caller waits on it.
 */
export function releaseMemory(
  collect?: boolean | "compact",
  trimAfterMs = TRIM_AFTER_MS,
): Promise<void> {
  if (releasing) return Promise.resolve();
  releasing = true;
  const before = process.memoryUsage.rss();
  const heap = process.memoryUsage();
  if (collect === "compact") fullCollection(true);
  else if (collect ?? heap.heapTotal - heap.heapUsed >= GROWTH_BYTES) {
    fullCollection();
    // Objects freed, the pages kept: a heap that grew this far past what it uses is compacted.
    const after = process.memoryUsage();
    if (after.heapTotal - after.heapUsed >= GROWTH_BYTES) fullCollection(true);
  }
  return new Promise<void>((done) => {
    const t = setTimeout(() => {
      trimmed = true;
      trimAddon()?.trim();
      lastHeldTrim = performance.now();
      const after = process.memoryUsage.rss();
      memoryReleaseStats.releases++;
      memoryReleaseStats.releasedBytes += Math.max(0, before - after);
      settled = after;
      releasing = false;
      done();
    }, trimAfterMs);
    t.unref();
  });
}

/** After releaseMemorySoon's trim, a second one this much later (see below). */
export const TRIM_AGAIN_MS = 5000;
let soon: ReturnType<typeof setTimeout> | undefined;

/**
 * The collection after a swap (releaseMemorySoon), by the event loop's utilisation since the
 * swap: compacting when idle, a plain full one otherwise.
 */
export function afterSwapCollection(utilization: number): "compact" | true {
  return utilization <= IDLE_UTILIZATION ? "compact" : true;
}

/**
 * After a config swap dropped large lists: a full collection `delayMs` from now (one, however
 * often this is called meanwhile; compacting when the loop was idle meanwhile), then
 * malloc_trim (releaseMemory), and another trim
 * TRIM_AGAIN_MS later. The swap's garbage is mostly outside the JS heap: the old lists' buffers
 * (their own mappings, unmapped once collected) and the config poll's socket reads (64 KiB
 * blocks, under the mmap threshold, so from malloc's main heap). Collected, the blocks' space
 * stays in that heap between blocks still in use, tens of MB for a body of millions of names
 * (docs/benchmarks.md, "after a swap"): nothing else gives it back, since the watch above
 * releases at most once a minute and a swap may come sooner after the first apply. The second
 * trim takes what V8's background threads freed after the first. The timers never hold the
 * process.
 */
export function releaseMemorySoon(delayMs = 2000): void {
  clearTimeout(soon);
  const from = performance.eventLoopUtilization();
  soon = setTimeout(() => {
    // A release started by the watch is under way: this one follows it.
    if (releasing) return releaseMemorySoon(TRIM_AFTER_MS);
    lastRelease = performance.now();
    // An edge idle since the swap (as the watch's release at a load's end): a compacting
    // collection, which hands the pages the compile's garbage left back at once — a plain one
    // keeps them (a 1M mixed list's edge held ~15 MB more, heapTotal 33 MB for 20 used, until
    // some later compaction). Busier than that, a plain one, as before (a compacting collection
    // keeps the loop busy for a few full collections: 0.2-0.35 s in process at load 12).
    void releaseMemory(
      afterSwapCollection(performance.eventLoopUtilization(from).utilization),
    ).then(() => {
      soon = setTimeout(() => {
        if (!releasing) trim(process.memoryUsage.rss());
      }, TRIM_AGAIN_MS);
      soon.unref();
    });
  }, delayMs);
  soon.unref();
}

function check(): void {
  const elu = performance.eventLoopUtilization(lastElu);
  lastElu = performance.eventLoopUtilization();
  const idle = elu.utilization <= IDLE_UTILIZATION;
  if (!idle) loaded = true;
  if (releasing) return;
  const rss = process.memoryUsage.rss();
  const quiet = elu.utilization <= QUIET_UTILIZATION;
  if (idle && loaded && rss - idleSettled >= GROWTH_BYTES) {
    // The load is over: release now, whenever the last release was (one started in a quiet
    // moment during the load leaves `settled` high and the gap then held this one back for up
    // to a minute). Always collect, compacting: until collected, V8 counts what the load left
    // as used, and a plain collection's freed pages stay resident until V8's memory reducer
    // unmaps them some 10 s later; the compacting one hands them back at once.
    loaded = false;
    lastRelease = performance.now();
    void releaseMemory("compact").then(() => {
      idleSettled = settled;
    });
  } else if (rss - settled >= GROWTH_BYTES) {
    if (quiet && performance.now() - lastRelease >= MIN_RELEASE_GAP_MS) {
      lastRelease = performance.now();
      // While queries still come (busier than idle), no collection: a compacting one of a
      // load's heap kept the loop busy for 1-2 s (queries lost); the release at the load's end
      // collects.
      void releaseMemory(idle ? undefined : false);
    }
  } else if (settled - rss >= GROWTH_BYTES && quiet) {
    // V8 gave pages back since the last release (its memory reducer, or the unmapping of what
    // the release's collection freed, which V8 does later on a background thread): what it
    // freed into the C heap with them (remembered sets, marking state) goes back too.
    trim(rss);
  } else if (rss < settled) settled = rss;
  if (rss < idleSettled) idleSettled = rss;
  trimHeld();
}

/**
 * malloc_trim when glibc holds GROWTH_BYTES or more of freed blocks between blocks still in use
 * (mallinfo2's free bytes), at most every `heldTrimGapMs`, under load too: a steady load
 * never gives the watch the quiet interval its release waits for, and the C heap's freed pages
 * stay resident until trimmed (`gatehouse up`: 50-80 MB, docs/benchmarks.md).
 */
function trimHeld(): void {
  const lib = trimAddon();
  const now = performance.now();
  if (lib === undefined || releasing || now - lastHeldTrim < heldTrimGap) return;
  const held = lib.stats()?.[1];
  if (held === undefined || held < GROWTH_BYTES) return;
  lastHeldTrim = now;
  trimmed = true;
  // Not a release: `settled` stays where it was, so the growth a burst leaves still starts one.
  const rss = process.memoryUsage.rss();
  lib.trim();
  memoryReleaseStats.releases++;
  memoryReleaseStats.releasedBytes += Math.max(0, rss - process.memoryUsage.rss());
}

/** malloc_trim alone (when built), counted as a release; `rss` is the RSS before it. */
function trim(rss: number): void {
  trimmed = true;
  const lib = trimAddon();
  if (lib) {
    lib.trim();
    const after = process.memoryUsage.rss();
    memoryReleaseStats.releases++;
    memoryReleaseStats.releasedBytes += Math.max(0, rss - after);
    settled = after;
  } else settled = rss;
}

/**
 * Watch this process's RSS and give memory back after bursts (see the top of this file), and
 * the C heap's freed pages at most every `heldTrimGapMs` (trimHeld), until the returned function
 * is called; edges in one process share one watch (the first one's settings).
 */
export function watchMemory(checkMs = CHECK_MS, heldTrimGapMs = MIN_RELEASE_GAP_MS): () => void {
  if (users++ === 0) {
    settled = process.memoryUsage.rss();
    idleSettled = settled;
    loaded = false;
    heldTrimGap = heldTrimGapMs;
    // The first trim a gap after the start: what starting up freed (tens of MB under `up`).
    lastHeldTrim = performance.now();
    lastElu = performance.eventLoopUtilization();
    timer = setInterval(check, checkMs);
    timer.unref();
    setTimeout(() => {
      if (!trimmed && !releasing && users > 0) trim(process.memoryUsage.rss());
    }, START_TRIM_MS).unref();
  }
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    if (--users === 0) clearInterval(timer);
  };
}
