// The worker thread of bundle-parse.ts: bodies in (one at a time), a packed bundle (or the parse
// error) out for each, with the body's bytes handed back; the body and the packed items' bytes
// are transferred, not copied. The thread is kept between bodies (bundle-parse.ts says why).
//
// After each body the thread collects its own heap: idle, it allocates nothing, so V8 would
// never collect on its own, and the heap a large parse grew (about 290 MB for 2.2M names) would
// stay resident for good. A collection on this thread releases it here, off the main thread.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parentPort } from "node:worker_threads";
import { parseAndPack } from "./bundle-parse.ts";

/**
 * V8's full collection, taken from a throwaway context while --expose-gc is briefly on. The
 * flag is process-wide; it is turned off again at once so no other context (a future sandbox)
 * is given `gc`.
 */
function fullCollection(): () => void {
  setFlagsFromString("--expose-gc");
  try {
    return runInNewContext("gc") as () => void;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}
const collect = fullCollection();

/** After this long with no body, the last parse's garbage is collected. */
const COLLECT_AFTER_MS = 100;
let pending: ReturnType<typeof setTimeout> | undefined;

parentPort?.on("message", (body: Uint8Array) => {
  clearTimeout(pending);
  const settled = () => {
    pending = setTimeout(collect, COLLECT_AFTER_MS);
    pending.unref();
  };
  parseAndPack(body).then(
    (result) => {
      parentPort?.postMessage({ ok: true, result, body }, [
        body.buffer as ArrayBuffer,
        ...result.packed.map((p) => p.bytes.buffer as ArrayBuffer),
      ]);
      settled();
    },
    (e: unknown) => {
      parentPort?.postMessage({ ok: false, message: (e as Error).message });
      settled();
    },
  );
});
