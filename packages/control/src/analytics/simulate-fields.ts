// Which rules-scheme fields a logged record can fill, and from which stored columns. A replay
// sets exactly these; any other field a draft policy reads is missing (spec §3.8: comparisons
// on a missing field are false), and the simulation reports it as a warning so the
// administrator knows the answer is approximate for that policy.

import { domainsOf, type LogKind } from "@gatehouse/contract";
import { type ExecutionContext, type IpValue, parseIp, toBytes } from "@gatehouse/rules";
import type { ReplayColumn } from "./types.ts";

export type Get = (col: ReplayColumn) => string | number | null;

export interface FieldSource {
  readonly columns: readonly ReplayColumn[];
  fill(ctx: ExecutionContext, field: string, get: Get): void;
}

/**
 * Converted values by input string, bounded: grouped rows repeat the same domains and clients
 * many times, and conversion (UTF-8 encoding, parent-domain lists, IP parsing) is the costly
 * part of filling a context.
 */
class Memo<V> {
  private readonly map = new Map<string, V>();
  private readonly convert: (s: string) => V;
  constructor(convert: (s: string) => V) {
    this.convert = convert;
  }
  private lastKey: string | undefined;
  private lastValue: V | undefined;
  get(s: string): V {
    // Replays arrive sorted by domain: most lookups repeat the previous key, and comparing
    // strings is cheaper than hashing a fresh one.
    if (s === this.lastKey) return this.lastValue as V;
    let v = this.map.get(s);
    if (v === undefined) {
      v = this.convert(s);
      if (this.map.size >= 100_000) this.map.clear();
      this.map.set(s, v);
    }
    this.lastKey = s;
    this.lastValue = v;
    return v;
  }
}

/** Text as the engine's Bytes (a binary string of UTF-8), or arrays of them. */
function encode(v: unknown): unknown {
  if (typeof v === "string") return toBytes(v);
  if (Array.isArray(v)) return v.map((x) => toBytes(x as string));
  return v;
}

/** A text column as is (ASCII is already the engine's byte form: no conversion, no memo). */
const text = (col: ReplayColumn): FieldSource => ({
  columns: [col],
  fill(ctx, field, get) {
    const v = get(col);
    if (typeof v === "string" && v.length > 0) ctx.setText(field, v);
  },
});

/** A value derived from a text column (parent domains, URL parts), memoised per input. */
const derived = (col: ReplayColumn, transform: (s: string) => unknown): FieldSource => {
  const memo = new Memo((s: string) => encode(transform(s)));
  return {
    columns: [col],
    fill(ctx, field, get) {
      const v = get(col);
      if (typeof v !== "string" || v.length === 0) return;
      const bytes = memo.get(v);
      if (bytes !== undefined) ctx.set(field, bytes);
    },
  };
};

const domains = (col: ReplayColumn): FieldSource =>
  derived(col, (s) => domainsOf(s.endsWith(".") ? s.slice(0, -1) : s));

const ipFrom = (col: ReplayColumn, pick: (s: string) => string | undefined): FieldSource => {
  const memo = new Memo((v: string): IpValue | null => {
    const s = pick(v);
    return (s === undefined ? undefined : parseIp(s)) ?? null;
  });
  return {
    columns: [col],
    fill(ctx, field, get) {
      const v = get(col);
      if (typeof v !== "string") return;
      const ip = memo.get(v);
      if (ip !== null) ctx.set(field, ip);
    },
  };
};

const intFrom = (col: ReplayColumn, pick: (v: string | number) => number | undefined) => ({
  columns: [col],
  fill(ctx: ExecutionContext, field: string, get: Get) {
    const v = get(col);
    if (v === null) return;
    const n = pick(v);
    if (n !== undefined && Number.isSafeInteger(n)) ctx.set(field, n);
  },
});

/** "203.0.113.5:443" → ["203.0.113.5", "443"]; "[2001:db8::1]:443" → ["2001:db8::1", "443"]. */
export function splitHostPort(s: string): [string, string | undefined] {
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) return [s, undefined];
    const rest = s.slice(end + 1);
    return [s.slice(1, end), rest.startsWith(":") ? rest.slice(1) : undefined];
  }
  const colon = s.lastIndexOf(":");
  if (colon > 0 && s.indexOf(":") === colon) return [s.slice(0, colon), s.slice(colon + 1)];
  return [s, undefined];
}

const hostPart = (s: string) => splitHostPort(s)[0];
const portPart = (v: string | number) => {
  const p = typeof v === "string" ? splitHostPort(v)[1] : undefined;
  return p === undefined || !/^\d{1,5}$/.test(p) ? undefined : Number(p);
};

function urlPart(part: "path" | "query" | "path_and_query"): FieldSource {
  return derived("url", (u) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return undefined;
    }
    const q = url.search.startsWith("?") ? url.search.slice(1) : url.search;
    return part === "path" ? url.pathname : part === "query" ? q : url.pathname + url.search;
  });
}

const identityEmail: FieldSource = text("identity");

const DNS: Readonly<Record<string, FieldSource>> = {
  "dns.fqdn": text("domain"),
  "dns.domains": domains("domain"),
  "dns.query_rtype": text("qtype"),
  "dns.location": text("location"),
  "dns.src_ip": ipFrom("client", (s) => s),
  "dns.transport": text("transport"),
  "dns.response.rcode": text("rcode"),
  "identity.email": identityEmail,
};

const HTTP: Readonly<Record<string, FieldSource>> = {
  "http.conn.hostname": text("domain"),
  "http.conn.domains": domains("domain"),
  "http.conn.src_ip": ipFrom("client", (s) => s),
  "http.conn.dst_ip": ipFrom("upstream_addr", hostPart),
  "http.conn.dst_port": intFrom("upstream_addr", portPart),
  "http.request.uri": text("url"),
  "http.request.uri.path": urlPart("path"),
  "http.request.uri.query": urlPart("query"),
  "http.request.uri.path_and_query": urlPart("path_and_query"),
  "http.request.method": text("method"),
  "http.response.status_code": intFrom("status", (v) => (typeof v === "number" ? v : undefined)),
  "dns.location": text("location"),
  "identity.email": identityEmail,
};

const NET: Readonly<Record<string, FieldSource>> = {
  "net.src.ip": ipFrom("client", (s) => s),
  "net.dst.ip": ipFrom("upstream_addr", hostPart),
  "net.dst.port": intFrom("upstream_addr", portPart),
  // What the proxy logs as `net` are CONNECT tunnels: always TCP.
  "net.protocol": { columns: [], fill: (ctx, field) => ctx.setText(field, "tcp") },
  "net.sni.host": text("sni"),
  "net.sni.domains": domains("sni"),
  "net.connect.host": derived("host", hostPart),
  "net.connect.domains": derived("host", (s) => domainsOf(hostPart(s))),
  "dns.location": text("location"),
  "identity.email": identityEmail,
};

export const FIELD_SOURCES: Readonly<Record<LogKind, Readonly<Record<string, FieldSource>>>> = {
  dns: DNS,
  http: HTTP,
  net: NET,
};

/** Fields of the kind's scheme that the log cannot supply, among `fields`. */
export function unavailableFields(kind: LogKind, fields: Iterable<string>): string[] {
  const sources = FIELD_SOURCES[kind];
  const out: string[] = [];
  for (const f of fields) {
    // Array/map element forms (`x[*]`) resolve to the base field in Filter.fields already.
    if (!(f in sources)) out.push(f);
  }
  return out;
}
