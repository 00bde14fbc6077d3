// What an import turns another product's configuration into: Gatehouse lists (inline items or a
// subscription), DNS policies, resolver upstreams and conditional forwarding — and everything it
// could not map, each with the reason. The product readers (pihole.ts, adguardhome.ts,
// blocky.ts) build a plan; apply.ts creates it through the REST API. The CLI and the API route
// share both, so the mapping is written once.

import { isIP } from "node:net";
import {
  type BundleProblem,
  checkExpression,
  gatewaySchemes,
  type Upstream,
} from "@gatehouse/contract";
import { formatIp, type IpValue, type ListType, parseIp } from "@gatehouse/rules";
import { normalizeDomain, normalizeIp } from "../lists/list-items.ts";

export const IMPORT_PRODUCTS = ["pihole", "adguardhome", "blocky"] as const;
export type ImportProduct = (typeof IMPORT_PRODUCTS)[number];

/** The largest configuration file an import reads (a Teleporter backup with its gravity.db). */
export const MAX_IMPORT_BYTES = 256 * 1024 * 1024;

interface PlannedList {
  /** The `$name` rules use; prefixed with the product (`pihole_…`). */
  readonly name: string;
  readonly description: string;
  /** Inline items (domains, or `@@||name^` exceptions). */
  readonly items: string[];
  /** A list that follows a URL instead of inline items. */
  readonly subscription?: { readonly url: string; readonly format: "auto" };
}

export interface PlannedPolicy {
  /** `pihole: …`: a re-run finds it by this name and skips it. */
  readonly name: string;
  readonly description?: string;
  readonly expression: string;
  readonly action: "allow" | "block" | "override";
  readonly settings?: { overrideIps?: string[]; overrideHost?: string };
}

export interface NotMapped {
  /** What it was in the source configuration (a line, a key, an entry). */
  readonly item: string;
  readonly reason: string;
}

export interface ImportPlan {
  readonly product: ImportProduct;
  /** Created before the policies that use them. */
  readonly lists: PlannedList[];
  /** In the order they are created: earlier ones get lower precedence, so they run first. */
  readonly policies: PlannedPolicy[];
  /** The upstreams to use (replacing control's), when the source names any. */
  readonly upstreams: Upstream[];
  readonly conditionalForwarding: { suffix: string; upstreams: Upstream[] }[];
  readonly notMapped: NotMapped[];
}

export function emptyPlan(product: ImportProduct): ImportPlan {
  return {
    product,
    lists: [],
    policies: [],
    upstreams: [],
    conditionalForwarding: [],
    notMapped: [],
  };
}

/**
 * A list name from free text: lower-case letters, digits, `_` (the contract's pattern), prefixed
 * with the product; `_2`, `_3`, … when the plan already has a list of that name (group names
 * that differ only in case or punctuation).
 */
export function listName(plan: ImportPlan, ...parts: string[]): string {
  const tail = parts
    .join("_")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "");
  const base = `${plan.product}_${tail}`.slice(0, 120).replace(/_+$/, "");
  let name = base;
  for (let n = 2; plan.lists.some((l) => l.name === name); n++) name = `${base}_${n}`;
  return name;
}

/** A string literal of the rules language (only `"` and `\` need escaping; bytes as \xHH). */
export function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    // A code point above U+FFFF gives its high surrogate, above 0x7e like the code point.
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (c < 0x20 || c > 0x7e)
      for (const b of Buffer.from(ch)) out += `\\x${b.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** `r#"…"#` with enough hashes for the text. */
export function rawString(text: string): string {
  let h = "";
  while (text.includes(`"${h}`)) h += "#";
  return `r${h}"${text}"${h}`;
}

/**
 * Client scoping: `dns.src_ip in {…} and (expr)`; no clients → everyone, except the `except`
 * networks (`not dns.src_ip in {…} and (expr)`).
 */
export function scoped(
  expr: string,
  clients: readonly string[],
  except: readonly string[] = [],
): string {
  if (clients.length > 0) return `dns.src_ip in {${clients.join(" ")}} and (${expr})`;
  if (except.length > 0) return `not dns.src_ip in {${except.join(" ")}} and (${expr})`;
  return expr;
}

const DNS_LISTS: ReadonlyMap<string, ListType> = new Map();

/**
 * The rules engine's verdict on `dns.fqdn matches <re>`: undefined when it compiles, else why
 * not (its regex is linear-time: no look-around, no back-references).
 */
export function regexProblem(expr: string): string | undefined {
  const problems: BundleProblem[] = checkExpression(gatewaySchemes().dns, expr, DNS_LISTS);
  const p = problems.find((x) => !x.message.startsWith("unknown list"));
  return p === undefined ? undefined : (p.rule?.message ?? p.message);
}

/** The `matches` expression for a regex on the queried name, case-insensitive like the source. */
export function regexExpression(re: string): string {
  return `dns.fqdn matches ${rawString(re.startsWith("(?i)") ? re : `(?i)${re}`)}`;
}

/**
 * An address or CIDR a `dns.src_ip in {…}` set accepts, or undefined (MAC, host name, …). Host
 * bits are cleared (`192.168.178.1/24` → `192.168.178.0/24`): the rules language refuses them.
 */
