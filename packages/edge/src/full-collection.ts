// V8's full collection for the edge's own use, without exposing `gc` to any script: taken from a
// throwaway context while --expose-gc is briefly on (the flag is process-wide; it is turned off
// again at once, so no other context is given `gc`).
//
// Used where the edge knows it just dropped a lot of memory that V8 would not collect on its
// own soon: the bundle parser thread after each body (idle, it allocates nothing), and the main
// thread after a config swap replaced large lists (their buffers are outside the JS heap, which
// hardly grows while the edge serves, so nothing prompts a full collection for a long time and
// the old lists stay resident beside the new ones).

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Gc = (options?: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;
let collect: Gc | undefined;

/**
 * Run a full (major) collection now, on this thread. `compact`: V8's last-resort collection
 * instead (what it runs before giving up on memory: full collections repeated until nothing
 * more is freed, every page evacuated that can be, and the heap's free pages handed back). A
 * plain full collection frees objects but keeps the pages the heap grew to: after compiling a
 * list of many rules, a heap of 100+ MB for 30 MB used (docs/benchmarks.md). It costs a few
 * full collections, tens of ms for an edge's heap.
 */
export function fullCollection(compact = false): void {
  if (!collect) {
    setFlagsFromString("--expose-gc");
    try {
      collect = runInNewContext("gc") as Gc;
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  }
  if (compact) collect({ type: "major", execution: "sync", flavor: "last-resort" });
  else collect();
}

let soon: ReturnType<typeof setTimeout> | undefined;

/**
 * A full collection `delayMs` from now (one, however often this is called meanwhile), once the
 * caller and work in flight have let go of what was dropped. The timer never holds the process.
 */
export function fullCollectionSoon(delayMs = 2000): void {
  clearTimeout(soon);
  soon = setTimeout(fullCollection, delayMs);
  soon.unref();
}
