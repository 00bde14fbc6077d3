// The analytics store for installations that outgrow one machine: ClickHouse over HTTP with the
// official client. One MergeTree table partitioned by UTC day and sorted by (account_id, ts, id, edge_id),
// so a time range reads only its days and a page of newest-first results reads the tail of the
// sort key. Retention drops whole day partitions (the server versions we support include 18.16,
// which has no table TTL), so age retention has a granularity of one day.

import type { ClickHouseClient } from "@clickhouse/client";
import type { QueryLogRecord } from "@gatehouse/contract";
import { batchKey, checkBatchId } from "./batch-id.ts";
import { bindClickHouse } from "./clickhouse-literal.ts";
import { ADDED_COLUMNS, COLUMN_NAMES, COLUMNS, type ColumnType, recordToRow } from "./columns.ts";
import { CONTENT_TYPES, encodeRows } from "./export-format.ts";
import {
  BATCH_TABLE,
  clientActivityOf,
  clientActivitySql,
  type Dialect,
  decodeCursor,
  exportSql,
  Params,
  pageOf,
  replaySql,
  type Statement,
  searchSql,
  TABLE,
  timeseriesSql,
  topSql,
} from "./query-sql.ts";
import {
  AnalyticsInputError,
  type AnalyticsStore,
  type ClientActivity,
  type ClientActivityQuery,
  DEFAULT_RETENTION,
  type ExportQuery,
  type ExportStream,
  type IngestResult,
  type ReplayQuery,
  type ReplayRow,
  type RetentionPolicy,
  type RetentionResult,
  type SearchQuery,
  type SearchResult,
  type TimeseriesQuery,
  type TimeseriesResult,
  type TopQuery,
  type TopResult,
} from "./types.ts";

const CH_TYPE: Readonly<Record<ColumnType, string>> = {
  text: "String",
  int: "Int32",
  bigint: "Int64",
  double: "Float64",
};

const clickHouseDialect: Dialect = {
  placeholder: (name, type) => `{${name}:${type === "int" ? "Int64" : "String"}}`,
  bucket: (expr, width) => `(intDiv(${expr}, ${width}) * ${width})`,
  startsWith: (expr, v) => `startsWith(${expr}, ${v})`,
  endsWith: (expr, v) => `endsWith(${expr}, ${v})`,
  argMax: (expr, by) => `argMax(${expr}, ${by})`,
};

const DAY_PARTITION = (col: string) => `toYYYYMMDD(toDateTime(intDiv(${col}, 1000), 'UTC'))`;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

interface ClickHouseStoreOptions {
  /** e.g. http://127.0.0.1:8123 (CLICKHOUSE_URL); user and password may be in the URL. */
  url: string;
  /** Database to use; created when missing. Default "default". */
  database?: string;
  requestTimeoutMs?: number;
}

type Row = Record<string, unknown>;

export class ClickHouseStore implements AnalyticsStore {
  readonly name = "clickhouse" as const;
  private readonly client: ClickHouseClient;
  /** In-process serialisation of the check-then-insert of batch ids. */
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(client: ClickHouseClient) {
    this.client = client;
  }

  static async open(opts: ClickHouseStoreOptions): Promise<ClickHouseStore> {
    // The client (42 modules) loads when a ClickHouse store is configured, not with control.
    const { createClient } = await import("@clickhouse/client");
    const database = opts.database ?? "default";
    if (!IDENT.test(database)) throw new Error(`invalid ClickHouse database name ${database}`);
    const url = new URL(opts.url);
    const bootstrap = createClient({
      url: url.origin,
      username: decodeURIComponent(url.username) || undefined,
      password: decodeURIComponent(url.password) || undefined,
      request_timeout: opts.requestTimeoutMs ?? 30_000,
    });
    try {
      await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    } finally {
      await bootstrap.close();
    }
    const client = createClient({
      url: url.origin,
      username: decodeURIComponent(url.username) || undefined,
      password: decodeURIComponent(url.password) || undefined,
      database,
      request_timeout: opts.requestTimeoutMs ?? 30_000,
      // 64-bit integers as JSON numbers: every value we store (ms timestamps, counts) is < 2^53.
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    });
    const cols = COLUMNS.map((c) => {
      const t = CH_TYPE[c.type];
      return `${c.name} ${c.required ? t : `Nullable(${t})`}`;
    }).join(", ");
    await client.command({
      query:
        `CREATE TABLE IF NOT EXISTS ${TABLE} (${cols}) ENGINE = MergeTree ` +
        `PARTITION BY ${DAY_PARTITION("ts")} ORDER BY (account_id, ts, id, edge_id)`,
    });
    // Columns added after the table was first created (ClickHouse 18.16 has no ADD COLUMN IF
    // NOT EXISTS): add the ones the table lacks.
    const have = await client.query({
      query: `SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${TABLE}'`,
      format: "JSONEachRow",
    });
    const present = new Set(((await have.json()) as { name: string }[]).map((r) => r.name));
    for (const c of ADDED_COLUMNS)
      if (!present.has(c.name))
        await client.command({
          query: `ALTER TABLE ${TABLE} ADD COLUMN ${c.name} Nullable(${CH_TYPE[c.type]})`,
        });
    await client.command({
      query:
        `CREATE TABLE IF NOT EXISTS ${BATCH_TABLE} (batch_id String, received_at Int64, records UInt32) ` +
        `ENGINE = MergeTree PARTITION BY ${DAY_PARTITION("received_at")} ORDER BY batch_id`,
    });
    return new ClickHouseStore(client);
  }

