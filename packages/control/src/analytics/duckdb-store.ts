// The embedded analytics store: one DuckDB file in the data directory (or ":memory:"). Writes
// go through two writer connections ("lanes") with group commit: batches that arrive while a
// lane is busy wait in a queue, and the next free lane writes everything queued in one
// transaction, each batch id recorded with it, so a retried batch is dropped atomically.
// DuckDB runs one commit at a time (it holds its WAL lock for the whole WAL write), and a
// commit's cost per record falls as the transaction grows, so under load the groups grow by
// themselves; one sender gets one batch per transaction, as before. Records enter through
// DuckDB's appender as column chunks built in typed arrays (duckdb-chunks.ts), no SQL parsing
// and no native call per value. Reads open a short-lived connection each, so a long export
// never blocks ingestion (DuckDB is MVCC: a reader sees a snapshot).

import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from "@duckdb/node-api";
import type { QueryLogRecord } from "@gatehouse/contract";
import { batchKey, checkBatchId } from "./batch-id.ts";
import { ADDED_COLUMNS, COLUMNS, type ColumnType } from "./columns.ts";
import { ChunkAppender } from "./duckdb-chunks.ts";
import { CONTENT_TYPES, encodeRows } from "./export-format.ts";
import {
  BATCH_TABLE,
  clientActivityOf,
  clientActivitySql,
  type Dialect,
  exportSql,
  type Params,
  type ParamType,
  pageOf,
  replaySql,
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

const DUCK_TYPE: Readonly<Record<ColumnType, string>> = {
  text: "VARCHAR",
  int: "INTEGER",
  bigint: "BIGINT",
  double: "DOUBLE",
};

const duckDialect: Dialect = {
  placeholder: (name) => `$${name}`,
  bucket: (expr, width) => `((${expr} // ${width}) * ${width})`,
  startsWith: (expr, v) => `starts_with(${expr}, ${v})`,
  endsWith: (expr, v) => `ends_with(${expr}, ${v})`,
  argMax: (expr, by) => `arg_max(${expr}, ${by})`,
};

/** DuckDB binds JS numbers as DOUBLE; integers go as BIGINT so `ts` comparisons stay integer. */
function duckValues(p: Params): Record<string, DuckDBValue> {
  const out: Record<string, DuckDBValue> = {};
  for (const [k, v] of Object.entries(p.values)) {
    out[k] = (p.types[k] as ParamType) === "int" ? BigInt(v) : v;
  }
  return out;
}

/** A numeric cell; a missing one means the query selected fewer columns than read (a bug). */
function num(v: DuckDBValue | undefined): number {
  if (v === undefined) throw new Error("internal: DuckDB result row is missing a selected column");
  return typeof v === "bigint" ? Number(v) : (v as number);
}

/** The single number a `SELECT count(*)`-style query returns. */
function scalar(rows: DuckDBValue[][]): number {
  const [row] = rows;
  return num(row?.[0]);
}

interface DuckDbStoreOptions {
  /** A file path (created when missing) or ":memory:". */
  path: string;
  /** DuckDB worker threads; default: DuckDB's (one per core). */
  threads?: number;
  /**
   * DuckDB's memory_limit, e.g. "256MB" (default {@link DEFAULT_MEMORY_LIMIT}). Without it
   * DuckDB takes 80% of the machine's RAM and keeps every block it has read or written cached
   * up to that: control's RSS then grows with the query log (docs/benchmarks.md, "Control
   * memory soak"). Past the limit DuckDB evicts blocks (they are on disk) and spills large
   * aggregations to its temp directory.
   */
  memoryLimit?: string;
  /** Records ingested between two background checkpoints; default {@link CHECKPOINT_ROWS}. */
  checkpointRows?: number;
}

/**
 * Checkpoints (compressing what the WAL holds into the file) are the store's, not DuckDB's:
 * DuckDB's automatic one runs inside the COMMIT that crosses its WAL threshold, so the batch
 * that happens to cross it waits for it; and at the default threshold (16 MB, about 100,000
 * query-log records) each checkpoint recompresses the same unfinished row group again — over
 * half of ingest CPU (docs/benchmarks.md, "Analytics"). The store instead starts a CHECKPOINT
 * on its own connection every CHECKPOINT_ROWS records (4 of DuckDB's 122,880-row row groups),
 * which runs on DuckDB's threads while batches keep committing. DuckDB's own threshold stays as
 * a backstop, far above it.
 */
const CHECKPOINT_ROWS = 4 * 122_880;

/** DuckDB's buffer pool (memory_limit) unless the caller says otherwise. */
const DEFAULT_MEMORY_LIMIT = "256MB";
/**
 * After a task whose peak allocation passed this, DuckDB hands freed memory back to the system
 * (default 128 MB, as much again as the buffer pool we allow): RSS then follows what DuckDB uses.
 */
const ALLOCATOR_FLUSH_THRESHOLD = "32MB";
const MEMORY_SIZE = /^\d{1,7}(\.\d{1,3})?\s?(KB|MB|GB|KiB|MiB|GiB)$/i;

/** Whether `s` is a size DuckDB's memory_limit takes ("256MB", "1GiB"). */
export function isMemorySize(s: string): boolean {
  return MEMORY_SIZE.test(s);
}
const BACKSTOP_CHECKPOINT_THRESHOLD = "1GB";

/**
 * Most records one group transaction takes. Commit cost per record falls with the group's size
 * (docs/benchmarks.md, "Analytics"), but every batch in the group waits for the whole group;
 * and it stays below DuckDB's row group (122,880 rows), above which the appender would write
 * compressed row groups itself, synchronously, on the main thread.
 */
const GROUP_MAX_RECORDS = 60_000;

/** A batch waiting for a lane, and the promise its caller awaits. */
interface QueuedBatch {
  readonly key: string;
  readonly records: readonly QueryLogRecord[];
  readonly accountId: string;
  readonly resolve: (r: IngestResult) => void;
  readonly reject: (e: unknown) => void;
}

export class DuckDbStore implements AnalyticsStore {
  readonly name = "duckdb" as const;
  private readonly instance: DuckDBInstance;
  /**
   * Write lanes: one connection each, its writes serialised. Two lanes let one batch's
   * appends run on the main thread while another batch commits (WAL write) on DuckDB's
   * threads; their transactions append to the same table without conflicting.
   */
  private readonly lanes: readonly [WriteLane, ...WriteLane[]];
  private readonly inMemory: boolean;
  /** Batches being written, by dedup key: a concurrent retry waits for the first attempt. */
  private readonly inflight = new Map<string, Promise<IngestResult>>();
  /** Batches waiting for a free lane; the next free lane takes them all as one group. */
  private queue: QueuedBatch[] = [];
  /**
   * Write counts since open: transactions committed or failed (`groups`, each retry of a
   * failed group's batch counting again), and groups of several batches that failed and were
   * written again one batch at a time (`split`).
   */
  readonly writes = { groups: 0, split: 0 };
  /** Column buffers for the appends; appends are synchronous, so the lanes share it. */
  private readonly chunks = new ChunkAppender();
  private checkpointConn: DuckDBConnection | undefined;
  private checkpointRows = CHECKPOINT_ROWS;
  private sinceCheckpoint = 0;
  private checkpointing = false;
  private checkpointTail: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    instance: DuckDBInstance,
    lanes: readonly [WriteLane, ...WriteLane[]],
    inMemory: boolean,
  ) {
    this.instance = instance;
    this.lanes = lanes;
    this.inMemory = inMemory;
  }

  static async open(opts: DuckDbStoreOptions): Promise<DuckDbStore> {
    const memoryLimit = opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
    if (!isMemorySize(memoryLimit))
      throw new Error(
        `DuckDB memory limit ${JSON.stringify(memoryLimit)} is not a size like "256MB"`,
      );
    const config: Record<string, string> = {
      checkpoint_threshold: BACKSTOP_CHECKPOINT_THRESHOLD,
      memory_limit: memoryLimit,
      allocator_flush_threshold: ALLOCATOR_FLUSH_THRESHOLD,
    };
    if (opts.threads !== undefined) config.threads = String(opts.threads);
    const instance = await DuckDBInstance.create(opts.path, config);
    const writer = await instance.connect();
    const cols = COLUMNS.map(
      (c) => `${c.name} ${DUCK_TYPE[c.type]}${c.required ? " NOT NULL" : ""}`,
    ).join(", ");
    await writer.run(`CREATE TABLE IF NOT EXISTS ${TABLE} (${cols})`);
    for (const c of ADDED_COLUMNS)
      await writer.run(
        `ALTER TABLE ${TABLE} ADD COLUMN IF NOT EXISTS ${c.name} ${DUCK_TYPE[c.type]}`,
      );
    await writer.run(
      `CREATE TABLE IF NOT EXISTS ${BATCH_TABLE} (batch_id VARCHAR PRIMARY KEY, received_at BIGINT NOT NULL, records INTEGER NOT NULL)`,
    );
    const lanes: [WriteLane, WriteLane] = [
      new WriteLane(writer),
      new WriteLane(await instance.connect()),
    ];
    const store = new DuckDbStore(instance, lanes, opts.path === ":memory:");
    store.checkpointConn = await instance.connect();
    if (opts.checkpointRows !== undefined) store.checkpointRows = opts.checkpointRows;
    return store;
  }

  /**
   * Run a CHECKPOINT on the store's checkpoint connection after any one already running (one
   * at a time: DuckDB allows a single checkpoint). Batches keep committing meanwhile.
   */
  checkpoint(): Promise<void> {
    this.sinceCheckpoint = 0;
    const run = this.checkpointTail.then(() => this.checkpointConn?.run("CHECKPOINT"));
    this.checkpointTail = run.then(
      () => undefined,
      () => undefined,
    );
    return run.then(() => undefined);
  }

  /** After a commit: start a background checkpoint when enough records arrived since the last. */
  private countIngested(n: number): void {
    this.sinceCheckpoint += n;
    if (this.inMemory || this.sinceCheckpoint < this.checkpointRows || this.checkpointing) return;
    this.checkpointing = true;
    // A failed checkpoint leaves the WAL as it was: the next one (or DuckDB's backstop) retries.
    void this.checkpoint()
      .catch(() => undefined)
      .finally(() => {
        this.checkpointing = false;
      });
  }

  /** Start a group on every free lane while batches are queued. */
  private pump(): void {
    while (this.queue.length > 0) {
      const lane = this.lanes.find((l) => l.pending === 0);
      if (lane === undefined) return;
      const group = this.takeGroup();
      void lane.run((c) => this.writeGroup(c, group)).finally(() => this.pump());
    }
  }

  /** The queued batches up to GROUP_MAX_RECORDS (always at least one), oldest first. */
  private takeGroup(): QueuedBatch[] {
    let n = 0;
    let take = 0;
    for (const batch of this.queue) {
      n += batch.records.length;
      if (take > 0 && n > GROUP_MAX_RECORDS) break;
      take++;
    }
    const group = this.queue.slice(0, take);
    this.queue = this.queue.slice(take);
    return group;
  }

  private async withReader<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error("analytics store is closed");
    const c = await this.instance.connect();
    try {
      return await fn(c);
    } finally {
      c.closeSync();
    }
  }

  async ingest(
    batchId: string,
    records: readonly QueryLogRecord[],
    accountId = "",
  ): Promise<IngestResult> {
    checkBatchId(batchId);
    if (this.closed) throw new Error("analytics store is closed");
    const key = batchKey(accountId, batchId);
    const running = this.inflight.get(key);
    if (running !== undefined) {
      // Same batch delivered twice at once: whichever attempt lands first writes it.
      const first = await running.catch(() => undefined);
      if (first !== undefined) return { accepted: 0, duplicate: true };
      return this.ingest(batchId, records, accountId);
    }
    const attempt = new Promise<IngestResult>((resolve, reject) => {
      this.queue.push({ key, records, accountId, resolve, reject });
    });
    this.pump();
    this.inflight.set(key, attempt);
    try {
      return await attempt;
    } finally {
      this.inflight.delete(key);
    }
  }

  /**
   * Write a group in one transaction and settle each batch after COMMIT (never before: an
   * acknowledged batch is durable). When the transaction fails, every batch of a group of
   * several is written again alone, so one bad batch fails only its own sender.
   */
  private async writeGroup(c: DuckDBConnection, group: QueuedBatch[]): Promise<void> {
    let results: IngestResult[];
    this.writes.groups++;
    try {
      results = await this.writeTransaction(c, group);
    } catch (e) {
      const [only] = group;
      if (group.length === 1 && only !== undefined) {
        only.reject(e);
        return;
      }
      this.writes.split++;
      for (const b of group) await this.writeGroup(c, [b]);
      return;
    }
    for (const [i, b] of group.entries()) {
      const result = results[i];
      if (result === undefined)
        b.reject(new Error(`internal: no ingest result for batch ${i} of ${group.length}`));
      else b.resolve(result);
    }
  }

  private async writeTransaction(
    c: DuckDBConnection,
    group: readonly QueuedBatch[],
  ): Promise<IngestResult[]> {
    await c.run("BEGIN TRANSACTION");
    try {
      // Which of the group's ids are stored already. A plain SELECT and a plain INSERT cost
      // about 1 ms each; one INSERT … ON CONFLICT DO NOTHING RETURNING cost 2–3 ms, and more
      // while a checkpoint ran (docs/benchmarks.md, "Analytics"). No other transaction can
      // hold one of these ids uncommitted: `inflight` keeps a second attempt of an id waiting
      // for the first.
      const keys: Record<string, DuckDBValue> = {};
      const names: string[] = [];
      for (const [i, b] of group.entries()) {
        keys[`k${i}`] = b.key;
        names.push(`$k${i}`);
      }
      const seen = await c.runAndReadAll(
        `SELECT batch_id FROM ${BATCH_TABLE} WHERE batch_id IN (${names.join(", ")})`,
        keys,
      );
      const stored = new Set(seen.getRows().map((r) => r[0] as string));
      const fresh = group.filter((b) => !stored.has(b.key));
      if (fresh.length === 0) {
        await c.run("ROLLBACK");
        return group.map(() => ({ accepted: 0, duplicate: true }));
      }
      const values: Record<string, DuckDBValue> = { at: BigInt(Date.now()) };
      const rows: string[] = [];
      for (const [i, b] of fresh.entries()) {
        values[`k${i}`] = b.key;
        values[`n${i}`] = b.records.length;
        rows.push(`($k${i}, $at, $n${i})`);
      }
      await c.run(`INSERT INTO ${BATCH_TABLE} VALUES ${rows.join(", ")}`, values);
      const appender = await c.createAppender(TABLE);
      let accepted = 0;
      try {
        for (const b of fresh) {
          this.chunks.append(appender, b.records, b.accountId);
          accepted += b.records.length;
        }
        appender.closeSync();
      } catch (e) {
        appender.clear();
        appender.closeSync();
        throw e;
      }
      await c.run("COMMIT");
      this.countIngested(accepted);
      return group.map((b) =>
        stored.has(b.key)
          ? { accepted: 0, duplicate: true }
          : { accepted: b.records.length, duplicate: false },
      );
    } catch (e) {
      await c.run("ROLLBACK").catch(() => undefined);
      throw e;
    }
  }

  async timeseries(q: TimeseriesQuery): Promise<TimeseriesResult> {
    const st = timeseriesSql(duckDialect, q);
    return this.withReader(async (c) => {
      const r = await c.runAndReadAll(st.sql, duckValues(st.params));
      const points = r.getRows().map((row) => ({
        t: num(row[0]),
        key: row[1] as string | null,
        count: num(row[2]),
      }));
      return { bucket: q.bucket, by: q.by, points };
    });
  }

  async top(q: TopQuery): Promise<TopResult> {
    const st = topSql(duckDialect, q);
    return this.withReader(async (c) => {
      const r = await c.runAndReadAll(st.sql, duckValues(st.params));
      const entries = r.getRows().map((row) => {
        const e: { key: string; count: number; label?: string } = {
          key: row[0] as string,
          count: num(row[1]),
        };
        if (row.length > 2 && row[2] !== null) e.label = row[2] as string;
        return e;
      });
      return { dimension: q.dimension, entries };
    });
  }

  async clientActivity(q: ClientActivityQuery): Promise<ClientActivity> {
    const st = clientActivitySql(duckDialect, q);
    return this.withReader(async (c) => {
      const r = await c.runAndReadAll(st.sql, duckValues(st.params));
      return clientActivityOf(r.getRows() as (string | number | bigint | null)[][]);
    });
  }

  async search(q: SearchQuery): Promise<SearchResult> {
    const st = searchSql(duckDialect, q);
    return this.withReader(async (c) => {
      const r = await c.runAndReadAll(st.sql, duckValues(st.params));
      const rows = r.getRows();
      return pageOf(rows, q.limit);
    });
  }

  async export(q: ExportQuery): Promise<ExportStream> {
    const st = exportSql(duckDialect, q);
    if (q.format === "parquet") return this.exportParquet(st.sql, st.params);
    if (q.format !== "ndjson" && q.format !== "csv") {
      throw new AnalyticsInputError(`unknown export format ${String(q.format)}`);
    }
    const self = this;
    async function* chunks(): AsyncGenerator<DuckDBValue[][]> {
      await yieldOnce();
      const c = await self.instance.connect();
      try {
        const result = await c.stream(st.sql, duckValues(st.params));
        for (;;) {
          const chunk = await result.fetchChunk();
          if (chunk === null || chunk.rowCount === 0) break;
          yield chunk.getRows();
        }
      } finally {
        c.closeSync();
      }
    }
    return {
      contentType: CONTENT_TYPES[q.format],
      extension: q.format,
      stream: encodeRows(chunks(), q.format),
    };
  }

  /** COPY … TO a private temp file, stream it, delete it when the stream ends or fails. */
  private async exportParquet(sql: string, params: Params): Promise<ExportStream> {
    const dir = await mkdtemp(join(tmpdir(), "gatehouse-export-"));
    const file = join(dir, "query-log.parquet");
    try {
      await this.withReader((c) =>
        c.run(
          `COPY (${sql}) TO '${file.replaceAll("'", "''")}' (FORMAT parquet, COMPRESSION zstd)`,
          duckValues(params),
        ),
      );
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    const stream = createReadStream(file);
    stream.once("close", () => {
      void rm(dir, { recursive: true, force: true });
    });
    return { contentType: CONTENT_TYPES.parquet, extension: "parquet", stream };
  }

  async *replay(q: ReplayQuery): AsyncGenerator<ReplayRow[]> {
    const st = replaySql(duckDialect, q);
    const c = await this.instance.connect();
    try {
      const result = await c.stream(st.sql, duckValues(st.params));
      const ncol = q.columns.length;
      let out: ReplayRow[] = [];
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        for (const row of chunk.getRows()) {
          const values = new Array<string | number | null>(ncol);
          for (let i = 0; i < ncol; i++) {
            const v = row[i];
            values[i] = v === null ? null : typeof v === "bigint" ? Number(v) : (v as string);
          }
          const r: ReplayRow = { values, count: num(row[ncol]), lastTs: num(row[ncol + 1]) };
          if (q.byMinute) r.minute = num(row[ncol + 2]);
          out.push(r);
        }
        if (out.length >= q.chunkRows) {
          yield out;
          out = [];
        }
      }
      if (out.length > 0) yield out;
    } finally {
      c.closeSync();
    }
  }

  async count(): Promise<number> {
    return this.withReader(async (c) => {
      const r = await c.runAndReadAll(`SELECT count(*) FROM ${TABLE}`);
      return scalar(r.getRows());
    });
  }

  async applyRetention(
    policy: RetentionPolicy = DEFAULT_RETENTION,
    now = Date.now(),
  ): Promise<RetentionResult> {
    return this.lanes[0].run(async (c) => {
      let removed = 0;
      const cutoff = BigInt(now - policy.maxAgeMs);
      const aged = await c.run(`DELETE FROM ${TABLE} WHERE ts < $cutoff`, { cutoff });
      removed += aged.rowsChanged;
      await c.run(`DELETE FROM ${BATCH_TABLE} WHERE received_at < $cutoff`, { cutoff });
      let maxRows = policy.maxRows;
      if (policy.maxBytes !== undefined && !this.inMemory) {
        const byBytes = await this.rowsForBytes(c, policy.maxBytes);
        if (byBytes !== undefined) maxRows = Math.min(maxRows ?? byBytes, byBytes);
      }
      if (maxRows !== undefined) removed += await this.trimToRows(c, maxRows);
      if (removed > 0 && !this.inMemory) await this.checkpoint();
      return { removedRows: removed, droppedPartitions: [] };
    });
  }

  /** How many rows fit in `maxBytes` at the file's current bytes per row. */
  private async rowsForBytes(c: DuckDBConnection, maxBytes: number): Promise<number | undefined> {
    await this.checkpoint();
    const size = await c.runAndReadAll(
      "SELECT used_blocks * block_size FROM pragma_database_size()",
    );
    const bytes = scalar(size.getRows());
    const rows = scalar((await c.runAndReadAll(`SELECT count(*) FROM ${TABLE}`)).getRows());
    if (rows === 0 || bytes <= maxBytes) return undefined;
    return Math.floor(maxBytes / (bytes / rows));
  }

  /** Delete the oldest rows beyond `maxRows`, exactly, by the (ts, id, edge_id) order. */
  private async trimToRows(c: DuckDBConnection, maxRows: number): Promise<number> {
    const edge = await c.runAndReadAll(
      `SELECT ts, id, edge_id FROM ${TABLE} ORDER BY ts DESC, id DESC, edge_id DESC LIMIT 1 OFFSET $n`,
      { n: BigInt(Math.max(0, Math.floor(maxRows))) },
    );
    const [row] = edge.getRows();
    if (row === undefined) return 0;
    const [ts = null, id = null, e = null] = row;
    const del = await c.run(
      `DELETE FROM ${TABLE} WHERE ts < $ts OR (ts = $ts AND (id < $id OR (id = $id AND edge_id <= $e)))`,
      { ts, id, e },
    );
    return del.rowsChanged;
  }

  /** DuckDB's memory limit (as DuckDB prints it, e.g. "244.1 MiB") and worker threads. */
  limits(): Promise<{ memoryLimit: string; threads: number }> {
    return this.withReader(async (c) => {
      const r = await c.runAndReadAll(
        "SELECT current_setting('memory_limit'), current_setting('threads')",
      );
      const [row] = r.getRows();
      if (row === undefined) throw new Error("internal: DuckDB returned no row for its settings");
      const [limit, threads] = row;
      return { memoryLimit: String(limit), threads: Number(threads) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Queued batches still get written (their senders are waiting); then the lanes go quiet.
    while (this.queue.length > 0 || this.lanes.some((l) => l.pending > 0)) {
      this.pump();
      await Promise.all(this.lanes.map((l) => l.idle()));
    }
    await this.checkpointTail;
    this.checkpointConn?.closeSync();
    for (const l of this.lanes) l.conn.closeSync();
    this.instance.closeSync();
  }
}

/** One writer connection and the queue of writes waiting for it. */
class WriteLane {
  readonly conn: DuckDBConnection;
  pending = 0;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(conn: DuckDBConnection) {
    this.conn = conn;
  }

  run<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    this.pending++;
    const go = () => fn(this.conn);
    const result = this.tail.then(go, go);
    this.tail = result.catch(() => undefined);
    return result.finally(() => {
      this.pending--;
    });
  }

  idle(): Promise<unknown> {
    return this.tail;
  }
}

/** Let the consumer attach before the first query runs (errors then surface on the stream). */
function yieldOnce(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
