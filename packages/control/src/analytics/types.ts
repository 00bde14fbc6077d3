// The analytics store's contract: one interface, two implementations (DuckDB embedded,
// ClickHouse at scale), one conformance suite. Every identifier a caller can pick (grouping,
// dimension, filter) comes from the fixed lists below, so SQL is built from whitelisted names
// and every user value travels as a bound parameter.

import type { Readable } from "node:stream";
import type { LogAction, LogKind, QueryLogRecord } from "@gatehouse/contract";

export const BUCKETS = ["minute", "hour", "day"] as const;
export type Bucket = (typeof BUCKETS)[number];
export const BUCKET_MS: Readonly<Record<Bucket, number>> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/** What a time series is split by. `kind` is the "by type" (dns, http, net). */
export const SERIES_BY = ["action", "kind", "location", "policy", "transport", "edge"] as const;
export type SeriesBy = (typeof SERIES_BY)[number];

/** Top-N dimensions. `blocked_domain` is `domain` restricted to action = block. */
export const TOP_DIMENSIONS = [
  "domain",
  "blocked_domain",
  "client",
  "policy",
  "list",
  "upstream",
  "edge",
] as const;
export type TopDimension = (typeof TOP_DIMENSIONS)[number];

export const EXPORT_FORMATS = ["ndjson", "csv", "parquet"] as const;
type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Filters shared by every query; all optional, combined with AND. */
export interface LogFilter {
  /** `domain` starts with this (e.g. "ads." finds "ads.example.com"). */
  domainPrefix?: string;
  /** `domain` is this name or one of its subdomains (label boundary: "example.com" does not match "badexample.com"). */
  domainSuffix?: string;
  client?: string;
  location?: string;
  action?: LogAction;
  policyId?: string;
  rcode?: string;
  status?: number;
  transport?: string;
  kind?: LogKind;
  /** The edge that handled it (its enrolled id; a standalone edge's name). */
  edgeId?: string;
  /** TLS inspection: read from a decrypted connection (true) or not (false: everything else). */
  inspected?: boolean;
  /** Inspected: the TLS version agreed with the client ("TLSv1.3"). */
  tlsVersion?: string;
  /** Inspected: the ALPN protocol agreed with the client ("h2", "http/1.1"). */
  alpn?: string;
  /** The origin certificate's verdict: "valid" or the verification code. */
  originCert?: string;
}

/** A time range in milliseconds since the Unix epoch: `from` inclusive, `to` exclusive. */
export interface TimeRange {
  from: number;
  to: number;
  /** Restrict to one account's records (multi-tenant installs); absent = all records. */
  accountId?: string;
}

export interface TimeseriesQuery extends TimeRange {
  bucket: Bucket;
  by: SeriesBy;
  filter?: LogFilter;
}

interface TimeseriesPoint {
  /** Bucket start, ms since the epoch (UTC-aligned). */
  t: number;
  /** Value of the `by` column; null when the record had none (e.g. no policy matched). */
  key: string | null;
  count: number;
}

export interface TimeseriesResult {
  bucket: Bucket;
  by: SeriesBy;
  points: TimeseriesPoint[];
}

export interface TopQuery extends TimeRange {
  dimension: TopDimension;
  limit: number;
  filter?: LogFilter;
}

interface TopEntry {
  key: string;
  count: number;
  /** For `policy`: the policy name seen most recently in the range's records. */
  label?: string;
}

export interface TopResult {
  dimension: TopDimension;
  entries: TopEntry[];
}

export interface SearchQuery extends TimeRange {
  filter?: LogFilter;
  limit: number;
  /** Opaque, from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface SearchResult {
  records: QueryLogRecord[];
  /** Present when more records may follow. */
  nextCursor?: string;
}

export interface ExportQuery extends TimeRange {
  format: ExportFormat;
  filter?: LogFilter;
}

export interface ExportStream {
  contentType: string;
  /** Suggested file extension, without the dot. */
  extension: string;
  stream: Readable;
}

export interface IngestResult {
  /** Records written by this call (0 for a duplicate batch). */
  accepted: number;
  /** True when the batch id had been ingested before: nothing was written. */
  duplicate: boolean;
}

