// DNS benchmark: dnsperf against Gatehouse, dnsmasq and unbound, each forwarding to the same
// local authoritative server (nsd serving a generated 10,000-name zone), cache warm. Gatehouse
// runs with a 1,000,000-domain blocklist and five policies (`--policies N`: N more, generated as
// in policy-path.ts). Reports cached-answer queries/s, the server's CPU over that phase (its
// share of one core, from /proc) and queries per server CPU second ("per server core": what the
// server costs, which a load generator at its own ceiling cannot hide), p50/p99 latency at a
// fixed 10,000 qps, and RSS, with ratios against dnsmasq and unbound.
// Run: node bench/dns/run.ts [--seconds 10] [--only gatehouse] [--workers 1,2] [--dgram]
//        [--worker-mode threads,processes]   each worker count above 1 once per mode
//        [--pin]                 server on CPU 0, dnsperf and nsd on CPU 1 (taskset); unbound
//                                then runs one thread (`--unbound-threads N` to choose)
//        [--policies 100]        100 generated policies besides the five
//        [--latency-seconds 0]   skip the fixed-rate latency phase (default: --seconds)
//        [--no-dnsmasq]          skip dnsmasq
//        [--compare DIR]         also a one-process Gatehouse of another checkout
//        [--rounds N]            N rounds over the servers, each server fresh in each round
//        [--pipeline]            also a one-process Gatehouse with a `dns.src_ip` policy first
//                                (and the --compare checkout's, with --compare):
//                                the packet cache cannot key on the source, so every query runs
//                                the whole pipeline (the policy slow path, from outside)

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatedPolicies } from "./policies.ts";
import {
  children,
  cpuSplit,
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
const PIN = args.includes("--pin");
/** CPU lists for taskset when pinning: the server's, and the load's (dnsperf, nsd). */
const SERVER_CPU = PIN ? "0" : undefined;
const LOAD_CPU = PIN ? "1" : undefined;
const UNBOUND_THREADS = Number(opt("unbound-threads", PIN ? "1" : "2"));
const POLICIES = Number(opt("policies", "0"));
const LATENCY_SECONDS = Number(opt("latency-seconds", String(SECONDS)));
const COMPARE = opt("compare", "");
const ROUNDS = Number(opt("rounds", "1"));
const dir = mkdtempSync(join(tmpdir(), "gh-bench-dns-"));
const NSD = 25300;

function dnsperf(port: number, extra: string[]): string {
  return dnsperfAt(port, join(dir, "queries.txt"), extra, LOAD_CPU);
}

/**
 * Cached-answer throughput, and the server's CPU over the same seconds: its share of one core
 * and the queries it answered per CPU second.
 */
function maxQps(
  port: number,
  pid: number,
): { qps: number; cpuShare: number; perCore: number; kernel: number } {
  dnsperf(port, ["-l", "3", "-q", "200"]); // warm the cache
  const before = cpuSplit(pid);
  const t0 = performance.now();
  const { qps, lost, completed, rcodes } = dnsperfTotals(
    dnsperf(port, ["-l", String(SECONDS), "-q", "200", "-c", "4"]),
  );
  const wall = (performance.now() - t0) / 1000;
  const after = cpuSplit(pid);
  const cpu = after.user + after.system - before.user - before.system;
  if (lost > 0) console.error(`  (lost ${lost} queries)`);
  // Every name is in the zone: anything but NOERROR is a server not answering from its cache.
  if (!/^NOERROR \d+ \(100/.test(rcodes)) console.error(`  (response codes: ${rcodes})`);
  return {
    qps,
    cpuShare: cpu / wall,
    perCore: completed / cpu,
    kernel: (after.system - before.system) / cpu,
  };
}

function latency(port: number): { p50: number; p99: number } {
  if (LATENCY_SECONDS <= 0) return { p50: Number.NaN, p99: Number.NaN };
  return percentiles(dnsperf(port, ["-l", String(LATENCY_SECONDS), "-Q", "10000", "-v"]));
}

/** The generated policies and their lists as YAML lines (JSON flow style). */
function generatedYaml(): { lists: string[]; policies: string[] } {
  const g = generatedPolicies(POLICIES, 7);
  return {
    lists: g.lists.map((l) => `  - ${JSON.stringify(l)}`),
    policies: g.policies.map((p) => `  - ${JSON.stringify(p)}`),
  };
}

function startGatehouse(
  workers: number,
  dgram = false,
  mode = "",
  root = "",
  pipeline = false,
): Promise<ChildProcess> {
  const policies = [
    ...(pipeline ? [["src", "dns.src_ip in {192.0.2.0/24}", "block"]] : []),
    ["ads", "any(dns.domains[*] in $ads) and not any(dns.domains[*] in $ads.allow)", "block"],
    ["social", 'any(dns.domains[*] in {"social.example" "video.example"})', "block"],
    ["nx", 'dns.fqdn == "blocked.bench.test"', "block"],
    ["types", 'dns.query_rtype == "ANY"', "block"],
    ["safe", 'any(dns.domains[*] == "google.com")', "safesearch"],
  ];
  const generated = generatedYaml();
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
    "lists:",
    `  - { id: ads, name: ads, type: domain, file: "${dir}/blocklist.txt" }`,
    ...generated.lists,
    "policies:",
    ...policies.map(
      ([id, expr, action], i) =>
        `  - { id: ${id}, name: ${id}, type: dns, enabled: true, precedence: ${i + 1}, expression: '${expr}', action: ${action} }`,
    ),
    ...generated.policies,
    "edge:",
    "  dns: { udp: [127.0.0.1:25303] }",
    `  workers: ${workers}`,
    ...(mode ? [`  workerMode: ${mode}`] : []),
  ];
  return startGatehouseFrom(dir, yaml, {
    nodeArgs: opt("node-args", "").split(" ").filter(Boolean),
    ...(root ? { root } : {}),
    ...(SERVER_CPU ? { cpus: SERVER_CPU } : {}),
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

  await startNsd(dir, NSD, { "bench.test": "bench.test.zone" }, { cpus: LOAD_CPU });

  interface Result {
    name: string;
    qps: number;
    cpuShare: number;
    perCore: number;
    kernel: number;
    p50: number;
    p99: number;
    rss: number;
    load: string;
  }
  const results: Result[] = [];
  const servers: { name: string; port: number; run: () => Promise<ChildProcess> }[] = [
    {
      name: "dnsmasq",
      port: 25301,
      run: () =>
        start(
          "dnsmasq",
          [
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
          ],
          undefined,
          process.env,
          SERVER_CPU,
        ),
    },
    {
      name: `unbound${UNBOUND_THREADS === 2 ? "" : ` (${UNBOUND_THREADS} thread${UNBOUND_THREADS === 1 ? "" : "s"})`}`,
      port: 25302,
      run: () =>
        startUnbound(dir, 25302, NSD, {
          threads: UNBOUND_THREADS,
          ...(SERVER_CPU ? { cpus: SERVER_CPU } : {}),
        }),
    },
    ...(COMPARE
      ? [
          {
            name: "gatehouse before (1 process)",
            port: 25303,
            run: () => startGatehouse(1, false, "", COMPARE),
          },
        ]
      : []),
    ...opt("workers", "1,2")
      .split(",")
      .flatMap((w) =>
        (w === "1" ? [""] : opt("worker-mode", "").split(",")).map((mode) => ({
          name: `gatehouse (${w} ${w === "1" ? "process" : "workers"}${mode ? `, ${mode}` : ""})`,
          port: 25303,
          run: () => startGatehouse(Number(w), false, mode),
        })),
      ),
    ...(args.includes("--pipeline")
      ? [
          {
            name: "gatehouse (1 process, pipeline)",
            port: 25303,
            run: () => startGatehouse(1, false, "", "", true),
          },
          ...(COMPARE
            ? [
                {
                  name: "gatehouse before (1 process, pipeline)",
                  port: 25303,
                  run: () => startGatehouse(1, false, "", COMPARE, true),
                },
              ]
            : []),
        ]
      : []),
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
  const chosen = servers.filter((s) =>
    s.name === "dnsmasq"
      ? !args.includes("--no-dnsmasq")
      : !ONLY || ONLY.split(",").some((o) => s.name.startsWith(o)),
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of chosen) {
      const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
      const p = await s.run();
      const pid = p.pid ?? 0;
      // A server that ends during its run makes the figures meaningless: say so.
      p.once("exit", (code, sig) => console.error(`  ${s.name} exited early (${code ?? sig})`));
      const { qps, cpuShare, perCore, kernel } = maxQps(s.port, pid);
      const { p50, p99 } = latency(s.port);
      const rss = rssMB(pid);
      results.push({ name: s.name, qps, cpuShare, perCore, kernel, p50, p99, rss, load });
      console.error(
        `${s.name}: ${Math.round(qps)} qps, server CPU ${(cpuShare * 100).toFixed(0)} % of a core (${(kernel * 100).toFixed(0)} % of it in the kernel), ${Math.round(perCore)} queries per server CPU second, p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, RSS ${rss} MB (load ${load})`,
      );
      await stop(p);
    }
  }
  console.log(
    `# ${process.version}; ${BLOCKLIST.toLocaleString("en")}-domain list, ${5 + POLICIES} policies${PIN ? "; pinned: servers on CPU 0, dnsperf and nsd on CPU 1" : ""}; dnsperf -l ${SECONDS} -q 200 -c 4`,
  );
  // Ratios within a round, against that round's anchors.
  const perRound = results.length / ROUNDS;
  const lines = [
    "| round | server | cached qps | server CPU (share of a core) | kernel share | qps per server core | per core vs unbound | qps vs unbound | qps vs dnsmasq | p50 @10k qps (ms) | p99 @10k qps (ms) | RSS (MB) | load average |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...results.map((r, i) => {
      const round = Math.floor(i / perRound);
      const mine = results.slice(round * perRound, (round + 1) * perRound);
      const unbound = mine.find((x) => x.name.startsWith("unbound"));
      const dnsmasq = mine.find((x) => x.name === "dnsmasq");
      const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : "–");
      return `| ${round + 1} | ${r.name} | ${Math.round(r.qps)} | ${r.cpuShare.toFixed(2)} | ${(r.kernel * 100).toFixed(0)} % | ${Math.round(r.perCore)} | ${ratio(r.perCore, unbound?.perCore)} | ${ratio(r.qps, unbound?.qps)} | ${ratio(r.qps, dnsmasq?.qps)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.rss} | ${r.load} |`;
    }),
  ];
  console.log(lines.join("\n"));
}

try {
  await main();
} finally {
  for (const c of children) c.kill("SIGTERM");
}
