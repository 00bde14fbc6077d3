// The query_log table, column by column, shared by both stores: DDL, the appender/insert order,
// and the mapping back to `QueryLogRecord`. docs/query-log.md documents the same list.
// Timestamps stay integer milliseconds (BIGINT / Int64) so bucketing and cursors are the same
// integer arithmetic in both engines (ClickHouse 18.16 has no DateTime64).

import type { QueryLogRecord } from "@gatehouse/contract";

export type ColumnType = "text" | "int" | "bigint" | "double";

export interface Column {
  /** SQL name (snake_case). */
  readonly name: string;
  /** Record property it comes from; undefined for derived columns. */
  readonly field?: keyof QueryLogRecord;
  readonly type: ColumnType;
  /** NOT NULL columns: the record always has them (edge_id is stored as "" when absent). */
  readonly required: boolean;
}

const c = (
  name: string,
  field: keyof QueryLogRecord | undefined,
  type: ColumnType,
  required = false,
): Column => ({ name, field, type, required });

export const COLUMNS: readonly Column[] = [
  // The tenant: set from the edge credential at ingest, never from the record ("" when the
  // installation has one account). Every query can be scoped to it.
  c("account_id", undefined, "text", true),
  c("ts", "ts", "bigint", true),
  c("id", "id", "text", true),
  c("edge_id", "edgeId", "text", true),
  c("kind", "kind", "text", true),
  c("action", "action", "text", true),
  c("client", "client", "text", true),
  c("transport", "transport", "text", true),
  c("duration_ms", "durationMs", "double", true),
  // Derived at ingest: the name the record is about (DNS qname, else HTTP host, else TLS SNI),
  // lowercased, without trailing dot or port. Top domains and domain filters read this.
  c("domain", undefined, "text"),
  c("location", "location", "text"),
  c("identity", "identity", "text"),
  c("policy_id", "policyId", "text"),
  c("policy_name", "policyName", "text"),
  c("list", "list", "text"),
  c("qname", "qname", "text"),
  c("qtype", "qtype", "text"),
  c("rcode", "rcode", "text"),
  c("cache", "cache", "text"),
  c("upstream", "upstream", "text"),
  c("method", "method", "text"),
  c("host", "host", "text"),
  c("url", "url", "text"),
  c("sni", "sni", "text"),
  c("status", "status", "int"),
  c("bytes_up", "bytesUp", "bigint"),
  c("bytes_down", "bytesDown", "bigint"),
  c("upstream_addr", "upstreamAddr", "text"),
  c("reason", "reason", "text"),
  // Added after the first release: stores created before them get them with ADDED_COLUMNS.
  c("rule", "rule", "text"),
  c("matched_name", "matchedName", "text"),
  c("dnssec", "dnssec", "text"),
  c("ede", "ede", "int"),
  // TLS inspection: inspected is stored as 0/1 (read back as a boolean), the rest as text.
  c("inspected", "inspected", "int"),
  c("tls_version", "tlsVersion", "text"),
  c("alpn", "alpn", "text"),
  c("origin_cert", "originCert", "text"),
  c("device", "device", "text"),
  c("answer", "answer", "text"),
  c("cnames", "cnames", "text"),
];

/** Columns later than the original table: added (nullable, at the end) when a store opens. */
export const ADDED_COLUMNS: readonly Column[] = COLUMNS.slice(
  COLUMNS.findIndex((col) => col.name === "rule"),
);

export const COLUMN_NAMES: readonly string[] = COLUMNS.map((col) => col.name);
const DOMAIN_INDEX = COLUMN_NAMES.indexOf("domain");
const ACCOUNT_INDEX = COLUMN_NAMES.indexOf("account_id");

/** The column list for SELECTs returning whole records (fixed, never user input). */
export const SELECT_LIST = COLUMN_NAMES.join(", ");

/** Lowercase, drop one trailing dot, drop a `:port` and IPv6 brackets. */
export function normalizeDomain(name: string): string {
  let n = name.toLowerCase();
  if (n.startsWith("[")) {
    const end = n.indexOf("]");
    return end > 0 ? n.slice(1, end) : n;
  }
  const colon = n.indexOf(":");
  // One colon = host:port; several = a bare IPv6 address, kept whole.
  if (colon !== -1 && n.indexOf(":", colon + 1) === -1) n = n.slice(0, colon);
  if (n.endsWith(".")) n = n.slice(0, -1);
  return n;
}

/** The derived `domain` column of a record. */
export function domainOf(r: QueryLogRecord): string | null {
  const name = r.qname ?? r.host ?? r.sni;
  if (name === undefined || name.length === 0) return null;
  return normalizeDomain(name);
}

/** One record as row values in COLUMNS order (null = absent). */
export function recordToRow(r: QueryLogRecord, out: unknown[], accountId = ""): unknown[] {
  for (const [i, { field }] of COLUMNS.entries()) {
    if (field === undefined) {
      out[i] = i === DOMAIN_INDEX ? domainOf(r) : i === ACCOUNT_INDEX ? accountId : null;
      continue;
    }
    const v = r[field];
    out[i] =
      v === undefined ? (field === "edgeId" ? "" : null) : typeof v === "boolean" ? (v ? 1 : 0) : v;
  }
  return out;
}

/** A row read back (values in COLUMNS order) as a record; absent values are omitted. */
export function rowToRecord(row: readonly unknown[]): QueryLogRecord {
  const out: Record<string, unknown> = {};
  for (const [i, col] of COLUMNS.entries()) {
    const v = row[i];
    if (col.field === undefined || v === null || v === undefined) continue;
    if (col.field === "edgeId" && v === "") continue;
    out[col.field] =
      col.type === "text" ? v : col.field === "inspected" ? Number(v) !== 0 : Number(v);
  }
  return out as QueryLogRecord;
}