export function clientNetwork(raw: string): string | undefined {
  const r = normalizeIp(raw);
  if (!r.ok) return undefined;
  const [addr = "", len] = r.value.split("/");
  if (len === undefined) return r.value;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  const bits = Number(len);
  const mask = (n: number) => (n <= 0 ? 0 : n >= 32 ? 0xffffffff : (0xffffffff << (32 - n)) >>> 0);
  const net: IpValue =
    ip.family === 4
      ? { family: 4, v4: (ip.v4 & mask(bits)) >>> 0 }
      : {
          family: 6,
          w: ip.w.map((w, i) => (w & mask(bits - 32 * i)) >>> 0) as [
            number,
            number,
            number,
            number,
          ],
        };
  return `${formatIp(net)}/${bits}`;
}

export function domainOrUndefined(raw: string): string | undefined {
  const r = normalizeDomain(raw);
  return r.ok ? r.value : undefined;
}

function hostPort(hostport: string, defPort: number): { host: string; port: number } | undefined {
  let host = hostport;
  let port = defPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostport);
  if (v6) {
    // Group 1 takes part in every match: the default never applies.
    const [, h = "", p] = v6;
    host = h;
    if (p) port = Number(p);
  } else if (isIP(hostport) === 6) {
    host = hostport;
  } else {
    const m = /^([^:#]+)(?:[:#](\d+))?$/.exec(hostport);
    if (!m) return undefined;
    const [, h = "", p] = m;
    host = h;
    if (p) port = Number(p);
  }
  if (!(port >= 1 && port <= 65535)) return undefined;
  return { host, port };
}

const fmt = (h: string, p: number) => `${isIP(h) === 6 ? `[${h}]` : h}:${p}`;

/**
 * An upstream written as Pi-hole (`1.1.1.1`, `1.1.1.1#5353`), AdGuard Home (`tls://…`,
 * `https://…`, `udp://…`, `tcp://…`, `quic://…`, `sdns://…`) or Blocky (`tcp-tls:host`,
 * `https://…`, `tcp+udp:ip`) write them, as Gatehouse's `udp://`, `tcp://`, `tls://` or
 * `https://` — or why it cannot be.
 */
export function parseUpstream(
  raw: string,
): { ok: true; value: Upstream } | { ok: false; reason: string } {
  const s = raw.trim();
  if (/^https:\/\//i.test(s)) {
    try {
      const u = new URL(s);
      return { ok: true, value: { address: u.href } };
    } catch {
      return { ok: false, reason: "not a valid DoH URL" };
    }
  }
  const scheme = /^([a-z+-]+):(?:\/\/)?(.*)$/i.exec(s);
  let kind = "udp";
  let rest = s;
  if (scheme && isIP(s) !== 6) {
    // Both groups take part in every match: the defaults never apply.
    const [, name = "", after = ""] = scheme;
    const k = name.toLowerCase();
    rest = after;
    if (k === "udp" || k === "tcp+udp") kind = "udp";
    else if (k === "tcp") kind = "tcp";
    else if (k === "tls" || k === "tcp-tls") kind = "tls";
    else if (k === "quic" || k === "h3")
      return {
        ok: false,
        reason: "DNS over QUIC / HTTP/3 upstreams are not supported (udp, tcp, tls, https are)",
      };
    else if (k === "sdns")
      return {
        ok: false,
        reason: "DNS stamps (sdns://) are not supported: write the resolver's address",
      };
    else return { ok: false, reason: `unknown upstream scheme ${JSON.stringify(k)}` };
  }
  const hp = hostPort(rest.replace(/\/+$/, ""), kind === "tls" ? 853 : 53);
  if (!hp) return { ok: false, reason: "not an address" };
  if (kind !== "tls" && isIP(hp.host) === 0)
    return { ok: false, reason: "plain DNS upstreams need an IP address, not a host name" };
  return { ok: true, value: { address: `${kind}://${fmt(hp.host, hp.port)}` } };
}

/** The reverse zone of a CIDR on an octet (IPv4) or nibble (IPv6) boundary, else undefined. */
export function reverseZone(cidr: string): string | undefined {
  const [addr = "", lenS] = cidr.split("/");
  const len = Number(lenS ?? (isIP(addr) === 4 ? 32 : 128));
  if (isIP(addr) === 4) {
    if (len % 8 !== 0 || len === 0) return undefined;
    return `${addr
      .split(".")
      .slice(0, len / 8)
      .reverse()
      .join(".")}.in-addr.arpa`;
  }
  return undefined;
}

/** Pi-hole and AdGuard Home local records: name → addresses, one override policy per name. */
export function overridePolicies(
  product: ImportProduct,
  records: ReadonlyMap<string, string[]>,
  clients: readonly string[] = [],
): PlannedPolicy[] {
  const out: PlannedPolicy[] = [];
  for (const [name, ips] of records)
    out.push({
      name: `${product}: local record ${name}`,
      expression: scoped(`dns.fqdn == ${quote(name)}`, clients),
      action: "override",
      settings: { overrideIps: [...new Set(ips)] },
    });
  return out;
}

export function cnamePolicy(
  product: ImportProduct,
  name: string,
  target: string,
  expr?: string,
): PlannedPolicy {
  return {
    name: `${product}: local CNAME ${name}`,
    expression: expr ?? `dns.fqdn == ${quote(name)}`,
    action: "override",
    settings: { overrideHost: target },
  };
}
