// SQL for both stores, built from fixed fragments. Column names come only from the maps in
// this file (keyed by the whitelists in types.ts); every value a caller supplies is added to
// `Params` and appears in the text as a placeholder the dialect renders ($name for DuckDB,
// {name:Type} for ClickHouse). Nothing a user sends is ever spliced into SQL text.

import { LOG_KINDS } from "@gatehouse/contract";
import { normalizeDomain, rowToRecord, SELECT_LIST } from "./columns.ts";
import {
  AnalyticsInputError,
  BUCKET_MS,
  type ClientActivity,
  type ClientActivityQuery,
  type LogFilter,
  REPLAY_COLUMNS,
  type ReplayQuery,
  type SearchQuery,
  type SearchResult,
  type SeriesBy,
  type TimeRange,
  type TimeseriesQuery,
  type TopDimension,
  type TopQuery,
} from "./types.ts";

export const TABLE = "query_log";
export const BATCH_TABLE = "ingested_batches";

export type ParamType = "text" | "int";

/** Bound values of one statement. */
export class Params {
  readonly values: Record<string, string | number> = {};
  readonly types: Record<string, ParamType> = {};
  private n = 0;
  add(value: string | number, type: ParamType): string {
    const name = `p${this.n++}`;
    this.values[name] = value;
    this.types[name] = type;
    return name;
  }
}

export interface Dialect {
  /** Text of a placeholder for a bound parameter. */
  placeholder(name: string, type: ParamType): string;
  /** Integer bucket start of `expr` (ms) for a bucket width in ms. */
  bucket(expr: string, widthMs: number): string;
  startsWith(expr: string, placeholder: string): string;
  endsWith(expr: string, placeholder: string): string;
  /** Value of `expr` in the row where `by` is largest. */
  argMax(expr: string, by: string): string;
}

const SERIES_COLUMN: Readonly<Record<SeriesBy, string>> = {
  action: "action",
  kind: "kind",
  location: "location",
  policy: "policy_id",
  transport: "transport",
  // Stored as "" when a record had none (it is in the sort key): no edge is null here.
  edge: "NULLIF(edge_id, '')",
};

const TOP_COLUMN: Readonly<Record<TopDimension, string>> = {
  domain: "domain",
  blocked_domain: "domain",
  client: "client",
  policy: "policy_id",
  list: "list",
  upstream: "upstream",
  edge: "NULLIF(edge_id, '')",
};

/** Throws AnalyticsInputError unless `from` < `to` are integer milliseconds. */
export function checkRange(r: TimeRange): void {
  if (!Number.isSafeInteger(r.from) || !Number.isSafeInteger(r.to)) {
    throw new AnalyticsInputError("from and to must be integer milliseconds since the epoch");
  }
  if (r.from >= r.to) throw new AnalyticsInputError("from must be before to");
}

function bind(d: Dialect, p: Params, value: string | number, type: ParamType): string {
  return d.placeholder(p.add(value, type), type);
}

/**
 * The transport of the DNS lookups the edge's proxy makes for the requests it forwards (one
 * record per address family). Not client queries: totals and top lists leave them out unless
 * the filter asks for this transport.
 */
const INTERNAL_TRANSPORT = "internal";

/**
 * WHERE conditions for a range and a filter, joined with AND. `clientTotals`: aggregates of
 * what clients asked (time series, top lists) leave out the proxy's own lookups unless the
 * filter names a transport.
 */
function whereClause(
  d: Dialect,
  p: Params,
  range: TimeRange,
  filter: LogFilter | undefined,
  clientTotals = false,
): string {
  checkRange(range);
  const parts = [`ts >= ${bind(d, p, range.from, "int")}`, `ts < ${bind(d, p, range.to, "int")}`];
  if (range.accountId !== undefined)
    parts.unshift(`account_id = ${bind(d, p, range.accountId, "text")}`);
  if (filter !== undefined) {
    if (filter.domainPrefix !== undefined && filter.domainPrefix !== "") {
      const v = bind(d, p, filter.domainPrefix.toLowerCase(), "text");
      parts.push(d.startsWith("domain", v));
    }
    if (filter.domainSuffix !== undefined && filter.domainSuffix !== "") {
      let s = normalizeDomain(filter.domainSuffix);
      if (s.startsWith(".")) s = s.slice(1);
      const exact = bind(d, p, s, "text");
      const dotted = bind(d, p, `.${s}`, "text");
      parts.push(`(domain = ${exact} OR ${d.endsWith("domain", dotted)})`);
    }
    const eq = (col: string, v: string | number | undefined, type: ParamType) => {
      if (v !== undefined) parts.push(`${col} = ${bind(d, p, v, type)}`);
    };
    eq("client", filter.client, "text");
    eq("location", filter.location, "text");
    eq("action", filter.action, "text");
    eq("policy_id", filter.policyId, "text");
    eq("rcode", filter.rcode, "text");
    eq("status", filter.status, "int");
    eq("transport", filter.transport, "text");
    eq("kind", filter.kind, "text");
    eq("edge_id", filter.edgeId, "text");
    // Records from before the column (and every uninspected one) hold NULL: not inspected.
    if (filter.inspected === true) parts.push("inspected = 1");
    else if (filter.inspected === false) parts.push("(inspected IS NULL OR inspected = 0)");
    eq("tls_version", filter.tlsVersion, "text");
    eq("alpn", filter.alpn, "text");
    eq("origin_cert", filter.originCert, "text");
  }
  if (clientTotals && filter?.transport === undefined)
    parts.push(`transport <> ${bind(d, p, INTERNAL_TRANSPORT, "text")}`);
  return parts.join(" AND ");
}

