// The worker thread of bundle-parse.ts: bodies in (one at a time), a packed bundle (or the parse
// error) out for each, with the body's bytes handed back; the body and the packed items' bytes
// are transferred, not copied. The thread is kept between bodies (bundle-parse.ts says why).

import { parentPort } from "node:worker_threads";
import { parseAndPack } from "./bundle-parse.ts";

parentPort?.on("message", (body: Uint8Array) => {
  parseAndPack(body).then(
    (result) =>
      parentPort?.postMessage({ ok: true, result, body }, [
        body.buffer as ArrayBuffer,
        ...result.packed.map((p) => p.bytes.buffer as ArrayBuffer),
      ]),
    (e: unknown) => parentPort?.postMessage({ ok: false, message: (e as Error).message }),
  );
});
