// The contract's bundle hash (sha256 over its canonical JSON, contract bundle-hash.ts) with
// node:crypto instead of WebCrypto: synchronous, and without a TextEncoder copy of the text.

import { createHash } from "node:crypto";
import { type ConfigBundle, canonicalJson } from "@gatehouse/contract";

/** Equal to the contract's bundleHash(bundle). */
export function fastBundleHash(bundle: ConfigBundle): string {
  const { hash: _ignored, ...rest } = bundle;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}
