// DNS benchmark: dnsperf against Gatehouse, dnsmasq and unbound, each forwarding to the same
// local authoritative server (nsd serving a generated 10,000-name zone), cache warm. Gatehouse
// runs with a 1,000,000-domain blocklist and five policies. Reports cached-answer queries/s,
// p50/p99 latency at a fixed 10,000 qps, and RSS, with ratios against dnsmasq.
// Run: node bench/dns/run.ts [--seconds 10] [--only gatehouse] [--workers 1,2] [--dgram]

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
const children: ChildProcess[] = [];
const NSD = 25300;

function need(bin: string): string {
  try {
    return execFileSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`${bin} not found: install dnsperf, nsd, dnsmasq-base and unbound`);
  }
}

function start(
  cmd: string,
  argv: string[],
  readyText?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildProcess> {
  const p = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], env });
  children.push(p);
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => (readyText ? reject(new Error(`${cmd} did not start:\n${out}`)) : resolve(p)),
      readyText ? 30_000 : 1500,
    );
    const onData = (d: Buffer) => {
      out += d.toString();
      if (readyText && out.includes(readyText)) {
        clearTimeout(timer);
        resolve(p);
      }
    };
    p.stdout!.on("data", onData);
    p.stderr!.on("data", onData);
    p.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code}:\n${out}`));
    });
  });
}

function rssMB(pid: number): number {
  // The process and its children (Gatehouse workers).
  let total = 0;
  const pids = [pid];
  try {
    const kids = execFileSync("sh", ["-c", `pgrep -P ${pid} || true`], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number);
    pids.push(...kids);
  } catch {}
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) total += Number(m[1]);
    } catch {}
  }
  return Math.round(total / 102.4) / 10;
}

function dnsperf(port: number, extra: string[]): string {
  return execFileSync(
    "dnsperf",
    ["-s", "127.0.0.1", "-p", String(port), "-d", join(dir, "queries.txt"), ...extra],
    {
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    },
  );
}

function maxQps(port: number): number {
  dnsperf(port, ["-l", "3", "-q", "200"]); // warm the cache
  const out = dnsperf(port, ["-l", String(SECONDS), "-q", "200", "-c", "4"]);
  const m = /Queries per second:\s+([\d.]+)/.exec(out);
  const lost = /Queries lost:\s+(\d+)/.exec(out);
  if (!m) throw new Error(out);
  if (lost && Number(lost[1]) > 0) console.error(`  (lost ${lost[1]} queries)`);
  return Number(m[1]);
}

function latency(port: number): { p50: number; p99: number } {
  const out = dnsperf(port, ["-l", String(SECONDS), "-Q", "10000", "-v"]);
  const lat: number[] = [];
  for (const line of out.split("\n")) {
    const m = /^> \S+ .* ([\d.]+)$/.exec(line);
    if (m) lat.push(Number(m[1]) * 1000);
  }
  lat.sort((a, b) => a - b);
  const pct = (p: number) =>
    lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? Number.NaN;
  return { p50: pct(50), p99: pct(99) };
}

function startGatehouse(workers: number, dgram = false): Promise<ChildProcess> {
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
  ];
  writeFileSync(join(dir, "gatehouse.yaml"), `${yaml.join("\n")}\n`);
  const nodeArgs = opt("node-args", "").split(" ").filter(Boolean);
  return start(
    process.execPath,
    [
      ...nodeArgs,
      new URL("./gatehouse-server.ts", import.meta.url).pathname,
      join(dir, "gatehouse.yaml"),
    ],
    "ready",
    // node:dgram instead of the batch socket addon, for comparison.
    dgram ? { ...process.env, GATEHOUSE_UDP_BATCH: "0" } : process.env,
  );
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

  writeFileSync(
    join(dir, "nsd.conf"),
    `server:\n  ip-address: 127.0.0.1@${NSD}\n  port: ${NSD}\n  username: ""\n  chroot: ""\n  zonesdir: "${dir}"\n  pidfile: "${dir}/nsd.pid"\n  xfrdfile: "${dir}/xfrd.state"\n  zonelistfile: "${dir}/zone.list"\n  logfile: "${dir}/nsd.log"\n  server-count: 1\n  verbosity: 0\nremote-control:\n  control-enable: no\nzone:\n  name: bench.test\n  zonefile: bench.test.zone\n`,
  );
  await start("nsd", ["-d", "-c", join(dir, "nsd.conf")]);

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
      run: () => {
        writeFileSync(
          join(dir, "unbound.conf"),
          `server:\n  interface: 127.0.0.1@25302\n  port: 25302\n  num-threads: 2\n  so-reuseport: yes\n  username: ""\n  chroot: ""\n  directory: "${dir}"\n  pidfile: "${dir}/unbound.pid"\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n  module-config: "iterator"\n  use-syslog: no\n  verbosity: 0\n  msg-cache-size: 64m\n  rrset-cache-size: 128m\nremote-control:\n  control-enable: no\nforward-zone:\n  name: "."\n  forward-addr: 127.0.0.1@${NSD}\n`,
        );
        return start("unbound", ["-d", "-c", join(dir, "unbound.conf")]);
      },
    },
    ...opt("workers", "1,2")
      .split(",")
      .map((w) => ({
        name: `gatehouse (${w} ${w === "1" ? "process" : "workers"})`,
        port: 25303,
        run: () => startGatehouse(Number(w)),
      })),
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
    await new Promise<void>((r) => {
      p.removeAllListeners("exit");
      p.once("exit", () => r());
      p.kill("SIGTERM");
      setTimeout(r, 5000);
    });
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
