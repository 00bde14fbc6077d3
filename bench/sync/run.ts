// bench/sync: how long from a publish until the last of N edges has applied the new bundle.
// One control (a separate `gatehouse control` process, PGlite in a temp dir) and N lightweight
// sync clients in this process — the edge's real SyncClient (long-poll over real HTTP, hash
// check, atomic last-good write, acknowledgement) with a target that only records the version.
//
//   node bench/sync/run.ts [--edges 100] [--publishes 20]

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { ConfigBundle } from "@gatehouse/contract";
import { SyncClient } from "@gatehouse/edge";
import { Registry } from "prom-client";
import { startControlProcess } from "../control/control-process.ts";

const { values } = parseArgs({
  options: { edges: { type: "string" }, publishes: { type: "string" } },
});
const EDGES = Number(values.edges ?? 100);
const PUBLISHES = Number(values.publishes ?? 20);

const dir = await mkdtemp(join(tmpdir(), "gh-bench-sync-"));
const control = await startControlProcess({ dataDir: join(dir, "control") });
const { base, call } = control;

await call("POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] });
await call("POST", "/config/publish", {});

interface Sim {
  version: number;
  appliedAt: Map<number, number>;
}
const sims: Sim[] = [];
const clients: SyncClient[] = [];
for (let i = 0; i < EDGES; i++) {
  const { joinToken } = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
  const sim: Sim = { version: 0, appliedAt: new Map() };
  const target = {
    get snapshot() {
      return { version: sim.version };
    },
    async apply(b: ConfigBundle) {
      sim.version = b.version;
      sim.appliedAt.set(b.version, performance.now());
    },
  };
  const c = new SyncClient({
    controlUrl: base,
    dataDir: join(dir, `edge-${i}`),
    target,
    joinToken,
    name: `sim-${i}`,
    softwareVersion: "bench",
    registry: new Registry(),
    heartbeatIntervalMs: 10_000,
    log: () => {},
  });
  await c.start();
  sims.push(sim);
  clients.push(c);
}

// Let every client catch up with the current bundle and settle into its long-poll.
const first = await call<{ version: number }>("POST", "/config/publish", {});
while (sims.some((s) => s.version < first.version)) await new Promise((r) => setTimeout(r, 20));
await new Promise((r) => setTimeout(r, 500));

const lastEdge: number[] = [];
const perEdge: number[] = [];
for (let p = 0; p < PUBLISHES; p++) {
  await call("POST", "/policies", {
    name: `bench ${p}`,
    type: "dns",
    precedence: 1000 + p,
    expression: `dns.fqdn == "bench-${p}.example"`,
    action: "block",
  });
  const t0 = performance.now();
  const { version } = await call<{ version: number }>("POST", "/config/publish", {});
  while (sims.some((s) => s.version < version)) await new Promise((r) => setTimeout(r, 2));
  const times = sims.map((s) => s.appliedAt.get(version)! - t0);
  perEdge.push(...times);
  lastEdge.push(Math.max(...times));
  await new Promise((r) => setTimeout(r, 200));
}

function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
}
const rss = process.memoryUsage().rss / 2 ** 20;
console.log(`edges: ${EDGES}, publishes: ${PUBLISHES}`);
console.log(
  `publish → last edge applied: p50 ${q(lastEdge, 0.5).toFixed(1)} ms, p99 ${q(lastEdge, 0.99).toFixed(1)} ms, max ${Math.max(...lastEdge).toFixed(1)} ms`,
);
console.log(
  `publish → each edge applied: p50 ${q(perEdge, 0.5).toFixed(1)} ms, p99 ${q(perEdge, 0.99).toFixed(1)} ms`,
);
console.log(`client process RSS: ${rss.toFixed(0)} MiB`);

await Promise.all(clients.map((c) => c.stop()));
await control.stop();
await rm(dir, { recursive: true, force: true });