  private async rows(st: Statement): Promise<Row[]> {
    const rs = await this.client.query({
      query: bindClickHouse(st.sql, st.params),
      format: "JSONEachRow",
    });
    return rs.json<Row>();
  }

  private async *streamRows(st: Statement): AsyncGenerator<Row[]> {
    const rs = await this.client.query({
      query: bindClickHouse(st.sql, st.params),
      format: "JSONEachRow",
    });
    for await (const batch of rs.stream<Row>()) {
      yield batch.map((r) => r.json<Row>());
    }
  }

  async ingest(
    batchId: string,
    records: readonly QueryLogRecord[],
    accountId = "",
  ): Promise<IngestResult> {
    checkBatchId(batchId);
    const key = batchKey(accountId, batchId);
    const run = async (): Promise<IngestResult> => {
      const p = new Params();
      const ph = clickHouseDialect.placeholder(p.add(key, "text"), "text");
      const seen = await this.rows({
        sql: `SELECT count() AS n FROM ${BATCH_TABLE} WHERE batch_id = ${ph}`,
        params: p,
      });
      if (Number(seen[0]?.n ?? 0) > 0) return { accepted: 0, duplicate: true };
      if (records.length > 0) {
        const row: unknown[] = new Array(COLUMNS.length);
        const values = records.map((r) => {
          recordToRow(r, row, accountId);
          const o: Row = {};
          for (const [i, name] of COLUMN_NAMES.entries()) o[name] = row[i];
          return o;
        });
        await this.client.insert({ table: TABLE, values, format: "JSONEachRow" });
      }
      // The batch id is written after the records: a crash in between makes the edge retry
      // and write the records twice (at-least-once), never lose them.
      await this.client.insert({
        table: BATCH_TABLE,
        values: [{ batch_id: key, received_at: Date.now(), records: records.length }],
        format: "JSONEachRow",
      });
      return { accepted: records.length, duplicate: false };
    };
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => undefined);
    return result;
  }

  async timeseries(q: TimeseriesQuery): Promise<TimeseriesResult> {
    const rows = await this.rows(timeseriesSql(clickHouseDialect, q));
    return {
      bucket: q.bucket,
      by: q.by,
      points: rows.map((r) => ({
        t: Number(r.t),
        key: (r.k ?? null) as string | null,
        count: Number(r.n),
      })),
    };
  }

  async top(q: TopQuery): Promise<TopResult> {
    const rows = await this.rows(topSql(clickHouseDialect, q));
    return {
      dimension: q.dimension,
      entries: rows.map((r) => {
        const e: { key: string; count: number; label?: string } = {
          key: r.k as string,
          count: Number(r.n),
        };
        if (typeof r.label === "string") e.label = r.label;
        return e;
      }),
    };
  }

  async clientActivity(q: ClientActivityQuery): Promise<ClientActivity> {
    const rows = await this.rows(clientActivitySql(clickHouseDialect, q));
    return clientActivityOf(
      rows.map((r) => [
        r.location as string | null,
        r.identity as string | null,
        r.device as string | null,
        r.n as string,
        r.blocked as string,
        r.first_ts as string,
        r.last_ts as string,
      ]),
    );
  }

  async search(q: SearchQuery): Promise<SearchResult> {
    // Servers before 19.x cannot read a MergeTree in sort order for ORDER BY … DESC LIMIT, so
    // a page over a long range would read every row of it. Ask for the newest hour first and
    // widen the window 16× until the page is full or the range is exhausted: when a window
    // yields limit + 1 rows they are the newest of the whole range, so the page is exact.
    const upper = q.cursor === undefined ? q.to : Math.min(q.to, decodeCursor(q.cursor)[0] + 1);
    let width = 3_600_000;
    for (;;) {
      const from = Math.max(q.from, upper - width);
      const st = searchSql(clickHouseDialect, { ...q, from: from < q.to ? from : q.from });
      const rows = await this.rows(st);
      if (rows.length > q.limit || from <= q.from) {
        return pageOf(
          rows.map((r) => COLUMN_NAMES.map((n) => r[n])),
          q.limit,
        );
      }
      width *= 16;
    }
  }

  async export(q: ExportQuery): Promise<ExportStream> {
    if (q.format === "parquet") {
      throw new AnalyticsInputError("parquet export is available from the DuckDB store only");
    }
    if (q.format !== "ndjson" && q.format !== "csv") {
      throw new AnalyticsInputError(`unknown export format ${String(q.format)}`);
    }
    const st = exportSql(clickHouseDialect, q);
    const self = this;
    async function* chunks(): AsyncGenerator<unknown[][]> {
      for await (const batch of self.streamRows(st)) {
        yield batch.map((r) => COLUMN_NAMES.map((n) => r[n]));
      }
    }
    return {
      contentType: CONTENT_TYPES[q.format],
      extension: q.format,
      stream: encodeRows(chunks(), q.format),
    };
  }

  async *replay(q: ReplayQuery): AsyncGenerator<ReplayRow[]> {
    const st = replaySql(clickHouseDialect, q);
    let out: ReplayRow[] = [];
    for await (const batch of this.streamRows(st)) {
      for (const r of batch) {
        const values = q.columns.map((c) => {
          const v = r[c];
          return v === null || v === undefined ? null : (v as string | number);
        });
        const row: ReplayRow = { values, count: Number(r.n), lastTs: Number(r.last_ts) };
        if (q.byMinute) row.minute = Number(r.minute);
        out.push(row);
      }
      if (out.length >= q.chunkRows) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }

  async count(): Promise<number> {
    const rows = await this.rows({
      sql: `SELECT count() AS n FROM ${TABLE}`,
      params: new Params(),
    });
    return Number(rows[0]?.n ?? 0);
  }

  async applyRetention(
    policy: RetentionPolicy = DEFAULT_RETENTION,
    now = Date.now(),
  ): Promise<RetentionResult> {
    const cutoffDay = utcDayNumber(now - policy.maxAgeMs);
    const parts = await this.partitions(TABLE);
    const dropped: string[] = [];
    let removed = 0;
    // Age: a partition goes once its whole day is older than the cutoff.
    const keep: PartitionInfo[] = [];
    for (const part of parts) {
      if (Number(part.partition) < cutoffDay) {
        await this.dropPartition(TABLE, part.partition);
        dropped.push(part.partition);
        removed += part.rows;
      } else keep.push(part);
    }
    // Size: drop the oldest days until under the limits; the newest day always stays.
    let rows = keep.reduce((s, p) => s + p.rows, 0);
    let bytes = keep.reduce((s, p) => s + p.bytes, 0);
    for (const part of keep.slice(0, -1)) {
      const over =
        (policy.maxRows !== undefined && rows > policy.maxRows) ||
        (policy.maxBytes !== undefined && bytes > policy.maxBytes);
      if (!over) break;
      await this.dropPartition(TABLE, part.partition);
      dropped.push(part.partition);
      removed += part.rows;
      rows -= part.rows;
      bytes -= part.bytes;
    }
    for (const part of await this.partitions(BATCH_TABLE)) {
      if (Number(part.partition) < cutoffDay) await this.dropPartition(BATCH_TABLE, part.partition);
    }
    return { removedRows: removed, droppedPartitions: dropped };
  }

  /** Active partitions of a table, oldest first. */
  private async partitions(table: string): Promise<PartitionInfo[]> {
    const p = new Params();
    const t = clickHouseDialect.placeholder(p.add(table, "text"), "text");
    const rows = await this.rows({
      sql:
        "SELECT partition, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts " +
        `WHERE database = currentDatabase() AND table = ${t} AND active ` +
        "GROUP BY partition ORDER BY partition",
      params: p,
    });
    return rows.map((r) => ({
      partition: String(r.partition),
      rows: Number(r.rows),
      bytes: Number(r.bytes),
    }));
  }

  private async dropPartition(table: string, partition: string): Promise<void> {
    // The id comes from system.parts, not from a caller; still, only YYYYMMDD is accepted.
    if (!/^\d{8}$/.test(partition)) throw new Error(`unexpected partition id ${partition}`);
    await this.client.command({ query: `ALTER TABLE ${table} DROP PARTITION ${partition}` });
  }

  async close(): Promise<void> {
    await this.writes;
    await this.client.close();
  }

  /** Drop the database (tests use a database each). */
  async dropDatabase(): Promise<void> {
    const db = (await this.rows({ sql: "SELECT currentDatabase() AS d", params: new Params() }))[0]
      ?.d as string;
    if (!IDENT.test(db) || db === "default" || db === "system") return;
    await this.client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  }
}

interface PartitionInfo {
  partition: string;
  rows: number;
  bytes: number;
}

/** YYYYMMDD of a UTC instant, as a number comparable with partition ids. */
function utcDayNumber(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}
