// bench/control/soak.ts: control's memory under a steady fleet load, over time. One `gatehouse
// control` (a separate process, PGlite and DuckDB in a temp data directory, exactly as `gatehouse
// control --data-dir` runs) and, in this process, one edge's real sync machinery: SyncClient
// (enrolment, long-poll, heartbeats every 10 s, acknowledgements) and LogShipper (gzip NDJSON
// batches every second from a query-log ring) fed at --rate records per second; a publish every
// --publish-every seconds (a policy added, the bundle — with a 10,000-name list — published);
// the dashboard's overview queries (timeseries + top domains) every 30 s.
//
// Every --sample seconds it records control's RSS (/proc) and, through bench/control/
// memory-probe.ts loaded with --import, process.memoryUsage() (V8 heap, external, ArrayBuffers
// — PGlite's WASM memory is one — and, by difference, native memory such as DuckDB's).
//
//   node bench/control/soak.ts [--minutes 30] [--rate 5000] [--publish-every 30] [--sample 10]
//                              [--csv FILE]

import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { ConfigBundle } from "@gatehouse/contract";
import { LogShipper, QueryLog, SyncClient } from "@gatehouse/edge";
import { Registry } from "prom-client";
import { makeRecords } from "../analytics/records.ts";
import { startControlProcess } from "./control-process.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string" },
    rate: { type: "string" },
    "publish-every": { type: "string" },
    sample: { type: "string" },
    csv: { type: "string" },
  },
});
const MINUTES = Number(values.minutes ?? 30);
const RATE = Number(values.rate ?? 5000);
const PUBLISH_EVERY_S = Number(values["publish-every"] ?? 30);
const SAMPLE_S = Number(values.sample ?? 10);
const MiB = (n: number) => n / 2 ** 20;

const dir = await mkdtemp(join(tmpdir(), "gh-control-soak-"));
const dataDir = join(dir, "control");
const probeFile = join(dir, "memory.ndjson");
writeFileSync(probeFile, "");
const control = await startControlProcess({
  dataDir,
  nodeArgs: ["--import", resolve(import.meta.dirname, "memory-probe.ts")],
  env: { ...process.env, GH_MEMORY_PROBE: probeFile },
});
const { base, call } = control;
const pid = control.child.pid!;

await call("POST", "/locations", { name: "hq", networks: ["10.0.0.0/8"] });
const names = Array.from({ length: 10_000 }, (_, i) => `ads${i}.example${i % 97}.com`);
await call("POST", "/lists", { name: "ads", type: "domain", items: names });
await call("POST", "/policies", {
  name: "ads",
  type: "dns",
  expression: "any(dns.domains[*] in $ads)",
  action: "block",
});
await call("POST", "/config/publish", {});

const { joinToken } = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
let applied = 0;
const registry = new Registry();
const sync = new SyncClient({
  controlUrl: base,
  dataDir: join(dir, "edge"),
  target: {
    get snapshot() {
      return { version: applied };
    },
    async apply(b: ConfigBundle) {
      applied = b.version;
    },
  },
  joinToken,
  name: "soak-edge",
  softwareVersion: "bench",
  registry,
  heartbeatIntervalMs: 10_000,
  log: () => {},
});
await sync.start();
const ring = new QueryLog(65_536);
const shipper = new LogShipper({
  controlUrl: base,
  credential: () => sync.credential,
  queryLog: ring,
  spoolDir: join(dir, "edge", "log-spool"),
  registry,
  log: () => {},
});
await shipper.start();

// Feed the ring at RATE records/s in 100 ms slices, stamped with the current time.
let fed = 0;
const feeder = setInterval(() => {
  const n = Math.round(RATE / 10);
  for (const r of makeRecords(n, fed, { start: Date.now(), step: 0 })) ring.push(r);
  fed += n;
}, 100);

let publishes = 0;
const publisher = setInterval(() => {
  const p = publishes++;
  void call("POST", "/policies", {
    name: `soak ${p}`,
    type: "dns",
    expression: `dns.fqdn == "soak-${p}.example"`,
    action: "block",
  })
    .then(() => call("POST", "/config/publish", {}))
    .catch((e: unknown) => console.error(`publish ${p}: ${(e as Error).message}`));
}, PUBLISH_EVERY_S * 1000);

