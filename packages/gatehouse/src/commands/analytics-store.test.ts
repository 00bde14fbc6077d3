import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { duckDbLimits, openAnalytics, SMALL_MACHINE_DUCKDB } from "./analytics-store.ts";

test("DuckDB limits come from GATEHOUSE_DUCKDB_MEMORY_LIMIT / _THREADS, bad values refused by name", () => {
  assert.deepEqual(duckDbLimits({}), {});
  assert.deepEqual(
    duckDbLimits({ GATEHOUSE_DUCKDB_MEMORY_LIMIT: "512MB", GATEHOUSE_DUCKDB_THREADS: "2" }),
    { memoryLimit: "512MB", threads: 2 },
  );
  assert.throws(
    () => duckDbLimits({ GATEHOUSE_DUCKDB_MEMORY_LIMIT: "80%" }),
    /GATEHOUSE_DUCKDB_MEMORY_LIMIT="80%": expected a size/,
  );
  assert.throws(
    () => duckDbLimits({ GATEHOUSE_DUCKDB_THREADS: "0" }),
    /GATEHOUSE_DUCKDB_THREADS="0"/,
  );
  // `gatehouse up`'s small-machine defaults, each overridden by the environment.
  assert.deepEqual(duckDbLimits({}, SMALL_MACHINE_DUCKDB), {
    memoryLimit: "64MB",
    threads: 1,
    checkpointRows: 30_720,
  });
  assert.deepEqual(duckDbLimits({ GATEHOUSE_DUCKDB_THREADS: "2" }, SMALL_MACHINE_DUCKDB), {
    memoryLimit: "64MB",
    threads: 2,
    checkpointRows: 30_720,
  });
});

test("control's DuckDB store opens with a bounded memory limit and says so", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gh-analytics-store-"));
  const saved = process.env["CLICKHOUSE_URL"];
  delete process.env["CLICKHOUSE_URL"];
  try {
    const a = await openAnalytics(dir, () => {});
    assert.match(a.where, /\(memory limit 244\.1 MiB, \d+ threads\)$/);
    await a.close();
    const small = await openAnalytics(join(dir, "small"), () => {}, SMALL_MACHINE_DUCKDB);
    assert.match(small.where, /\(memory limit 61\.0 MiB, 1 threads\)$/);
    await small.close();
  } finally {
    if (saved !== undefined) process.env["CLICKHOUSE_URL"] = saved;
    await rm(dir, { recursive: true, force: true });
  }
});
