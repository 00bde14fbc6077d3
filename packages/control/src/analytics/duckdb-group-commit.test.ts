// Group commit in the DuckDB store: batches that queue behind a busy writer share one
// transaction, yet each keeps its own batch id (a repeat is dropped), its own result, and its
// own failure (a group that fails is written again one batch at a time).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dns as rec } from "../../test/analytics-conformance.ts";
import { DuckDbStore } from "./duckdb-store.ts";

const batch = (b: number, n = 50) => Array.from({ length: n }, (_, i) => rec(b * 1000 + i));

describe("duckdb store: group commit", () => {
  it("batches queued behind busy lanes share transactions, each acknowledged once stored", async () => {
    const store = await DuckDbStore.open({ path: ":memory:" });
    try {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, b) => store.ingest(`g${b}`, batch(b))),
      );
      for (const r of results) assert.deepEqual(r, { accepted: 50, duplicate: false });
      assert.equal(await store.count(), 600);
      // Two lanes take the first two batches alone; the other ten queue and are grouped.
      assert.ok(store.writes.groups < 12, `12 batches in ${store.writes.groups} transactions`);
      assert.equal(store.writes.split, 0);
    } finally {
      await store.close();
    }
  });

  it("a repeated batch id inside a group is dropped, the group's new batches are stored", async () => {
    const store = await DuckDbStore.open({ path: ":memory:" });
    try {
      await store.ingest("old", batch(0));
      const [, , a, again, b, twice] = await Promise.all([
        store.ingest("x0", batch(1)),
        store.ingest("x1", batch(2)),
        store.ingest("x2", batch(3)),
        store.ingest("old", batch(0)),
        store.ingest("x3", batch(4)),
        store.ingest("x3", batch(4)),
      ]);
      assert.deepEqual(a, { accepted: 50, duplicate: false });
      assert.deepEqual(again, { accepted: 0, duplicate: true });
      assert.deepEqual(b, { accepted: 50, duplicate: false });
      assert.deepEqual(twice, { accepted: 0, duplicate: true });
      assert.equal(await store.count(), 250);
    } finally {
      await store.close();
    }
  });

  it("a bad batch fails alone: its group is split and the others are stored", async () => {
    const store = await DuckDbStore.open({ path: ":memory:" });
    try {
      // A fractional ts passes a loose shape check but not the BIGINT column.
      const bad = [...batch(5, 10), rec(5999, { ts: 1.5 })];
      const settled = await Promise.allSettled([
        store.ingest("y0", batch(0)),
        store.ingest("y1", batch(1)),
        store.ingest("y2", batch(2)),
        store.ingest("bad", bad),
        store.ingest("y3", batch(3)),
        store.ingest("y4", batch(4)),
      ]);
      const failed = settled.filter((s) => s.status === "rejected");
      assert.equal(failed.length, 1);
      assert.equal(settled[3].status, "rejected");
      assert.match(String((settled[3] as PromiseRejectedResult).reason), /not an integer/);
      assert.ok(store.writes.split >= 1, "the failed group was written again batch by batch");
      assert.equal(await store.count(), 250);
      // The bad batch's id was not recorded: a corrected retry is stored.
      assert.deepEqual(await store.ingest("bad", batch(5, 10)), {
        accepted: 10,
        duplicate: false,
      });
      // The good ones were: a retry is a duplicate.
      assert.deepEqual(await store.ingest("y2", batch(2)), { accepted: 0, duplicate: true });
      assert.equal(await store.count(), 260);
    } finally {
      await store.close();
    }
  });

  it("close waits for queued batches and writes them", async () => {
    const store = await DuckDbStore.open({ path: ":memory:" });
    const pending = Array.from({ length: 6 }, (_, b) => store.ingest(`z${b}`, batch(b)));
    const closing = store.close();
    const results = await Promise.all(pending);
    await closing;
    for (const r of results) assert.equal(r.accepted, 50);
  });
});
