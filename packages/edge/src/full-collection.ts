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

let collect: (() => void) | undefined;

/** Run a full (major) collection now, on this thread. */
export function fullCollection(): void {
  if (!collect) {
    setFlagsFromString("--expose-gc");
    try {
      collect = runInNewContext("gc") as () => void;
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  }
  collect();
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
