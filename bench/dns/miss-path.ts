// The DNS cache-miss path in-process: every query a name nobody asked before, through an edge's
// DNS service (`handle`, as the UDP socket calls it) to nsd on loopback serving a wildcard zone.
// Reports the CPU time of this process per miss (the pipeline, the upstream exchange's
// sockets, garbage collection; nsd's own CPU is its process's), medians of short slices, with
// the 100,000-entry cache full and evicting. Closer to a load-independent figure than
// bench/dns/miss.ts on a shared machine (no dnsperf competing for the cores; slices of the
// checkouts alternate, so a busy machine slows each alike).
// `--compare DIR` also loads the DNS service of another checkout (a `git archive` of the commit
// before a change, node_modules linked in) and alternates slices of the two.
// `--count N` instead answers N new names with a 2,000-entry cache (full and evicting after the
// first 2,000) and exits: run it under `valgrind --tool=callgrind` for two values of N, and the
// difference in instructions over the difference in N is the user-space instructions per miss,
// a figure the machine's load does not change.
// Run: node bench/dns/miss-path.ts [--seconds 8] [--inflight 64] [--compare DIR] [--count N]

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleOfEdgeConfig, type EdgeConfigFile } from "@gatehouse/contract";
import type { DnsService } from "../../packages/edge/src/dns/dns-service.ts";
import { buildQuery } from "../../packages/edge/test/dns-helpers.ts";
import { startWildcardUpstream } from "./wildcard-upstream.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : (args[i + 1] ?? def);
};
const SECONDS = Number(opt("seconds", "8"));
const INFLIGHT = Number(opt("inflight", "64"));
const COMPARE = opt("compare", "");
const NSD = 25320;
const COUNT = Number(opt("count", "0"));
const CACHE = COUNT > 0 ? 2_000 : 100_000;

const dir = mkdtempSync(join(tmpdir(), "gh-bench-miss-path-"));
const nsd = startWildcardUpstream(dir, NSD, 1);
await new Promise((r) => setTimeout(r, 1000));

const config: EdgeConfigFile = {
  resolver: {
    upstreams: [{ address: `udp://127.0.0.1:${NSD}` }],
    rateLimit: false,
    cache: { maxEntries: CACHE },
    ...({ dnssec: { validate: false } } as object),
  },
  locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
  lists: [],
  policies: [],
};
const client = { transport: "udp", ip: "127.0.0.1", port: 5353 } as const;

async function serviceOf(root: string): Promise<DnsService> {
  const src = `${root}/packages/edge/src`;
  const { DnsService } = await import(`${src}/dns/dns-service.ts`);
  const { compileSnapshot } = await import(`${src}/snapshot.ts`);
  const { QueryLog } = await import(`${src}/telemetry/query-log.ts`);
  return new DnsService(compileSnapshot(bundleOfEdgeConfig(config)), { log: new QueryLog() });
}

let serial = 0;
/** Ask `n` new names, INFLIGHT at a time; throws unless each is answered NOERROR. */
async function misses(svc: DnsService, tag: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const q = buildQuery(`${tag}${(serial++).toString(36)}.load.test`, { id: serial & 0xffff });
      const out = await svc.handle(q, client);
      if (!out || (out[3]! & 0xf) !== 0) throw new Error(`${tag}: no answer`);
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
}

/** CPU nanoseconds per miss over about `ms` milliseconds. */
async function slice(svc: DnsService, tag: string, ms: number): Promise<number> {
  const deadline = performance.now() + ms;
  const cpu0 = process.cpuUsage();
  let n = 0;
  while (performance.now() < deadline) {
    await misses(svc, tag, 1000);
    n += 1000;
  }
  const cpu = process.cpuUsage(cpu0);
  return ((cpu.user + cpu.system) * 1000) / n;
}

if (COUNT > 0) {
  const svc = await serviceOf(fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, ""));
  await misses(svc, "c", COUNT);
  svc.close();
  nsd.kill("SIGTERM");
  process.exit(0);
}

const here = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const roots = COMPARE ? [COMPARE, here] : [here];
const services: DnsService[] = [];
for (const root of roots) services.push(await serviceOf(root));
// Fill each cache past its bound, so every slice runs with it full and evicting.
for (const [k, svc] of services.entries()) await misses(svc, `w${k}x`, CACHE + 10_000);
const rounds = Math.max(1, Math.round((SECONDS * 1000) / (500 * services.length)));
const samples: number[][] = services.map(() => []);
for (let r = 0; r < rounds; r++)
  for (const [k, svc] of services.entries()) samples[k]!.push(await slice(svc, `s${k}x`, 500));
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
for (const [k, root] of roots.entries()) {
  const ns = median(samples[k]!);
  console.log(
    `${root}: ${(ns / 1000).toFixed(1)} µs CPU per miss (median of ${rounds} slices; ${Math.round(1e9 / ns).toLocaleString("en")} misses per CPU second)`,
  );
}
for (const svc of services) svc.close();
nsd.kill("SIGTERM");
process.exit(0);
