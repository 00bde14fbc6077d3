// The cached path over the batch UDP socket, in one process: an edge's DNS service (the fast-path
// bench's five policies and a blocklist, query log and request log wired as `startEdge` wires
// them) behind `listenUdpBatch`, its packet cache warm, and dnsperf asking the same 10,000 names
// again. Reports the process's user and kernel CPU per answer (process.cpuUsage over each
// dnsperf slice) and the share answered in C (native/udp_batch.c's copies of packet-cache
// entries). `--compare DIR` serves a second checkout's DNS service and batch socket from the
// same process (e.g. /work/before, the session-start tree) and alternates slices between the
// two, so a loaded machine slows both alike; medians per checkout.
// Run: taskset -c 0 node bench/dns/cached-udp.ts [--seconds 3] [--rounds 4] [--blocklist 100000]
//        [--load-cpu 1]   dnsperf pinned there (taskset)
//        [--compare DIR]

import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleOfEdgeConfig } from "@gatehouse/contract";
import { startFakeUpstream } from "../../packages/edge/test/dns-helpers.ts";
import { benchZone, fastPathConfig } from "./fast-path-config.ts";
import { dnsperfTotals, pinned } from "./servers.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : (args[i + 1] ?? def);
};
const SECONDS = opt("seconds", "3");
const ROUNDS = Number(opt("rounds", "4"));
const COMPARE = opt("compare", "");
const BLOCKLIST = Number(opt("blocklist", "100000"));
const LOAD_CPU = opt("load-cpu", "") || undefined;
const NAMES = 10_000;

const dir = mkdtempSync(join(tmpdir(), "gh-bench-cached-udp-"));
const lines: string[] = [];
for (let i = 0; i < NAMES; i++) lines.push(`host${i}.bench.test A`);
const queries = join(dir, "queries.txt");
writeFileSync(queries, `${lines.join("\n")}\n`);
const up = await startFakeUpstream(benchZone(NAMES));
const config = fastPathConfig(up.address, BLOCKLIST);

interface Served {
  root: string;
  port: number;
  inC: () => number;
}

/** The DNS service of the checkout at `root` behind its own batch UDP socket. */
async function serve(root: string): Promise<Served> {
  const src = `${root}/packages/edge/src`;
  const { DnsService } = await import(`${src}/dns/dns-service.ts`);
  const { compileSnapshot } = await import(`${src}/snapshot.ts`);
  const { createOpLogger } = await import(`${src}/telemetry/op-log.ts`);
  const { QueryLog } = await import(`${src}/telemetry/query-log.ts`);
  const { RequestLog } = await import(`${src}/telemetry/request-log.ts`);
  const { batchAddon, listenUdpBatch } = await import(`${src}/dns/server/udp-batch.ts`);
  const requestLog = new RequestLog(createOpLogger({ write: () => {}, level: "info" }));
  const svc = new DnsService(compileSnapshot(bundleOfEdgeConfig(config)), {
    log: new QueryLog(),
    requestLog,
  });
  const lib = batchAddon();
  if (!lib) throw new Error(`${root}: the udp_batch addon is not built`);
  const u = listenUdpBatch(lib, svc, "127.0.0.1", 0, false);
  const stats = () => u.stats() as { answeredInC?: number };
  return { root, port: u.port, inC: () => stats().answeredInC ?? 0 };
}

function dnsperf(port: number, seconds: string): Promise<string> {
  const [file, argv] = pinned(LOAD_CPU, "dnsperf", [
    "-s",
    "127.0.0.1",
    "-p",
    String(port),
    "-d",
    queries,
    "-l",
    seconds,
    "-q",
    "200",
    "-c",
    "4",
  ]);
  return new Promise((resolve, reject) =>
    execFile(file, argv, { maxBuffer: 64 << 20 }, (e, out) => (e ? reject(e) : resolve(out))),
  );
}

/** One slice against `s`: answers, and user/kernel µs of this process per answer. */
async function slice(s: Served) {
  const inC0 = s.inC();
  const c0 = process.cpuUsage();
  const t = dnsperfTotals(await dnsperf(s.port, SECONDS));
  const c = process.cpuUsage(c0);
  return {
    qps: t.qps,
    user: c.user / t.completed,
    system: c.system / t.completed,
    inC: (s.inC() - inC0) / t.completed,
  };
}

const here = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const served: Served[] = [];
for (const root of COMPARE ? [COMPARE, here] : [here]) served.push(await serve(root));
// Warm: the pipeline fills the caches, then the fast path (and its copies in C) takes over.
for (const s of served) {
  await dnsperf(s.port, "3");
  await dnsperf(s.port, "2");
}
const samples = served.map(() => [] as Awaited<ReturnType<typeof slice>>[]);
for (let r = 0; r < ROUNDS; r++)
  for (let k = 0; k < served.length; k++) samples[k]?.push(await slice(served[k] as Served));
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1] ?? Number.NaN;
const load = (await import("node:os")).loadavg().map((l) => l.toFixed(2));
console.log(`# ${ROUNDS} alternating slices of dnsperf -l ${SECONDS} -q 200 -c 4; load ${load}`);
console.log(
  "| checkout | qps | user µs per answer | kernel µs per answer | CPU µs per answer | answered in C |",
);
console.log("|---|---:|---:|---:|---:|---:|");
for (let k = 0; k < served.length; k++) {
  const xs = samples[k] ?? [];
  const user = median(xs.map((x) => x.user));
  const system = median(xs.map((x) => x.system));
  const total = median(xs.map((x) => x.user + x.system));
  console.log(
    `| ${served[k]?.root} | ${Math.round(median(xs.map((x) => x.qps)))} | ${user.toFixed(2)} | ${system.toFixed(2)} | ${total.toFixed(2)} | ${(100 * median(xs.map((x) => x.inC))).toFixed(1)} % |`,
  );
}
await up.close();
process.exit(0);
