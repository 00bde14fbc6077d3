// scheduleRetention: runs at once, then on its interval, never two runs at a time; errors go
// to onError; stop() waits for a run in progress.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { scheduleRetention } from "../src/analytics/retention.ts";
import type { AnalyticsStore, RetentionPolicy } from "../src/analytics/types.ts";

function fakeStore(impl: (p: RetentionPolicy) => Promise<void>): {
  store: AnalyticsStore;
  calls: RetentionPolicy[];
} {
  const calls: RetentionPolicy[] = [];
  const store = {
    applyRetention: async (p: RetentionPolicy) => {
      calls.push(p);
      await impl(p);
      return { removedRows: 1, droppedPartitions: [] };
    },
  } as unknown as AnalyticsStore;
  return { store, calls };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("scheduleRetention", () => {
  it("runs immediately with the policy and reports results", async () => {
    const { store, calls } = fakeStore(async () => {});
    const results: number[] = [];
    const stop = scheduleRetention(store, {
      policy: { maxAgeMs: 1000, maxRows: 5 },
      intervalMs: 60_000,
      onResult: (r) => results.push(r.removedRows),
    });
    await tick(5);
    await stop();
    assert.deepEqual(calls, [{ maxAgeMs: 1000, maxRows: 5 }]);
    assert.deepEqual(results, [1]);
  });

  it("never overlaps runs and stop() waits for the one in progress", async () => {
    let release!: () => void;
    let active = 0;
    let maxActive = 0;
    const { store, calls } = fakeStore(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => {
        release = r;
      });
      active--;
    });
    const stop = scheduleRetention(store, { intervalMs: 2 });
    await tick(20); // several ticks pass while the first run is blocked
    assert.equal(calls.length, 1);
    const stopped = stop();
    let done = false;
    void stopped.then(() => {
      done = true;
    });
    await tick(5);
    assert.equal(done, false);
    release();
    await stopped;
    assert.equal(maxActive, 1);
  });

  it("reports errors without throwing", async () => {
    const { store } = fakeStore(async () => {
      throw new Error("disk full");
    });
    const errors: string[] = [];
    const stop = scheduleRetention(store, {
      intervalMs: 60_000,
      onError: (e) => errors.push((e as Error).message),
    });
    await tick(5);
    await stop();
    assert.deepEqual(errors, ["disk full"]);
  });
});
