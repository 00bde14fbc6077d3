// Hop-by-hop header handling (RFC 9110 §7.6.1): fields that describe one connection are removed
// before a message is forwarded, together with every field the Connection header names. Via is
// added (RFC 9110 §7.6.3) with this proxy's pseudonym, which is also how loops are detected.

import { fieldName, fieldValue } from "./field-list.ts";

/** Always connection-specific, whether or not Connection lists them. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive", // RFC 9112 §C.2.2 (HTTP/1.0 keep-alive)
  "proxy-connection", // non-standard, sent by old clients
  "proxy-authenticate",
  "proxy-authorization", // credentials for us, never for the origin (RFC 9110 §11.7.2)
  "te",
  "trailer",
  "transfer-encoding", // the body is re-framed by the next hop
  "upgrade",
]);

/**
 * A bit per name length (bit 31: 31 or more) of the names the two lists below act on (HOP_BY_HOP,
 * host, expect, via): a field whose name has none of those lengths, nor that of a field the
 * Connection header names, is copied without lowercasing its name.
 */
function lengthBit(n: number): number {
  return 1 << Math.min(n, 31);
}
const ACTED_ON = [...HOP_BY_HOP, "host", "expect", "via"].reduce(
  (m, n) => m | lengthBit(n.length),
  0,
);

function actedOnLengths(named: ReadonlySet<string> | undefined): number {
  let m = ACTED_ON;
  if (named !== undefined) for (const t of named) m |= lengthBit(t.length);
  return m;
}

/**
 * Connection option tokens, lowercased (RFC 9110 §7.6.1: `Connection: 1#connection-option`),
 * less those naming fields that are removed anyway (HOP_BY_HOP): the usual `keep-alive` makes
 * no set at all.
 */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = fieldName(raw, i);
    if (name.length !== 10 || name.toLowerCase() !== "connection") continue;
    const value = fieldValue(raw, i);
    if (value === "keep-alive" || value === "Keep-Alive") continue;
    for (const t of value.split(",")) {
      const tok = t.trim().toLowerCase();
      if (tok === "" || HOP_BY_HOP.has(tok)) continue;
      out ??= new Set();
      out.add(tok);
    }
  }
  return out;
}

/**
 * The request header list for the origin, flat [name, value, …]: hop-by-hop and Connection-named
 * fields removed, `Expect` removed (the proxy answers 100-continue itself), `Host` set to the
 * target authority (RFC 9112 §3.2.2: absolute-form wins over the received Host), Via appended.
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  authority: string,
  via: string,
): string[] {
  const named = connectionTokens(raw);
  const lengths = actedOnLengths(named);
  const out: string[] = ["host", authority];
  let viaIn = "";
  for (let i = 0; i < raw.length; i += 2) {
    const name = fieldName(raw, i);
    if ((lengths & lengthBit(name.length)) === 0) {
      out.push(name, fieldValue(raw, i));
      continue;
    }
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === "host" || lower === "expect") continue;
    if (named?.has(lower)) continue;
    if (lower === "via") {
      const value = fieldValue(raw, i);
      viaIn = viaIn === "" ? value : `${viaIn}, ${value}`;
      continue;
    }
    out.push(name, fieldValue(raw, i));
  }
  out.push("via", viaIn === "" ? via : `${viaIn}, ${via}`);
  return out;
}

/** Response headers for the client from the origin's flat field list, same rules. */
export function downstreamResponseHeaders(raw: readonly string[], via: string): string[] {
  const named = connectionTokens(raw);
  const lengths = actedOnLengths(named);
  const out: string[] = [];
  let viaIn = "";
  for (let i = 0; i < raw.length; i += 2) {
    const name = fieldName(raw, i);
    if ((lengths & lengthBit(name.length)) === 0) {
      out.push(name, fieldValue(raw, i));
      continue;
    }
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    if (lower === "via") {
      const value = fieldValue(raw, i);
      viaIn = viaIn === "" ? value : `${viaIn}, ${value}`;
      continue;
    }
    out.push(name, fieldValue(raw, i));
  }
  out.push("via", viaIn === "" ? via : `${viaIn}, ${via}`);
  return out;
}

/** The first value of field `lower` in a flat list, or undefined. */
export function headerValue(raw: readonly string[], lower: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = fieldName(raw, i);
    if (name.length === lower.length && name.toLowerCase() === lower) return fieldValue(raw, i);
  }
  return undefined;
}
