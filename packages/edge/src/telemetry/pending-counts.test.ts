import assert from "node:assert/strict";
import { test } from "node:test";
import { PendingHistograms } from "./pending-counts.ts";
import { Histogram, Registry } from "./prom-client.ts";

const BUCKETS = [0.0001, 0.00025, 0.001, 0.5, 1];

function pair() {
  const r = new Registry();
  const pending = new PendingHistograms();
  const viaPending = new Histogram({
    name: "pending_seconds",
    help: "h",
    labelNames: ["transport"] as const,
    buckets: BUCKETS,
    registers: [r],
    collect: pending.flush,
  });
  const direct = new Histogram({
    name: "direct_seconds",
    help: "h",
    labelNames: ["transport"] as const,
    buckets: BUCKETS,
    registers: [r],
  });
  return { pending, viaPending, direct };
}

/** A histogram's exported values, without the metric name (to compare two histograms). */
async function values(h: { get(): Promise<{ values: object[] }> }) {
  return (await h.get()).values.map((v) => {
    const { metricName: _, ...rest } = v as { metricName: string };
    return rest;
  });
}

test("a pending histogram exports what prom-client's own observe would (buckets, sum, count)", async () => {
  const { pending, viaPending, direct } = pair();
  const udp = pending.add(viaPending, { transport: "udp" });
  const tcp = pending.add(viaPending, { transport: "tcp" });
  // On a bound, between bounds, below the first, above the last, zero.
  const seen = [0.0001, 0.0002, 0.00005, 0.75, 1, 3, 0, 0.001];
  for (const v of seen) {
    udp.observe(v);
    direct.observe({ transport: "udp" }, v);
  }
  tcp.observe(0.0003);
  direct.observe({ transport: "tcp" }, 0.0003);
  assert.deepEqual(await values(viaPending), await values(direct));
  // Collected again: nothing added twice; later observations add to what was flushed.
  assert.deepEqual(await values(viaPending), await values(direct));
  udp.observe(0.2);
  direct.observe({ transport: "udp" }, 0.2);
  assert.deepEqual(await values(viaPending), await values(direct));
});

test("a pending histogram adds to a label set prom-client's observe made, and survives a reset", async () => {
  const { pending, viaPending } = pair();
  viaPending.observe({ transport: "udp" }, 0.0001);
  const udp = pending.add(viaPending, { transport: "udp" });
  udp.observe(0.5);
  const count = async () =>
    (await viaPending.get()).values.find((v) => v.metricName === "pending_seconds_count")?.value;
  assert.equal(await count(), 2);
  viaPending.reset();
  udp.observe(0.5);
  assert.equal(await count(), 1);
});
