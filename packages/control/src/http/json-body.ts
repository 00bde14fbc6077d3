// The JSON body parser. Fastify's default decodes bytes leniently (invalid UTF-8 becomes U+FFFD
// and would be stored); this one refuses invalid UTF-8 (RFC 8259 §8.1: JSON text is UTF-8) and
// absurd nesting before JSON.parse sees the text, so hostile bodies fail fast with a 400.

import { isUtf8 } from "node:buffer";
import { GatehouseError } from "@gatehouse/contract";

/** Deeper than any document of ours; bounds the recursion of every later consumer. */
const MAX_JSON_DEPTH = 64;

/** Depth of brackets outside strings; stops counting at the first excess. */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  if (!isUtf8(body)) throw new GatehouseError("GH_ERR_BAD_REQUEST", "body is not valid UTF-8");
  const text = body.toString("utf8");
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH))
    throw new GatehouseError(
      "GH_ERR_BAD_REQUEST",
      `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GatehouseError("GH_ERR_BAD_REQUEST", `malformed JSON: ${(err as Error).message}`);
  }
  const bad = findUnstorableString(value, "");
  if (bad !== undefined)
    throw new GatehouseError(
      "GH_ERR_BAD_REQUEST",
      "strings must be well-formed Unicode without NUL characters",
      { path: bad },
    );
  return value;
}

/**
 * `\ud800` (a lone surrogate) is valid JSON but not Unicode text, and Postgres text cannot hold
 * NUL: both are refused here rather than silently mangled or failing deep in the store.
 * Returns the JSON pointer of the first offender. Depth is already bounded.
 */
function findUnstorableString(v: unknown, path: string): string | undefined {
  if (typeof v === "string") return storable(v) ? undefined : path || "/";
  if (v === null || typeof v !== "object") return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = findUnstorableString(v[i], `${path}/${i}`);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  for (const [k, x] of Object.entries(v)) {
    if (!storable(k)) return `${path}/${k}`;
    const r = findUnstorableString(x, `${path}/${k}`);
    if (r !== undefined) return r;
  }
  return undefined;
}

export function storable(s: string): boolean {
  return s.isWellFormed() && !s.includes("\0");
}
