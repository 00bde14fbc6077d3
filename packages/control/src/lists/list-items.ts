// Validation and normalisation of list items, and the line formats domain lists arrive in
// (hosts files, adblock filter lists, plain one-name-a-line). Items are stored in canonical
// form so duplicates collapse and the edge sees exactly what it matches.

import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import { HOSTS_SELF_NAMES, type ListKind } from "@gatehouse/contract";

export const ITEM_FORMATS = ["auto", "hosts", "adblock", "plain"] as const;
export type ItemFormat = (typeof ITEM_FORMATS)[number];

/** Longest accepted item (and line): names are ≤ 253, strings ≤ 1024 (contract). */
export const MAX_ITEM_LENGTH = 1024;

export type ItemResult = { ok: true; value: string } | { ok: false; reason: string };

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** RFC 1035 §2.3.4 limits (253 characters in text form, 63 per label); IDNs to A-labels. */
export function normalizeDomain(raw: string): ItemResult {
  let s = raw.trim().toLowerCase();
  if (s.endsWith(".")) s = s.slice(0, -1);
  if (s.length === 0) return { ok: false, reason: "empty domain" };
  // The edge matches a listed domain and all its subdomains, and has no wildcard items: a
  // stored `*.x` would match nothing there, so it is refused with the fix instead.
  if (s.startsWith("*."))
    return {
      ok: false,
      reason: `wildcards are not list items: ${JSON.stringify(raw.slice(0, 300))} — list ${JSON.stringify(s.slice(2, 300))}, which covers its subdomains`,
    };
  if (!/^[\x00-\x7f]*$/.test(s)) {
    const a = domainToASCII(s);
    if (a === "") return { ok: false, reason: `not a valid domain name: ${JSON.stringify(raw)}` };
    s = a;
  }
  if (s.length > 253) return { ok: false, reason: "domain longer than 253 characters" };
  for (const label of s.split(".")) {
    if (!LABEL.test(label))
      return { ok: false, reason: `not a valid domain name: ${JSON.stringify(raw.slice(0, 300))}` };
  }
  return { ok: true, value: s };
}

/** An address or a CIDR block, prefix within the family's width. */
export function normalizeIp(raw: string): ItemResult {
  const s = raw.trim().toLowerCase();
  const slash = s.indexOf("/");
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (family === 0)
    return { ok: false, reason: `not an IP address: ${JSON.stringify(s.slice(0, 100))}` };
  if (slash < 0) return { ok: true, value: addr };
  const len = s.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(len) || Number(len) > max)
    return { ok: false, reason: `bad prefix length in ${JSON.stringify(s.slice(0, 100))}` };
  return { ok: true, value: `${addr}/${Number(len)}` };
}

export function normalizeInt(raw: string | number): ItemResult {
  const n = typeof raw === "number" ? raw : /^\s*-?\d{1,16}\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n))
    return { ok: false, reason: `not an integer: ${String(raw).slice(0, 50)}` };
  return { ok: true, value: String(n) };
}

export function normalizeString(raw: string): ItemResult {
  if (raw.length > MAX_ITEM_LENGTH)
    return { ok: false, reason: `item longer than ${MAX_ITEM_LENGTH} characters` };
  if (!raw.isWellFormed() || raw.includes("\0"))
    return { ok: false, reason: "item is not storable text" };
  return { ok: true, value: raw };
}

/**
 * Adblock exceptions (`@@||name^`) of a domain list are stored, and sent to edges, as items of
 * that same form: the edge's list parser files them under `<list>.allow`, as it does for list
 * files. The name is normalised like any domain (wildcards are refused: a listed name already
 * covers its subdomains).
 */
export function normalizeException(raw: string): ItemResult {
  const m = /^@@\|\|([^/^|$]+)\^?\|?$/.exec(raw.trim());
  if (!m)
    return {
      ok: false,
      reason: `not an adblock exception \`@@||name^\`: ${JSON.stringify(raw.slice(0, 300))}`,
    };
  const r = normalizeDomain(m[1]!);
  if (!r.ok) return r;
  return { ok: true, value: exceptionItem(r.value) };
}

