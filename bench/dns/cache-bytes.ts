// What the DNS caches hold per entry, measured in the process, beside what they count against
// `resolver.cache.maxBytes` (dns-cache.ts ENTRY_BYTES, packet-cache.ts PACKET_ENTRY_BYTES,
// cache/bytes.ts), and the hit ratio a budget gives on a skewed workload.
//
// Part 1: a DnsService (one location, no policies, the default query log) answers --names new
// names from nsd (a wildcard zone on loopback); then the query log, the packet cache and the
// answer cache are emptied one by one, the heap measured after a full GC each time: the
// difference is what each held, per entry, next to what each counted.
// Part 2: --queries queries drawn from --pool names with Zipf-like popularity (rank r asked in
// proportion to 1/r), through the fast path first as the UDP server does, once per --budget
// (bytes; "entries" keeps the count bound alone, as before the byte bound): the share of
// queries answered from a cache (packet or answer cache), and what the caches counted.
// Run: flock /tmp/bench.lock node --expose-gc bench/dns/cache-bytes.ts [--names 20000]
//        [--pool 200000] [--queries 400000] [--budget entries --budget 33554432 …]

import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { ConfigBundle } from "@gatehouse/contract";
import { DnsService } from "../../packages/edge/src/dns/dns-service.ts";
import { compileSnapshot } from "../../packages/edge/src/snapshot.ts";
import { QueryLog } from "../../packages/edge/src/telemetry/query-log.ts";
import { buildQuery } from "../../packages/edge/test/dns-helpers.ts";
import { startWildcardUpstream } from "./wildcard-upstream.ts";

const { values } = parseArgs({
  options: {
    names: { type: "string", default: "20000" },
    pool: { type: "string", default: "200000" },
    queries: { type: "string", default: "400000" },
    budget: { type: "string", multiple: true, default: ["entries", String(32 * 1024 * 1024)] },
  },
});
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const PORT = 25990;
const dir = mkdtempSync(join(tmpdir(), "gh-bench-cache-bytes-"));
const nsd = startWildcardUpstream(dir, PORT, 1);
process.on("exit", () => nsd.kill());
await new Promise((r) => setTimeout(r, 1000));

function service(cache: ConfigBundle["resolver"]["cache"]) {
  const snap = compileSnapshot({
    schemaVersion: 1,
    version: 1,
    resolver: {
      upstreams: [{ address: `udp://127.0.0.1:${PORT}` }],
      dnssec: { validate: false },
      rateLimit: false,
      ...(cache ? { cache } : {}),
    },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
    lists: [],
    policies: [],
  });
  const log = new QueryLog();
  return { svc: new DnsService(snap, { log }), log };
}

const heap = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
const client = { transport: "udp" as const, ip: "127.0.0.1", port: 1 };

/** Ask `n` names (the fast path first, as the UDP server does); the count of upstream misses. */
async function ask(svc: DnsService, log: QueryLog, name: (i: number) => string, n: number) {
  let next = 0;
  let misses = 0;
  const tally = () => {
    for (const r of log.drain()) if (r.cache === "miss") misses++;
  };
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const q = buildQuery(name(i), { id: i & 0xffff });
      if (!svc.tryFast(q, client.ip, "udp")) await svc.handle(q, client);
      if (log.size > 30_000) tally();
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  tally();
  return misses;
}

console.error(
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
{
  const N = Number(values.names);
  const { svc, log } = service({ maxBytes: 2 ** 36 });
  const base = heap();
  await ask(svc, new QueryLog(1), (i) => `n${i}.load.test`, N);
  const full = heap();
  const packets = svc.runtime.packets;
  const cache = svc.shared.cache;
  const row = (what: string, n: number, held: number, counted: number) =>
    `| ${what} | ${n} | ${Math.round(held / n)} | ${counted ? Math.round(counted / n) : "—"} |`;
  const rows = [row("all", N, full - base, 0)];
  log.drain();
  const noLog = heap();
  rows.push(row("query log (miss records)", N, full - noLog, 0));
  const pn = packets.size;
  const pb = packets.bytes;
  packets.clear();
  const noPackets = heap();
  rows.push(row("packet cache", pn, noLog - noPackets, pb));
  const cn = cache.size;
  const cb = cache.bytes;
  cache.clear();
  const noCache = heap();
  rows.push(row("answer cache", cn, noPackets - noCache, cb));
  console.log(
    [
      `${N} new names (one A record each), heap + external after GC:`,
      "| held by | entries | measured, bytes an entry | counted, bytes an entry |",
      "|---|---:|---:|---:|",
      ...rows,
    ].join("\n"),
  );
  svc.close();
}

// Zipf-like ranks: inverse CDF of 1/r over [1, pool] by a table of cumulative weights.
const POOL = Number(values.pool);
const QUERIES = Number(values.queries);
const cum = new Float64Array(POOL);
let total = 0;
for (let r = 0; r < POOL; r++) cum[r] = total += 1 / (r + 1);
let seed = 12345;
const rand = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
const draws = new Uint32Array(QUERIES);
for (let i = 0; i < QUERIES; i++) {
  const x = rand() * total;
  let lo = 0;
  let hi = POOL - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cum[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  draws[i] = lo;
}
const out = [
  `${QUERIES} queries over ${POOL} names, rank r asked in proportion to 1/r:`,
  "| budget | cache hits (packet + answer cache) | packet entries, counted MB | answer entries, counted MB | heap + external after GC, MB |",
  "|---|---:|---:|---:|---:|",
];
for (const b of values.budget) {
  const { svc, log } = service(b === "entries" ? { maxBytes: 2 ** 36 } : { maxBytes: Number(b) });
  const base = heap();
  const misses = await ask(svc, log, (i) => `z${draws[i]}.load.test`, QUERIES);
  const held = heap() - base;
  out.push(
    `| ${b === "entries" ? "100,000 entries, no byte bound" : `${(Number(b) / 2 ** 20).toFixed(0)} MiB`} | ${(((QUERIES - misses) / QUERIES) * 100).toFixed(1)} % | ${svc.runtime.packets.size}, ${(svc.runtime.packets.bytes / 2 ** 20).toFixed(1)} | ${svc.shared.cache.size}, ${(svc.shared.cache.bytes / 2 ** 20).toFixed(1)} | ${(held / 2 ** 20).toFixed(1)} |`,
  );
  svc.close();
}
console.log(out.join("\n"));
process.exit(0);