export interface RetentionPolicy {
  /** Records older than this are removed; default 30 days. */
  maxAgeMs: number;
  /** Keep at most this many records (oldest go first). */
  maxRows?: number;
  /** Keep the store under about this many bytes (oldest go first). */
  maxBytes?: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { maxAgeMs: 30 * 86_400_000 };

export interface RetentionResult {
  /** Records removed (an estimate for stores that drop whole partitions). */
  removedRows: number;
  /** Partitions dropped (ClickHouse). */
  droppedPartitions: string[];
}

/**
 * Columns a simulation may group by: the record fields the rules schemes can read. The store
 * groups identical combinations and returns each once with its count, so a replay evaluates
 * the draft once per distinct combination (exact: a filter is a pure function of its fields).
 */
export const REPLAY_COLUMNS = [
  "kind",
  "action",
  "policy_id",
  "domain",
  "client",
  "location",
  "identity",
  "transport",
  "qtype",
  "rcode",
  "method",
  "host",
  "url",
  "sni",
  "status",
  "upstream_addr",
] as const;
export type ReplayColumn = (typeof REPLAY_COLUMNS)[number];

export interface ReplayQuery extends TimeRange {
  kinds: readonly LogKind[];
  /** Grouping columns; `kind` and `action` are always included. */
  columns: readonly ReplayColumn[];
  /** Also group by minute (for schedules); the row then carries `minute`. */
  byMinute: boolean;
  /** Rows per chunk handed to the caller. */
  chunkRows: number;
  /** Deliver groups sorted by domain (consecutive rows then share per-domain work). */
  orderByDomain?: boolean;
}

export interface ReplayRow {
  /** Values in the order of `ReplayQuery.columns` (null = absent). */
  values: (string | number | null)[];
  count: number;
  /** Newest ts in the group: an example record's time. */
  lastTs: number;
  /** Minute bucket start when `byMinute`. */
  minute?: number;
}

/** One client's activity over a range (the client page). */
export interface ClientActivityQuery extends TimeRange {
  /** The client address, as records hold it. */
  client: string;
}

export interface ClientActivity {
  /** The client's queries and requests in the range (the proxy's own lookups left out). */
  total: number;
  blocked: number;
  /** Oldest and newest record time (ms); null when there is none. */
  firstTs: number | null;
  lastTs: number | null;
  /**
   * How its records were identified: distinct (location, identity, device) with counts,
   * busiest first, at most CLIENT_SEEN_AS_MAX.
   */
  seenAs: {
    location: string | null;
    identity: string | null;
    device: string | null;
    count: number;
  }[];
}

export interface AnalyticsStore {
  readonly name: "duckdb" | "clickhouse";
  /**
   * Idempotent by (`accountId`, `batchId`): a batch seen before is dropped (edges deliver at
   * least once). `accountId` is the edge's account ("" for a single-account install).
   */
  ingest(
    batchId: string,
    records: readonly QueryLogRecord[],
    accountId?: string,
  ): Promise<IngestResult>;
  timeseries(q: TimeseriesQuery): Promise<TimeseriesResult>;
  top(q: TopQuery): Promise<TopResult>;
  /** One client's totals and identifications over a range. */
  clientActivity(q: ClientActivityQuery): Promise<ClientActivity>;
  /** Newest first, keyset pagination on (ts, id, edgeId). */
  search(q: SearchQuery): Promise<SearchResult>;
  export(q: ExportQuery): Promise<ExportStream>;
  /** Distinct field combinations with counts, streamed in chunks (policy simulation). */
  replay(q: ReplayQuery): AsyncIterable<ReplayRow[]>;
  /** Remove records by age and size; run periodically (see `scheduleRetention`). */
  applyRetention(policy?: RetentionPolicy, now?: number): Promise<RetentionResult>;
  /** Total records held (for tests, metrics and size retention). */
  count(): Promise<number>;
  close(): Promise<void>;
}

/** A caller's mistake (bad cursor, unsupported format): routes map it to 400. */
export class AnalyticsInputError extends Error {
  override readonly name = "AnalyticsInputError";
}