/** The stored form of an exception for `name` (already normalised). */
export function exceptionItem(name: string): string {
  return `@@||${name}^`;
}

/** Normalise one item given as a JSON value. */
export function normalizeItem(kind: ListKind, raw: unknown): ItemResult {
  if (kind === "int") {
    if (typeof raw === "number" || typeof raw === "string") return normalizeInt(raw);
    return { ok: false, reason: "int list items are integers" };
  }
  if (typeof raw !== "string") return { ok: false, reason: `${kind} list items are strings` };
  if (raw.length > MAX_ITEM_LENGTH)
    return { ok: false, reason: `item longer than ${MAX_ITEM_LENGTH} characters` };
  switch (kind) {
    case "domain":
      return raw.trimStart().startsWith("@@") ? normalizeException(raw) : normalizeDomain(raw);
    case "ip":
      return normalizeIp(raw);
    case "string":
      return normalizeString(raw);
  }
}

/**
 * What one text line contributes. `skip` covers comments, blank lines, hosts boilerplate and
 * adblock rules a domain list cannot express (rules with `$options`, paths). Exceptions
 * (`@@||name^`) become exception items (normalizeException).
 */
export type LineResult =
  | { kind: "items"; values: string[] }
  | { kind: "skip" }
  | { kind: "invalid"; reason: string };

const SKIP: LineResult = { kind: "skip" };

export function parseLine(listKind: ListKind, format: ItemFormat, rawLine: string): LineResult {
  let line = rawLine.trim();
  if (line === "" || line.startsWith("#") || line.startsWith("!")) return SKIP;
  if (listKind !== "domain") {
    // Non-domain lists: one item a line; `#` comments after whitespace.
    const hash = line.search(/\s#/);
    if (hash >= 0) line = line.slice(0, hash).trim();
    const r = listKind === "string" ? normalizeString(line) : normalizeItem(listKind, line);
    return r.ok ? { kind: "items", values: [r.value] } : { kind: "invalid", reason: r.reason };
  }
  const hash = line.search(/\s#/);
  if (hash >= 0) line = line.slice(0, hash).trim();
  let f = format;
  if (f === "auto") {
    if (line.startsWith("||") || line.startsWith("@@") || line.startsWith("|")) f = "adblock";
    else if (/\s/.test(line) && isIP(line.split(/\s+/, 1)[0]!) !== 0) f = "hosts";
    else f = "plain";
  }
  switch (f) {
    case "hosts": {
      const parts = line.split(/\s+/);
      if (parts.length < 2 || isIP(parts[0]!) === 0)
        return { kind: "invalid", reason: "expected `ADDRESS NAME...`" };
      const values: string[] = [];
      for (const name of parts.slice(1)) {
        if (HOSTS_SELF_NAMES.has(name.toLowerCase())) continue;
        const r = normalizeDomain(name);
        if (!r.ok) return { kind: "invalid", reason: r.reason };
        values.push(r.value);
      }
      return values.length ? { kind: "items", values } : SKIP;
    }
    case "adblock": {
      // Options, wildcards and paths are rules we do not match: skipped (and counted), as the
      // edge's list-file parser skips them.
      if (line.includes("$") || line.includes("*")) return SKIP;
      if (line.startsWith("@@")) {
        if (!/^@@\|\|[^/^|]+\^?\|?$/.test(line)) return SKIP;
        const r = normalizeException(line);
        return r.ok ? { kind: "items", values: [r.value] } : { kind: "invalid", reason: r.reason };
      }
      const m = /^\|\|([^/^|]+)\^?\|?$/.exec(line);
      if (!m) return SKIP;
      const r = normalizeDomain(m[1]!);
      return r.ok ? { kind: "items", values: [r.value] } : { kind: "invalid", reason: r.reason };
    }
    default: {
      const r = normalizeDomain(line);
      return r.ok ? { kind: "items", values: [r.value] } : { kind: "invalid", reason: r.reason };
    }
  }
}
