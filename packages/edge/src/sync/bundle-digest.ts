// The bundle's canonical JSON (contract bundle-hash.ts: keys sorted at every depth, no
// whitespace) produced in pieces by the contract's canonicalJsonSteps and handed on as ~1 MB
// chunks, giving the event loop back every few milliseconds: a bundle with millions of list
// items is hashed and written to disk without stalling answers, and without building its whole
// text as one string. The bytes are canonicalJson's, so the hash is bundleHash()'s.

import { createHash } from "node:crypto";
import type { ConfigBundle } from "@gatehouse/contract";
import { canonicalJsonSteps } from "@gatehouse/contract/bundle-hash";
import { SLICE_MS } from "../slices.ts";

const CHUNK_CHARS = 1 << 20;

/**
 * Hand `value`'s canonical JSON to `sink` in chunks of about 1 MiB, yielding to the event loop
 * whenever a slice has run SLICE_MS (and while the sink's promise is pending).
 */
export async function streamCanonicalJson(
  value: unknown,
  sink: (chunk: string) => void | Promise<void>,
): Promise<void> {
  let pending: string[] = [];
  let size = 0;
  const steps = canonicalJsonSteps(value, (piece) => {
    pending.push(piece);
    size += piece.length;
  });
  let start = performance.now();
  for (;;) {
    const r = steps.next();
    if (size >= CHUNK_CHARS || (r.done && size > 0)) {
      const chunk = pending.join("");
      pending = [];
      size = 0;
      await sink(chunk);
    }
    if (r.done) return;
    if (performance.now() - start >= SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      start = performance.now();
    }
  }
}

/** bundleHash(bundle), computed in slices. */
export async function bundleHashSliced(bundle: ConfigBundle): Promise<string> {
  const { hash: _ignored, ...rest } = bundle;
  const h = createHash("sha256");
  await streamCanonicalJson(rest, (chunk) => {
    h.update(chunk, "utf8");
  });
  return h.digest("hex");
}
