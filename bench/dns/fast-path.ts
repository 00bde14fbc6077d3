// The DNS fast path in-process, without sockets: an edge's DNS service with the DNS benchmark's
// five policies and a blocklist, its packet cache warmed with 10,000 names (and 100 blocked
// ones), then repeats answered through `tryFastInto` — the batch UDP socket's call. Reports CPU
// nanoseconds per answer (process CPU time, less disturbed by other work on the machine than a
// wall-clock rate) and how many garbage collections ran while answering (zero: the path
// allocates nothing; the query-log ring wraps, nobody drains it). With the telemetry
// `startEdge` wires: query log, metrics, and a request log (at debug level with `--debug`,
// writing to nowhere).
//
// `--compare DIR` loads a second checkout's DNS service (e.g. a `git archive` of the commit
// before a change, with this checkout's node_modules linked in) into the same process and
// alternates short slices of both, so a loaded machine slows both alike; medians per checkout.
// Run: node bench/dns/fast-path.ts [--seconds 6] [--blocklist 100000] [--debug] [--compare DIR]

import { PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { bundleOfEdgeConfig } from "@gatehouse/contract";
import type { DnsService } from "../../packages/edge/src/dns/dns-service.ts";
import { buildQuery, startFakeUpstream } from "../../packages/edge/test/dns-helpers.ts";
import { benchZone, fastPathConfig } from "./fast-path-config.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : (args[i + 1] ?? def);
};
const SECONDS = Number(opt("seconds", "6"));
const COMPARE = opt("compare", "");
const BLOCKLIST = Number(opt("blocklist", "100000"));
const NAMES = 10_000;

const up = await startFakeUpstream(benchZone(NAMES));
const config = fastPathConfig(up.address, BLOCKLIST);
const queries: Buffer[] = [];
for (let i = 0; i < NAMES; i++) queries.push(buildQuery(`host${i}.bench.test`, { id: i & 0xffff }));
for (let i = 0; i < 100; i++) queries.push(buildQuery(`ad${i}.tracker${i % 997}.example`));
const client = { transport: "udp", ip: "127.0.0.1", port: 5353 } as const;
const out = Buffer.alloc(4096);

/** The DNS service of the checkout at `root`, warmed: every query is on its fast path. */
async function serviceOf(root: string): Promise<DnsService> {
  const src = `${root}/packages/edge/src`;
  const { DnsService } = await import(`${src}/dns/dns-service.ts`);
  const { compileSnapshot } = await import(`${src}/snapshot.ts`);
  const { createOpLogger } = await import(`${src}/telemetry/op-log.ts`);
  const { QueryLog } = await import(`${src}/telemetry/query-log.ts`);
  const { RequestLog } = await import(`${src}/telemetry/request-log.ts`);
  const level = args.includes("--debug") ? "debug" : "info";
  const requestLog = new RequestLog(createOpLogger({ write: () => {}, level, component: "dns" }));
  const svc: DnsService = new DnsService(compileSnapshot(bundleOfEdgeConfig(config)), {
    log: new QueryLog(),
    requestLog,
  });
  // Checkouts from before the query events took the request log this way.
  const shared = svc.shared as { log?: unknown; requestLog?: unknown };
  if ("log" in shared) shared.requestLog = requestLog;
  for (const q of queries) await svc.handle(q, client);
  for (const q of queries)
    if (svc.tryFastInto(q, "127.0.0.1", out, 4096) === 0) throw new Error(`${root}: not cached`);
  return svc;
}

/** CPU nanoseconds per fast-path answer over about `ms` milliseconds. */
function slice(svc: DnsService, ms: number): number {
  const deadline = performance.now() + ms;
  const cpu0 = process.cpuUsage();
  let n = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < queries.length; i++) {
      if (svc.tryFastInto(queries[i]!, "127.0.0.1", out, 4096) === 0)
        throw new Error("fast path missed");
    }
    n += queries.length;
  }
  const cpu = process.cpuUsage(cpu0);
  return ((cpu.user + cpu.system) * 1000) / n;
}

const here = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const roots = COMPARE ? [COMPARE, here] : [here];
const services = [];
for (const root of roots) services.push(await serviceOf(root));
for (const svc of services) slice(svc, 300); // optimize both before measuring
let gcs = 0;
const obs = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
obs.observe({ entryTypes: ["gc"] });
const rounds = Math.max(1, Math.round((SECONDS * 1000) / (250 * services.length)));
const samples: number[][] = services.map(() => []);
for (let r = 0; r < rounds; r++)
  for (let k = 0; k < services.length; k++) samples[k]!.push(slice(services[k]!, 250));
await new Promise((r) => setImmediate(r));
obs.disconnect();
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
for (let k = 0; k < services.length; k++) {
  const ns = median(samples[k]!);
  console.log(
    `${roots[k]}: ${ns.toFixed(0)} ns CPU per answer (median of ${rounds} slices; ${Math.round(1e9 / ns).toLocaleString("en")} answers per CPU second)`,
  );
}
console.log(`${gcs} garbage collections while answering`);
await up.close();
process.exit(0);
