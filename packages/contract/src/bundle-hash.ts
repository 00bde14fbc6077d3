// Content hash of a bundle: sha256 over canonical JSON (object keys sorted, no whitespace) of
// every property but `hash` itself. WebCrypto, so it runs in Node and in the browser. The one
// canonical JSON of the project: control hashes and diffs with it, the edge streams it in slices
// (edge/src/sync/bundle-digest.ts) through canonicalJsonSteps.

import type { ConfigBundle } from "./config-bundle.ts";

/** Array items serialised together (one JSON.stringify) when they are all primitives. */
const RUN = 4096;

function primitives(a: readonly unknown[], from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const v = a[i];
    if (v !== null && typeof v === "object") return false;
  }
  return true;
}

/**
 * canonicalJson(value) handed to `out` piece by piece, in order, pausing (a yield) after every
 * RUN items of an array: a caller may give the event loop back there, so a list of millions of
 * names is hashed or written without a long block. A run of primitive items is one
 * JSON.stringify call (undefined and functions become null, as canonicalJson's items do).
 */
export function* canonicalJsonSteps(
  value: unknown,
  out: (piece: string) => void,
): Generator<void, void, void> {
  if (value === null || typeof value !== "object") {
    out(JSON.stringify(value) ?? "null");
    return;
  }
  if (Array.isArray(value)) {
    out("[");
    for (let i = 0; i < value.length; i += RUN) {
      const end = Math.min(value.length, i + RUN);
      if (i > 0) out(",");
      if (primitives(value, i, end)) {
        const run = JSON.stringify(i === 0 && end === value.length ? value : value.slice(i, end));
        out(run.slice(1, -1));
      } else {
        for (let j = i; j < end; j++) {
          if (j > i) out(",");
          const v: unknown = value[j];
          yield* canonicalJsonSteps(v === undefined ? null : v, out);
        }
      }
      if (end < value.length) yield;
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
    const k = keys[i] as string;
    out(`${i > 0 ? "," : ""}${JSON.stringify(k)}:`);
    yield* canonicalJsonSteps(o[k], out);
  }
  out("}");
}

/** JSON with object keys sorted at every depth; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  const pieces: string[] = [];
  const steps = canonicalJsonSteps(value, (p) => {
    pieces.push(p);
  });
  while (!steps.next().done);
  return pieces.join("");
}

export async function bundleHash(bundle: ConfigBundle): Promise<string> {
  const { hash: _ignored, ...rest } = bundle;
  const bytes = new TextEncoder().encode(canonicalJson(rest));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** True when the bundle carries a hash and it matches its content. */
export async function verifyBundleHash(bundle: ConfigBundle): Promise<boolean> {
  return bundle.hash !== undefined && bundle.hash === (await bundleHash(bundle));
}
