// The bundle's canonical JSON (contract bundle-hash.ts: keys sorted at every depth, no
// whitespace) produced in pieces and handed on as ~1 MB chunks, giving the event loop back every
// few milliseconds: a bundle with millions of list items is hashed and written to disk without
// stalling answers, and without building its whole text as one string. The bytes are exactly
// canonicalJson's, so the hash is bundleHash()'s.

import { createHash } from "node:crypto";
import type { ConfigBundle } from "@gatehouse/contract";
import { SLICE_MS, type Steps } from "../slices.ts";

const CHUNK_CHARS = 1 << 20;

/** canonicalJson(value) as steps: `out` receives the text in order, piece by piece. */
function* canonicalSteps(value: unknown, out: (piece: string) => void): Steps<void> {
  if (value === null || typeof value !== "object") {
    out(JSON.stringify(value) ?? "null");
    return;
  }
  if (Array.isArray(value)) {
    out("[");
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out(",");
      const v: unknown = value[i] === undefined ? null : value[i];
      // Primitives inline: a list of millions of names makes no generator per item.
      if (v === null || typeof v !== "object") out(JSON.stringify(v) ?? "null");
      else yield* canonicalSteps(v, out);
      if ((i & 0xfff) === 0xfff) yield;
    }
    out("]");
    return;
  }
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  out("{");
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    out(`${i > 0 ? "," : ""}${JSON.stringify(k)}:`);
    yield* canonicalSteps(o[k], out);
  }
  out("}");
}

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
  const steps = canonicalSteps(value, (piece) => {
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

/** verifyBundleHash(bundle), computed in slices: the bundle carries a hash and it matches. */
export async function verifyBundleHashSliced(bundle: ConfigBundle): Promise<boolean> {
  return bundle.hash !== undefined && bundle.hash === (await bundleHashSliced(bundle));
}
