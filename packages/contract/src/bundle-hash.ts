// Content hash of a bundle: sha256 over canonical JSON (object keys sorted, no whitespace) of
// every property but `hash` itself. WebCrypto, so it runs in Node and in the browser.

import type { ConfigBundle } from "./config-bundle.ts";

/** JSON with object keys sorted at every depth; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(",")}]`;
  const entries = Object.keys(value as object)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(",")}}`;
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
