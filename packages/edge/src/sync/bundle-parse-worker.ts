// The worker thread of bundle-parse.ts: one body in, one packed bundle (or the parse error) out,
// with the body's bytes handed back; the body and the packed items' bytes are transferred, not
// copied (bundle-parse.ts says why).

import { parentPort } from "node:worker_threads";
import { parseAndPack } from "./bundle-parse.ts";

parentPort?.once("message", (body: Uint8Array) => {
  parseAndPack(body).then(
    (result) =>
      parentPort?.postMessage({ ok: true, result, body }, [
        body.buffer as ArrayBuffer,
        ...result.packed.map((p) => p.bytes.buffer as ArrayBuffer),
      ]),
    (e: unknown) => parentPort?.postMessage({ ok: false, message: (e as Error).message }),
  );
});
