// The worker thread of bundle-parse.ts: bodies in (one at a time), a packed bundle (or the parse
// error) out for each, with the body's bytes handed back; the body and the packed items' bytes
// are transferred, not copied. The thread is kept between bodies (bundle-parse.ts says why).
//
// After each body the thread collects its own heap: idle, it allocates nothing, so V8 would
// never collect on its own, and the heap a large parse grew (about 290 MB for 2.2M names) would
// stay resident for good. A collection on this thread releases it here, off the main thread.

import { parentPort } from "node:worker_threads";
import { fullCollection } from "../full-collection.ts";
import { parseAndPack } from "./bundle-parse.ts";

/** After this long with no body, the last parse's garbage is collected. */
const COLLECT_AFTER_MS = 100;
let pending: ReturnType<typeof setTimeout> | undefined;

parentPort?.on("message", (body: Uint8Array) => {
  clearTimeout(pending);
  const settled = () => {
    pending = setTimeout(fullCollection, COLLECT_AFTER_MS);
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
