// Validation and normalisation of list items, and the line formats domain lists arrive in
// (contract/domain-rules.ts: plain, hosts, adblock, dnsmasq, Pi-hole regex). Items are stored
// in canonical form (a name, or a rule's canonical text) so duplicates collapse and the edge
// reads back exactly what was checked here.

import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import {
  DOMAIN_LIST_FORMATS,
  type DomainLine,
  type ListKind,
  parseDomainLine,
  ruleText,
} from "@gatehouse/contract";
import { compileRegex } from "@gatehouse/rules";

export const ITEM_FORMATS = DOMAIN_LIST_FORMATS;
export type ItemFormat = (typeof ITEM_FORMATS)[number];

/** Longest accepted item (and line): names are ≤ 253, strings ≤ 1024 (contract). */
export const MAX_ITEM_LENGTH = 1024;

type ItemResult = { ok: true; value: string } | { ok: false; reason: string };

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

function normalizeString(raw: string): ItemResult {
  if (raw.length > MAX_ITEM_LENGTH)
    return { ok: false, reason: `item longer than ${MAX_ITEM_LENGTH} characters` };
  if (!raw.isWellFormed() || raw.includes("\0"))
    return { ok: false, reason: "item is not storable text" };
  return { ok: true, value: raw };
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
      return normalizeDomainItem(raw);
    case "ip":
      return normalizeIp(raw);
    case "string":
      return normalizeString(raw);
  }
}

/**
 * One domain-list item given alone (JSON bodies, inline items): a name (IDNs to A-labels) or a
 * rule in any syntax parseDomainLine reads, stored as its canonical text.
 */
function normalizeDomainItem(raw: string): ItemResult {
  const t = raw.trim();
  if (/^[^\s|@/$^*]+$/.test(t) && !t.startsWith("*")) return normalizeDomain(t);
  const r = domainLineItems(parseDomainLine(t, "auto"));
  if (r.kind === "items") {
    const [value] = r.values;
    if (r.values.length !== 1 || value === undefined)
      return { ok: false, reason: "one item is one name or one rule" };
    return { ok: true, value };
  }
  if (r.kind === "skip")
    return { ok: false, reason: `not a list item: ${JSON.stringify(t.slice(0, 300))}` };
  return { ok: false, reason: r.reason };
}

/**
 * What one text line contributes. `skip` covers comments, blank lines and hosts boilerplate;
 * `unsupported` rules a DNS filter cannot apply ($third-party, URL paths); `invalid` lines that
 * do not parse (a bulk upload skips and counts both, naming the first few invalid ones).
 */
type LineResult =
  | { kind: "items"; values: string[] }
  | { kind: "skip" }
  | { kind: "unsupported"; reason: string }
  | { kind: "invalid"; reason: string };

const SKIP: LineResult = { kind: "skip" };

function domainLineItems(r: DomainLine): LineResult {
  switch (r.kind) {
    case "names":
      return { kind: "items", values: [...r.names] };
    case "rule": {
      const p = r.rule.pattern;
      // The edge compiles regexes with the same engine: refuse here what it would refuse there.
      if (p.kind === "regex") {
        const c = compileRegex(p.source, { sizeLimit: 20_000 });
        if (!c.ok) return { kind: "invalid", reason: `regular expression: ${c.message}` };
      }
      return { kind: "items", values: [ruleText(r.rule)] };
    }
    case "skip":
      return SKIP;
    default:
      return r;
  }
}

export function parseLine(listKind: ListKind, format: ItemFormat, rawLine: string): LineResult {
  let line = rawLine.trim();
  if (line === "" || line.startsWith("#") || line.startsWith("!")) return SKIP;
  if (listKind === "domain") {
    if (line.length > MAX_ITEM_LENGTH)
      return { kind: "invalid", reason: `line longer than ${MAX_ITEM_LENGTH} characters` };
    // Internationalised names in plain and hosts lines become A-labels first.
    if (
      /[^\x00-\x7f]/.test(line) &&
      (format === "plain" || format === "auto") &&
      !/\s/.test(line)
    ) {
      const r = normalizeDomain(line);
      return r.ok ? { kind: "items", values: [r.value] } : { kind: "invalid", reason: r.reason };
    }
    return domainLineItems(parseDomainLine(line, format));
  }
  // Non-domain lists: one item a line; `#` comments after whitespace.
  const hash = line.search(/\s#/);
  if (hash >= 0) line = line.slice(0, hash).trim();
  const r = listKind === "string" ? normalizeString(line) : normalizeItem(listKind, line);
  return r.ok ? { kind: "items", values: [r.value] } : { kind: "invalid", reason: r.reason };
}
