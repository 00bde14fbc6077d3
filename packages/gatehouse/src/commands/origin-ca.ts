// `--origin-ca FILE` (repeatable) on `gatehouse up` and `gatehouse edge`: extra CAs the edge
// trusts, besides the system store and the organisation's `proxy.originCas`, when it verifies
// origins of inspected connections (private origins, tests).

import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setLocalOriginCas } from "@gatehouse/edge";

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Read each file's PEM certificates (every one must parse) and trust them for origins. */
export async function trustOriginCaFiles(files: readonly string[] | undefined): Promise<number> {
  const pems: string[] = [];
  for (const f of files ?? []) {
    const text = await readFile(f, "utf8").catch((e: Error) => {
      throw new Error(`--origin-ca ${f}: ${e.message}`);
    });
    const found = text.match(PEM) ?? [];
    if (found.length === 0) throw new Error(`--origin-ca ${f}: no PEM certificate in the file`);
    for (const p of found) {
      try {
        new X509Certificate(p);
      } catch (e) {
        throw new Error(`--origin-ca ${f}: a certificate does not parse: ${(e as Error).message}`);
      }
      pems.push(`${p}\n`);
    }
  }
  setLocalOriginCas(pems);
  return pems.length;
}
