// What one cache miss costs the DNS service's process in garbage: heap bytes allocated, bytes
// promoted to the old generation (what outlived the young one: copied by scavenges, later freed
// by a full collection), scavenge pauses, and CPU per miss, each tree in a fresh process of its
// own (`bench/dns/miss-path.ts` runs both trees in one process, where their diagnostics-channel
// subscribers see each other's queries, so the metrics' cost per query is the same for both).
// Every query a new name through `DnsService.handle` (as the UDP socket calls it), 64 in flight,
// to nsd on loopback serving a wildcard zone, with the 100,000-entry cache first filled past its
// bound (full and evicting). Allocation is counted by V8's GC profiler, as bench/proxy/alloc.ts
// does: the heap used before each collection less the heap used after the previous one.
// `--compare DIR` alternates fresh processes of this tree and DIR's (`--rounds` pairs).
// Run: node bench/dns/miss-alloc.ts [--misses 30000] [--rounds 3] [--compare DIR] [--port 25330]

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GCProfiler } from "node:v8";
import { bundleOfEdgeConfig, type EdgeConfigFile } from "@gatehouse/contract";
import type { DnsService } from "../../packages/edge/src/dns/dns-service.ts";
import { buildQuery } from "../../packages/edge/test/dns-helpers.ts";
import { startWildcardUpstream } from "./wildcard-upstream.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : (args[i + 1] ?? def);
};
const MISSES = Number(opt("misses", "30000"));
const ROUNDS = Number(opt("rounds", "3"));
const COMPARE = opt("compare", "");
const PORT = Number(opt("port", "25330"));
const CHILD = opt("child", "");
const CACHE = 100_000;
const INFLIGHT = 64;
const here = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

interface Result {
  cpuUs: number;
  allocated: number;
  promoted: number;
  scavenges: number;
  scavengeMs: number;
}

async function child(root: string): Promise<void> {
  const config: EdgeConfigFile = {
    resolver: {
      upstreams: [{ address: `udp://127.0.0.1:${PORT}` }],
      rateLimit: false,
      cache: { maxEntries: CACHE },
      ...({ dnssec: { validate: false } } as object),
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
    lists: [],
    policies: [],
  };
  const src = `${root}/packages/edge/src`;
  const { DnsService } = await import(`${src}/dns/dns-service.ts`);
  const { compileSnapshot } = await import(`${src}/snapshot.ts`);
  const { QueryLog } = await import(`${src}/telemetry/query-log.ts`);
  const svc: DnsService = new DnsService(compileSnapshot(bundleOfEdgeConfig(config)), {
    log: new QueryLog(),
  });
  const client = { transport: "udp", ip: "127.0.0.1", port: 5353 } as const;
  let serial = 0;
  const misses = async (tag: string, n: number) => {
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
  };
  await misses("w", CACHE + 10_000);
  const profiler = new GCProfiler();
  profiler.start();
  const cpu0 = process.cpuUsage();
  await misses("m", MISSES);
  const cpu = process.cpuUsage(cpu0);
  const stats = profiler.stop()?.statistics ?? [];
  const oldUsed = (h: { spaceName: string; spaceUsedSize: number }[]) =>
    h.reduce((n, x) => (x.spaceName === "old_space" ? n + x.spaceUsedSize : n), 0);
  let allocated = 0;
  let promoted = 0;
  let scavenges = 0;
  let scavengeUs = 0;
  let prevAfter: number | undefined;
  for (const s of stats) {
    if (s.gcType === "Scavenge") {
      promoted += oldUsed(s.afterGC.heapSpaceStatistics) - oldUsed(s.beforeGC.heapSpaceStatistics);
      scavenges++;
      scavengeUs += s.cost;
    }
    if (prevAfter !== undefined) allocated += s.beforeGC.heapStatistics.usedHeapSize - prevAfter;
    prevAfter = s.afterGC.heapStatistics.usedHeapSize;
  }
  const r: Result = {
    cpuUs: (cpu.user + cpu.system) / MISSES,
    allocated: allocated / MISSES,
    promoted: promoted / MISSES,
    scavenges,
    scavengeMs: scavenges > 0 ? scavengeUs / scavenges / 1000 : 0,
  };
  console.log(JSON.stringify(r));
  svc.close();
}

if (CHILD) {
  await child(CHILD);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "gh-bench-miss-alloc-"));
const nsd = startWildcardUpstream(dir, PORT, 1);
await new Promise((r) => setTimeout(r, 1000));
try {
  const trees: [string, string][] = [["after", here]];
  if (COMPARE) trees.push(["before", resolve(COMPARE)]);
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(
    `# ${process.version}, load ${load()}; ${MISSES} misses per process after ${CACHE + 10_000} to fill the cache, ${INFLIGHT} in flight`,
  );
  console.log(
    "| tree | round | CPU µs/miss | allocated B/miss | promoted B/miss | scavenges | avg pause ms |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (let r = 1; r <= ROUNDS; r++)
    for (const [name, root] of trees) {
      const out = execFileSync(
        process.execPath,
        [
          fileURLToPath(import.meta.url),
          "--child",
          root,
          "--misses",
          String(MISSES),
          "--port",
          String(PORT),
        ],
        { encoding: "utf8" },
      );
      const x = JSON.parse(out.trim().split("\n").at(-1)!) as Result;
      console.log(
        `| ${name} | ${r} | ${x.cpuUs.toFixed(1)} | ${Math.round(x.allocated)} | ${Math.round(x.promoted)} | ${x.scavenges} | ${x.scavengeMs.toFixed(1)} |`,
      );
    }
  console.log(`# load after ${load()}`);
} finally {
  nsd.kill("SIGTERM");
}