export interface Statement {
  sql: string;
  params: Params;
}

export function timeseriesSql(d: Dialect, q: TimeseriesQuery): Statement {
  const p = new Params();
  const width = BUCKET_MS[q.bucket];
  const col = SERIES_COLUMN[q.by];
  if (width === undefined || col === undefined) {
    throw new AnalyticsInputError("unknown bucket or grouping");
  }
  const where = whereClause(d, p, q, q.filter, true);
  const sql =
    `SELECT ${d.bucket("ts", width)} AS t, ${col} AS k, count(*) AS n FROM ${TABLE} ` +
    `WHERE ${where} GROUP BY t, k ORDER BY t, k`;
  return { sql, params: p };
}

export const MAX_TOP_LIMIT = 1000;

export function topSql(d: Dialect, q: TopQuery): Statement {
  const p = new Params();
  const col = TOP_COLUMN[q.dimension];
  if (col === undefined) throw new AnalyticsInputError("unknown dimension");
  if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > MAX_TOP_LIMIT) {
    throw new AnalyticsInputError(`limit must be 1..${MAX_TOP_LIMIT}`);
  }
  let where = `${whereClause(d, p, q, q.filter, true)} AND ${col} IS NOT NULL`;
  if (q.dimension === "blocked_domain") where += ` AND action = ${bind(d, p, "block", "text")}`;
  const label = q.dimension === "policy" ? `, ${d.argMax("policy_name", "ts")} AS label` : "";
  const sql =
    `SELECT ${col} AS k, count(*) AS n${label} FROM ${TABLE} WHERE ${where} ` +
    `GROUP BY k ORDER BY n DESC, k ASC LIMIT ${bind(d, p, q.limit, "int")}`;
  return { sql, params: p };
}

/** Identifications a client's activity lists, at most. */
export const CLIENT_SEEN_AS_MAX = 20;
/** Groups read to total a client's activity (one per location, identity and device seen). */
const CLIENT_GROUPS_MAX = 10_000;

/**
 * One client's records grouped by how they were identified, with counts, blocked counts and
 * first/last times per group; clientActivityOf() totals them. Columns by position: location,
 * identity, device, n, blocked, first_ts, last_ts.
 */
export function clientActivitySql(d: Dialect, q: ClientActivityQuery): Statement {
  const p = new Params();
  if (q.client === "") throw new AnalyticsInputError("client must not be empty");
  const where = whereClause(d, p, q, { client: q.client }, true);
  const block = bind(d, p, "block", "text");
  const sql =
    `SELECT location, identity, device, count(*) AS n, ` +
    `sum(CASE WHEN action = ${block} THEN 1 ELSE 0 END) AS blocked, min(ts) AS first_ts, ` +
    `max(ts) AS last_ts FROM ${TABLE} WHERE ${where} GROUP BY location, identity, device ` +
    `ORDER BY n DESC, last_ts DESC LIMIT ${bind(d, p, CLIENT_GROUPS_MAX, "int")}`;
  return { sql, params: p };
}

type Cell = string | number | bigint | null | undefined;

/** Totals over the groups of clientActivitySql (rows as arrays in its column order). */
export function clientActivityOf(rows: readonly (readonly Cell[])[]): ClientActivity {
  const n = (v: Cell) => (v === null || v === undefined ? 0 : Number(v));
  const text = (v: Cell) => (v === null || v === undefined || v === "" ? null : String(v));
  const out: ClientActivity = { total: 0, blocked: 0, firstTs: null, lastTs: null, seenAs: [] };
  for (const r of rows) {
    const count = n(r[3]);
    if (count === 0) continue;
    out.total += count;
    out.blocked += n(r[4]);
    const first = n(r[5]);
    const last = n(r[6]);
    if (out.firstTs === null || first < out.firstTs) out.firstTs = first;
    if (out.lastTs === null || last > out.lastTs) out.lastTs = last;
    if (out.seenAs.length < CLIENT_SEEN_AS_MAX)
      out.seenAs.push({ location: text(r[0]), identity: text(r[1]), device: text(r[2]), count });
  }
  return out;
}

export const MAX_SEARCH_LIMIT = 1000;

