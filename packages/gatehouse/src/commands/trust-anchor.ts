// `--trust-anchor FILE` (gatehouse up, gatehouse edge --config): DS or DNSKEY records in
// zone-file presentation, one per line, that replace the built-in root trust anchors — the same
// text as `resolver.dnssec.trustAnchors` (docs/dns.md). Read and checked before anything starts:
// a file that cannot be read or holds anything else stops the command with the line at fault.

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { ResolverSettings } from "@gatehouse/contract";
import { parseTrustAnchors } from "@gatehouse/edge";

/** Bound on the file (the config field allows 100,000 characters). */
const MAX_BYTES = 100_000;

export async function readTrustAnchorFile(path: string): Promise<string> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new Error(
      `--trust-anchor ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (text.length > MAX_BYTES)
    throw new Error(`--trust-anchor ${file}: longer than ${MAX_BYTES} characters`);
  let n: number;
  try {
    n = parseTrustAnchors(text).length;
  } catch (e) {
    throw new Error(`--trust-anchor ${file}: ${(e as Error).message}`);
  }
  if (n === 0) throw new Error(`--trust-anchor ${file}: holds no DS or DNSKEY record`);
  return text;
}

/** The resolver settings with `text` as their trust anchors. */
export function withTrustAnchors(r: ResolverSettings, text: string): ResolverSettings {
  return { ...r, dnssec: { ...r.dnssec, trustAnchors: text } };
}
