// The contract's bundle hash (sha256 over canonical JSON, bundle-hash.ts), computed faster for
// big bundles: an array whose elements are all primitives serialises canonically with one
// JSON.stringify call (no keys to sort; undefined → null either way), which turns a million
// list items from a million small strings into one native call. The output is identical to
// the contract's canonicalJson — a unit test holds the two together.

import { createHash } from "node:crypto";
import type { ConfigBundle } from "@gatehouse/contract";

function primitiveArray(a: readonly unknown[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v !== null && v !== undefined && typeof v === "object") return false;
  }
  return true;
}

export function canonicalJsonFast(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    if (primitiveArray(value)) return JSON.stringify(value);
    return `[${value.map((v) => canonicalJsonFast(v === undefined ? null : v)).join(",")}]`;
  }
  const o = value as Record<string, unknown>;
  const entries = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJsonFast(o[k])}`);
  return `{${entries.join(",")}}`;
}

/** Equal to the contract's bundleHash(bundle). */
export function fastBundleHash(bundle: ConfigBundle): string {
  const { hash: _ignored, ...rest } = bundle;
  return createHash("sha256").update(canonicalJsonFast(rest)).digest("hex");
}
