// The query-log store control writes edge logs into: ClickHouse when CLICKHOUSE_URL is set
// (for fleets that outgrow one machine), else a DuckDB file in the data directory. Retention by
// age (30 days by default) runs hourly.

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  type AnalyticsStore,
  ClickHouseStore,
  DuckDbStore,
  scheduleRetention,
} from "@gatehouse/control";

export interface OpenedAnalytics {
  readonly store: AnalyticsStore;
  readonly where: string;
  close(): Promise<void>;
}

export async function openAnalytics(
  dataDir: string,
  log: (line: string) => void,
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
    store = await DuckDbStore.open({ path });
    where = `DuckDB in ${path}`;
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