const dashboard = setInterval(() => {
  const from = new Date(Date.now() - 3_600_000).toISOString();
  void Promise.all([
    call("GET", `/analytics/timeseries?from=${from}&bucket=minute`),
    call("GET", `/analytics/top?from=${from}&dimension=domain&limit=10`),
  ]).catch((e: unknown) => console.error(`dashboard: ${(e as Error).message}`));
}, 30_000);

interface Sample {
  s: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  native: number;
  duckdb: number;
  shipped: number;
}
const samples: Sample[] = [];
const t0 = Date.now();
let probeLines = 0;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}
function fileSize(p: string): number {
  return existsSync(p) ? statSync(p).size : 0;
}
async function shippedRecords(): Promise<number> {
  const m = /gatehouse_edge_log_records_shipped_total (\d+)/.exec(await registry.metrics());
  return m ? Number(m[1]) : 0;
}

console.log(
  `soak: ${MINUTES} min, ${RATE} records/s, a publish every ${PUBLISH_EVERY_S} s; control pid ${pid}, data ${dataDir}`,
);
console.log("min  rss_MiB heap_used heap_total external array_buffers native duckdb_file shipped");
async function sample(): Promise<void> {
  control.child.kill("SIGUSR2");
  const before = probeLines;
  for (let i = 0; i < 100; i++) {
    const lines = readFileSync(probeFile, "utf8").trim().split("\n").filter(Boolean);
    if (lines.length > before) {
      probeLines = lines.length;
      const m = JSON.parse(lines.at(-1)!) as NodeJS.MemoryUsage;
      const rss = rssOf(pid);
      const duckdb =
        fileSize(join(dataDir, "analytics.duckdb")) +
        fileSize(join(dataDir, "analytics.duckdb.wal"));
      const s: Sample = {
        s: (Date.now() - t0) / 1000,
        rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        native: rss - m.heapTotal - m.external,
        duckdb,
        shipped: await shippedRecords(),
      };
      samples.push(s);
      console.log(
        [
          (s.s / 60).toFixed(1).padStart(4),
          MiB(s.rss).toFixed(0).padStart(7),
          MiB(s.heapUsed).toFixed(0).padStart(9),
          MiB(s.heapTotal).toFixed(0).padStart(10),
          MiB(s.external).toFixed(0).padStart(8),
          MiB(s.arrayBuffers).toFixed(0).padStart(13),
          MiB(s.native).toFixed(0).padStart(6),
          MiB(s.duckdb).toFixed(0).padStart(11),
          String(s.shipped).padStart(8),
        ].join(" "),
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  console.error("memory probe did not answer");
}

await sample();
await new Promise<void>((done) => {
  const timer = setInterval(() => {
    void sample().then(() => {
      if (Date.now() - t0 >= MINUTES * 60_000) {
        clearInterval(timer);
        done();
      }
    });
  }, SAMPLE_S * 1000);
});

clearInterval(feeder);
clearInterval(publisher);
clearInterval(dashboard);
await shipper.stop();
await sync.stop();

// Per 5-minute window: RSS min / max / last, so a level-off (or a climb) is visible at a glance.
console.log("\nwindow      rss min / max / last (MiB)   native last   array_buffers last");
for (let w = 0; w * 5 < MINUTES; w++) {
  const inW = samples.filter((s) => s.s >= w * 300 && s.s < (w + 1) * 300);
  if (inW.length === 0) continue;
  const r = inW.map((s) => MiB(s.rss));
  const last = inW.at(-1)!;
  console.log(
    `${String(w * 5).padStart(2)}–${String((w + 1) * 5).padEnd(2)} min   ${Math.min(...r).toFixed(0)} / ${Math.max(...r).toFixed(0)} / ${MiB(last.rss).toFixed(0)}` +
      `                 ${MiB(last.native).toFixed(0)}           ${MiB(last.arrayBuffers).toFixed(0)}`,
  );
}
const shipped = samples.at(-1)?.shipped ?? 0;
console.log(
  `\nrecords fed ${fed}, shipped ${shipped}; publishes ${publishes}; edge at version ${applied}`,
);
if (values.csv) {
  writeFileSync(
    values.csv,
    `s,rss,heap_used,heap_total,external,array_buffers,native,duckdb_file,shipped\n${samples
      .map((s) =>
        [
          s.s.toFixed(0),
          s.rss,
          s.heapUsed,
          s.heapTotal,
          s.external,
          s.arrayBuffers,
          s.native,
          s.duckdb,
          s.shipped,
        ].join(","),
      )
      .join("\n")}\n`,
  );
}
await control.stop();
await rm(dir, { recursive: true, force: true });
