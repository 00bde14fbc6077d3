// The query-log store control writes edge logs into: ClickHouse when CLICKHOUSE_URL is set
// (for fleets that outgrow one machine), else a DuckDB file in the data directory, its memory
// bounded by GATEHOUSE_DUCKDB_MEMORY_LIMIT (default 256MB) and its worker threads by
// GATEHOUSE_DUCKDB_THREADS (default: one per core). Retention by age (30 days by default) runs
// hourly.

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  type AnalyticsStore,
  ClickHouseStore,
  DuckDbStore,
  isMemorySize,
  scheduleRetention,
} from "@gatehouse/control";

interface OpenedAnalytics {
  readonly store: AnalyticsStore;
  readonly where: string;
  close(): Promise<void>;
}

/** DuckDB's memory limit and threads, and the store's checkpoint interval. */
export interface DuckDbLimits {
  memoryLimit?: string;
  threads?: number;
  /**
   * Records ingested between two of the store's background checkpoints: DuckDB holds the
   * records committed since the last one in memory, uncompressed.
   */
  checkpointRows?: number;
}

/**
 * What `gatehouse up` (control, the edge and both stores in one process on a small machine)
 * gives DuckDB unless the environment says otherwise: one worker thread (each keeps its own
 * buffers) and a 64 MB buffer pool; the query log of one home network fits it. A checkpoint
 * every 30,720 records (a quarter of DuckDB's row group; half a minute at 1,000 queries/s)
 * instead of the store's 491,520: the records since the last one stay in DuckDB's memory (about
 * 900 bytes each), 25 MB under that load instead of 59 MB (docs/benchmarks.md, "gatehouse up").
 */
export const SMALL_MACHINE_DUCKDB: DuckDbLimits = {
  memoryLimit: "64MB",
  threads: 1,
  checkpointRows: 30_720,
};

/**
 * DuckDB's memory limit and threads from the environment, else `defaults`; a clear error for
 * bad values.
 */
export function duckDbLimits(env: NodeJS.ProcessEnv, defaults: DuckDbLimits = {}): DuckDbLimits {
  const out: DuckDbLimits = { ...defaults };
  const limit = env["GATEHOUSE_DUCKDB_MEMORY_LIMIT"];
  if (limit !== undefined && limit !== "") {
    if (!isMemorySize(limit))
      throw new Error(
        `GATEHOUSE_DUCKDB_MEMORY_LIMIT=${JSON.stringify(limit)}: expected a size such as 256MB or 1GB`,
      );
    out.memoryLimit = limit;
  }
  const threads = env["GATEHOUSE_DUCKDB_THREADS"];
  if (threads !== undefined && threads !== "") {
    if (!/^[1-9][0-9]{0,2}$/.test(threads))
      throw new Error(
        `GATEHOUSE_DUCKDB_THREADS=${JSON.stringify(threads)}: expected a whole number from 1 to 999`,
      );
    out.threads = Number(threads);
  }
  return out;
}

export async function openAnalytics(
  dataDir: string,
  log: (line: string) => void,
  defaults: DuckDbLimits = {},
): Promise<OpenedAnalytics> {
  const url = process.env["CLICKHOUSE_URL"];
  let store: AnalyticsStore;
  let where: string;
  if (url) {
    store = await ClickHouseStore.open({ url });
    where = `ClickHouse at ${new URL(url).host}`;
  } else {
    await mkdir(dataDir, { recursive: true });
    const path = join(dataDir, "analytics.duckdb");
    const duck = await DuckDbStore.open({ path, ...duckDbLimits(process.env, defaults) });
    const limits = await duck.limits();
    store = duck;
    where = `DuckDB in ${path} (memory limit ${limits.memoryLimit}, ${limits.threads} threads)`;
  }
  const stop = scheduleRetention(store, {
    onError: (e) => log(`gatehouse control: query-log retention failed: ${(e as Error).message}`),
  });
  return {
    store,
    where,
    async close() {
      await stop();
      await store.close();
    },
  };
}
