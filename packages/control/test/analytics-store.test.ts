// Runs the analytics conformance suite against DuckDB (always) and ClickHouse (when
// CLICKHOUSE_URL is set or the clickhouse-server binary exists; otherwise skipped with the
// reason).

import { randomBytes } from "node:crypto";
import { after, before, describe } from "node:test";
import { ClickHouseStore } from "../src/analytics/clickhouse-store.ts";
import { DuckDbStore } from "../src/analytics/duckdb-store.ts";
import { conformance } from "./analytics-conformance.ts";
import {
  type ClickHouseServer,
  clickHouseSkipReason,
  startClickHouse,
} from "./support/clickhouse.ts";

describe("analytics store: duckdb", () => {
  conformance(
    async () => {
      const store = await DuckDbStore.open({ path: ":memory:", threads: 2 });
      return { store, dispose: () => store.close() };
    },
    { parquet: true },
  );
});

const chSkip = clickHouseSkipReason();
describe("analytics store: clickhouse", { skip: chSkip ?? false }, () => {
  let server: ClickHouseServer | undefined;
  before(async () => {
    server = await startClickHouse();
    if (server.skip !== undefined) throw new Error(server.skip);
  });
  after(async () => {
    await server?.stop();
  });
  conformance(
    async () => {
      if (server === undefined) throw new Error("ClickHouse did not start");
      const store = await ClickHouseStore.open({
        url: server.url,
        database: `gh_test_${randomBytes(6).toString("hex")}`,
      });
      return {
        store,
        dispose: async () => {
          await store.dropDatabase();
          await store.close();
        },
      };
    },
    { parquet: false },
  );
});
