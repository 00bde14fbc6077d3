// The DuckDB store on a file (the conformance suite uses ":memory:"): background checkpoints
// every `checkpointRows` records empty the WAL while batches keep arriving, nothing is lost or
// duplicated across a reopen, and retention by size (which checkpoints to measure the file)
// runs alongside them.

import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { ADDED_COLUMNS, COLUMNS } from "../src/analytics/columns.ts";
import { DuckDbStore } from "../src/analytics/duckdb-store.ts";
import { dns } from "./analytics-conformance.ts";

const walSize = async (file: string) =>
  stat(`${file}.wal`).then(
    (s) => s.size,
    () => 0,
  );

describe("analytics store: duckdb file", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-duckdb-file-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("checkpoints in the background and keeps every batch exactly once across a reopen", async () => {
    const file = join(dir, "a.duckdb");
    const store = await DuckDbStore.open({ path: file, checkpointRows: 1000 });
    const batch = (b: number) => Array.from({ length: 600 }, (_, i) => dns(b * 600 + i));
    // Two batches at once, then a third: the second commit crosses 1,000 records.
    await Promise.all([store.ingest("b0", batch(0)), store.ingest("b1", batch(1))]);
    await store.ingest("b2", batch(2));
    // The third batch is in the WAL; an explicit checkpoint runs after the background one.
    await store.checkpoint();
    assert.equal(await walSize(file), 0, "the WAL is empty after the checkpoint");
    assert.equal(await store.count(), 1800);
    await store.close();

    const again = await DuckDbStore.open({ path: file, checkpointRows: 1000 });
    assert.equal(await again.count(), 1800);
    assert.deepEqual(await again.ingest("b1", batch(1)), { accepted: 0, duplicate: true });
    assert.equal(await again.count(), 1800);
    await again.close();
  });

  it("a background checkpoint starts by itself once enough records arrived", async () => {
    const records = Array.from({ length: 800 }, (_, i) => dns(i));
    // Below the default number of records: they stay in the WAL.
    const below = join(dir, "below.duckdb");
    const quiet = await DuckDbStore.open({ path: below });
    await quiet.ingest("only", records);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await walSize(below)) > 0, "the records are in the WAL");
    await quiet.close();

    const file = join(dir, "b.duckdb");
    const store = await DuckDbStore.open({ path: file, checkpointRows: 500 });
    await store.ingest("only", records);
    const end = Date.now() + 10_000;
    while ((await walSize(file)) > 0 && Date.now() < end)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(await walSize(file), 0, "no explicit checkpoint, yet the WAL was folded in");
    await store.close();
  });

  it("retention by size runs while batches arrive, and trims the oldest records", async () => {
    const file = join(dir, "c.duckdb");
    const store = await DuckDbStore.open({ path: file, checkpointRows: 700 });
    for (let b = 0; b < 5; b++)
      await store.ingest(
        `r${b}`,
        Array.from({ length: 1000 }, (_, i) => dns(b * 1000 + i)),
      );
    const [result] = await Promise.all([
      store.applyRetention({ maxAgeMs: 1e15, maxBytes: 1 }, Date.now()),
      store.ingest("late", [dns(99_999)]),
    ]);
    assert.ok(result.removedRows > 0);
    assert.ok((await store.count()) < 5001);
    await store.close();
  });

  it("bounds DuckDB's memory: 256MB by default (not 80% of the machine), or as configured", async () => {
    const file = join(dir, "limits.duckdb");
    const byDefault = await DuckDbStore.open({ path: file });
    assert.deepEqual((await byDefault.limits()).memoryLimit, "244.1 MiB");
    await byDefault.close();
    const set = await DuckDbStore.open({ path: file, memoryLimit: "1GB", threads: 1 });
    assert.deepEqual(await set.limits(), { memoryLimit: "953.6 MiB", threads: 1 });
    await set.close();
    await assert.rejects(
      DuckDbStore.open({ path: file, memoryLimit: "lots" }),
      /memory limit "lots" is not a size/,
    );
  });

  it("a file made before the rule/matched_name/dnssec/ede columns gets them on open", async () => {
    const file = join(dir, "old.duckdb");
    const old = await DuckDBInstance.create(file);
    const c = await old.connect();
    const types = { text: "VARCHAR", int: "INTEGER", bigint: "BIGINT", double: "DOUBLE" };
    const cols = COLUMNS.filter((col) => !ADDED_COLUMNS.includes(col)).map(
      (col) => `${col.name} ${types[col.type]}${col.required ? " NOT NULL" : ""}`,
    );
    await c.run(`CREATE TABLE query_log (${cols.join(", ")})`);
    c.closeSync();
    old.closeSync();
    const store = await DuckDbStore.open({ path: file });
    const rec = {
      ...dns(1),
      rule: "||ad*.example^",
      matchedName: "trk.adnet.test",
      dnssec: "bogus" as const,
      ede: 7,
    };
    await store.ingest("new", [rec]);
    const found = await store.search({ from: 0, to: Date.now() + 86_400_000, limit: 10 });
    assert.equal(found.records[0]?.rule, "||ad*.example^");
    assert.equal(found.records[0]?.matchedName, "trk.adnet.test");
    assert.equal(found.records[0]?.dnssec, "bogus");
    assert.equal(found.records[0]?.ede, 7);
    await store.close();
  });
});