/** Position after the last record of a page: (ts, id, edge_id). */
type CursorKey = readonly [number, string, string];

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodeCursor(cursor: string): CursorKey {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new AnalyticsInputError("invalid cursor");
  }
  if (
    !Array.isArray(v) ||
    v.length !== 3 ||
    !Number.isSafeInteger(v[0]) ||
    typeof v[1] !== "string" ||
    typeof v[2] !== "string"
  ) {
    throw new AnalyticsInputError("invalid cursor");
  }
  return [v[0], v[1], v[2]];
}

/** One page, newest first; asks for limit + 1 rows to learn whether more follow. */
export function searchSql(d: Dialect, q: SearchQuery): Statement {
  const p = new Params();
  if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > MAX_SEARCH_LIMIT) {
    throw new AnalyticsInputError(`limit must be 1..${MAX_SEARCH_LIMIT}`);
  }
  const order = "ORDER BY ts DESC, id DESC, edge_id DESC";
  const n = bind(d, p, q.limit + 1, "int");
  if (q.cursor === undefined) {
    const where = whereClause(d, p, q, q.filter);
    return {
      sql: `SELECT ${SELECT_LIST} FROM ${TABLE} WHERE ${where} ${order} LIMIT ${n}`,
      params: p,
    };
  }
  // Keyset: rows strictly after the cursor in (ts, id, edge_id) descending order. Written as
  // two plain conjunctive branches — the cursor's own millisecond (ts = t, tie-broken by id
  // and edge) and everything older (ts < t) — because a disjunction over the sort key keeps
  // engines from pruning by it (DuckDB's top-N filter, ClickHouse's primary key).
  const [ts, id, edge] = decodeCursor(q.cursor);
  const same = whereClause(d, p, q, q.filter);
  const t1 = bind(d, p, ts, "int");
  const i1 = bind(d, p, id, "text");
  const e = bind(d, p, edge, "text");
  const older = whereClause(d, p, q, q.filter);
  const t2 = bind(d, p, ts, "int");
  const sql =
    `SELECT ${SELECT_LIST} FROM (` +
    `SELECT * FROM (SELECT ${SELECT_LIST} FROM ${TABLE} WHERE ${same} AND ts = ${t1} AND (id < ${i1} OR (id = ${i1} AND edge_id < ${e})) ${order} LIMIT ${n}) AS a ` +
    "UNION ALL " +
    `SELECT * FROM (SELECT ${SELECT_LIST} FROM ${TABLE} WHERE ${older} AND ts < ${t2} ${order} LIMIT ${n}) AS b` +
    `) AS page ${order} LIMIT ${n}`;
  return { sql, params: p };
}

/** Every record of a range, oldest first (export). */
export function exportSql(d: Dialect, q: TimeRange & { filter?: LogFilter }): Statement {
  const p = new Params();
  const where = whereClause(d, p, q, q.filter);
  return {
    sql: `SELECT ${SELECT_LIST} FROM ${TABLE} WHERE ${where} ORDER BY ts, id, edge_id`,
    params: p,
  };
}

/** Distinct combinations of the replay columns with counts (policy simulation). */
export function replaySql(d: Dialect, q: ReplayQuery): Statement {
  const p = new Params();
  let where = whereClause(d, p, q, undefined);
  const kinds = q.kinds.filter((k) => (LOG_KINDS as readonly string[]).includes(k));
  if (kinds.length === 0) throw new AnalyticsInputError("no record kinds to replay");
  where += ` AND kind IN (${kinds.map((k) => bind(d, p, k, "text")).join(", ")})`;
  // Column names were checked against REPLAY_COLUMNS by the caller's type; re-check at run
  // time because this text goes into SQL.
  for (const col of q.columns) {
    if (!REPLAY_COLUMN_SET.has(col)) throw new AnalyticsInputError(`unknown column ${col}`);
  }
  const groups: string[] = [...q.columns];
  if (q.byMinute) groups.push(`${d.bucket("ts", 60_000)}`);
  const select = q.columns.length > 0 ? `${q.columns.join(", ")}, ` : "";
  const minute = q.byMinute ? `, ${d.bucket("ts", 60_000)} AS minute` : "";
  const groupBy = groups.length > 0 ? ` GROUP BY ${groups.join(", ")}` : "";
  return {
    sql: `SELECT ${select}count(*) AS n, max(ts) AS last_ts${minute} FROM ${TABLE} WHERE ${where}${groupBy}${q.orderByDomain && q.columns.includes("domain") ? " ORDER BY domain" : ""}`,
    params: p,
  };
}

const REPLAY_COLUMN_SET: ReadonlySet<string> = new Set(REPLAY_COLUMNS);

/** Turn limit + 1 rows into a page and the cursor after its last record. */
export function pageOf(rows: readonly (readonly unknown[])[], limit: number): SearchResult {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const records = page.map((row) => rowToRecord(row));
  const last = records.at(-1);
  if (!more || last === undefined) return { records };
  return { records, nextCursor: encodeCursor([last.ts, last.id, last.edgeId ?? ""]) };
}
