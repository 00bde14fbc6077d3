// DNS benchmark: dnsperf against Gatehouse, dnsmasq and unbound, each forwarding to the same
// local authoritative server (nsd serving a generated 10,000-name zone), cache warm. Gatehouse
// runs with a 1,000,000-domain blocklist and five policies. Reports cached-answer queries/s,
// p50/p99 latency at a fixed 10,000 qps, and RSS, with ratios against dnsmasq.
// Run: node bench/dns/run.ts [--seconds 10] [--only gatehouse] [--workers 1,2] [--dgram]
//        [--worker-mode threads,processes]   each worker count above 1 once per mode

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  children,
  dnsperf as dnsperfAt,
  dnsperfTotals,
  need,
  percentiles,
  rssMB,
  start,
  startGatehouse as startGatehouseFrom,
  startNsd,
  startUnbound,
  stop,
} from "./servers.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1]!;
};
const SECONDS = Number(opt("seconds", "10"));
const ONLY = opt("only", "");
const NAMES = 10_000;
const BLOCKLIST = Number(opt("blocklist", "1000000"));
const dir = mkdtempSync(join(tmpdir(), "gh-bench-dns-"));
const NSD = 25300;

function dnsperf(port: number, extra: string[]): string {
  return dnsperfAt(port, join(dir, "queries.txt"), extra);
}

function maxQps(port: number): number {
  dnsperf(port, ["-l", "3", "-q", "200"]); // warm the cache
  const { qps, lost } = dnsperfTotals(
    dnsperf(port, ["-l", String(SECONDS), "-q", "200", "-c", "4"]),
  );
  if (lost > 0) console.error(`  (lost ${lost} queries)`);
  return qps;
}

function latency(port: number): { p50: number; p99: number } {
  return percentiles(dnsperf(port, ["-l", String(SECONDS), "-Q", "10000", "-v"]));
}

function startGatehouse(workers: number, dgram = false, mode = ""): Promise<ChildProcess> {
  const policies = [
    ["ads", "any(dns.domains[*] in $ads) and not any(dns.domains[*] in $ads.allow)", "block"],
    ["social", 'any(dns.domains[*] in {"social.example" "video.example"})', "block"],
    ["nx", 'dns.fqdn == "blocked.bench.test"', "block"],
    ["types", 'dns.query_rtype == "ANY"', "block"],
    ["safe", 'any(dns.domains[*] == "google.com")', "safesearch"],
  ];
  const yaml = [
    "resolver:",
    `  upstreams: [{ address: "udp://127.0.0.1:${NSD}" }]`,
    "  cache: { maxEntries: 100000 }",
    // The nsd zone is unsigned and unbound here runs without its validator module: compare
    // forwarding with forwarding (bench/dns/dnssec.ts measures validation side by side).
    "  dnssec: { validate: false }",
    // One load generator is one source: no per-source rate limit (on by default).
    "  rateLimit: false",
    "locations: [{ id: lo, name: Loopback, networks: [127.0.0.0/8] }]",
    `lists: [{ id: ads, name: ads, type: domain, file: "${dir}/blocklist.txt" }]`,
    "policies:",
    ...policies.map(
      ([id, expr, action], i) =>
        `  - { id: ${id}, name: ${id}, type: dns, enabled: true, precedence: ${i + 1}, expression: '${expr}', action: ${action} }`,
    ),
    "edge:",
    "  dns: { udp: [127.0.0.1:25303] }",
    `  workers: ${workers}`,
    ...(mode ? [`  workerMode: ${mode}`] : []),
  ];
  return startGatehouseFrom(dir, yaml, {
    nodeArgs: opt("node-args", "").split(" ").filter(Boolean),
    // node:dgram instead of the batch socket addon, for comparison.
    ...(dgram ? { env: { ...process.env, GATEHOUSE_UDP_BATCH: "0" } } : {}),
  });
}

async function main() {
  for (const b of ["dnsperf", "nsd", "dnsmasq", "unbound"]) need(b);
  // Zone and queries.
  const zone = [
    "$ORIGIN bench.test.",
    "$TTL 3600",
    "@ IN SOA ns.bench.test. admin.bench.test. 1 3600 600 86400 300",
    "@ IN NS ns.bench.test.",
    "ns IN A 127.0.0.1",
  ];
  const queries: string[] = [];
  for (let i = 0; i < NAMES; i++) {
    zone.push(`host${i} IN A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    queries.push(`host${i}.bench.test A`);
  }
  writeFileSync(join(dir, "bench.test.zone"), `${zone.join("\n")}\n`);
  writeFileSync(join(dir, "queries.txt"), `${queries.join("\n")}\n`);
  const blocklist: string[] = [];
  for (let i = 0; i < BLOCKLIST; i++) blocklist.push(`||ad${i}.tracker${i % 997}.example^`);
  writeFileSync(join(dir, "blocklist.txt"), `${blocklist.join("\n")}\n`);
  blocklist.length = 0;

  await startNsd(dir, NSD, { "bench.test": "bench.test.zone" });

  const results: { name: string; qps: number; p50: number; p99: number; rss: number }[] = [];
  const servers: { name: string; port: number; run: () => Promise<ChildProcess> }[] = [
    {
      name: "dnsmasq",
      port: 25301,
      run: () =>
        start("dnsmasq", [
          "-k",
          "-C",
          "/dev/null",
          "--no-resolv",
          "--no-hosts",
          `--server=127.0.0.1#${NSD}`,
          "--port=25301",
          "--listen-address=127.0.0.1",
          "--bind-interfaces",
          "--cache-size=20000",
          `--pid-file=${dir}/dnsmasq.pid`,
          "--user=root",
        ]),
    },
    {
      name: "unbound",
      port: 25302,
      run: () => startUnbound(dir, 25302, NSD),
    },
    ...opt("workers", "1,2")
      .split(",")
      .flatMap((w) =>
        (w === "1" ? [""] : opt("worker-mode", "").split(",")).map((mode) => ({
          name: `gatehouse (${w} ${w === "1" ? "process" : "workers"}${mode ? `, ${mode}` : ""})`,
          port: 25303,
          run: () => startGatehouse(Number(w), false, mode),
        })),
      ),
    ...(args.includes("--dgram")
      ? [
          {
            name: "gatehouse (1 process, node:dgram)",
            port: 25303,
            run: () => startGatehouse(1, true),
          },
        ]
      : []),
  ];
  for (const s of servers) {
    if (ONLY && !ONLY.split(",").some((o) => s.name.startsWith(o)) && s.name !== "dnsmasq")
      continue;
    const p = await s.run();
    const qps = maxQps(s.port);
    const { p50, p99 } = latency(s.port);
    const rss = rssMB(p.pid!);
    results.push({ name: s.name, qps, p50, p99, rss });
    console.error(
      `${s.name}: ${Math.round(qps)} qps, p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, RSS ${rss} MB`,
    );
    await stop(p);
  }
  const base = results.find((r) => r.name === "dnsmasq")!;
  const lines = [
    "| server | cached qps | vs dnsmasq | p50 @10k qps (ms) | p99 @10k qps (ms) | RSS (MB) | RSS vs dnsmasq |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${Math.round(r.qps)} | ${(r.qps / base.qps).toFixed(2)}× | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.rss} | ${(r.rss / base.rss).toFixed(1)}× |`,
    ),
  ];
  console.log(lines.join("\n"));
}

try {
  await main();
} finally {
  for (const c of children) c.kill("SIGTERM");
}
