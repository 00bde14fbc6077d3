// Edge memory beside dnsmasq and unbound, measured from outside (/proc): RSS idle, RSS after a
// sustained load of new names (--passes over --names distinct names, at most --qps a second:
// every server answers the same queries, so every cache fills and evicts), and the peak (VmHWM).
// With --blocklist N each server also holds the same N-domain blocklist (dnsmasq `address=`
// lines, unbound `local-zone` lines, a Gatehouse list file), so the list's cost is the
// difference between two runs. Gatehouse runs as users run it: `packages/gatehouse/bin/gatehouse
// edge --config FILE` (the bin script's Node flags and compile cache included); --root adds the
// same edge from another checkout (e.g. the commit before a change) to the same run, and
// --node-args FLAGS adds a run of this checkout's edge with GATEHOUSE_NODE_ARGS=FLAGS.
// Each Gatehouse edge is started once before it is measured, so Node's compile cache is warm
// (as on every start but the first after an install).
// Run: flock /tmp/bench.lock node bench/dns/memory.ts [--passes 2] [--qps 5000]
//        [--names 150000] [--blocklist 0] [--workers 1] [--only gatehouse] [--root DIR …]
//        [--node-args FLAGS …]

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startWildcardUpstream } from "./wildcard-upstream.ts";

const argv = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? def : argv[i + 1]!;
};
const flags = (name: string): string[] =>
  argv.flatMap((a, i) => (a === `--${name}` && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));

const PASSES = Number(flag("passes", "2"));
const QPS = Number(flag("qps", "5000"));
const NAMES = Number(flag("names", "150000"));
const BLOCKLIST = Number(flag("blocklist", "0"));
const WORKERS = flag("workers", "1").split(",").map(Number);
const ONLY = flag("only", "");
const HERE = resolve(new URL("../..", import.meta.url).pathname);
const ROOTS = [HERE, ...flags("root").map((r) => resolve(r))];
const dir = mkdtempSync(join(tmpdir(), "gh-bench-mem-"));
const NSD_PORT = 25400;
const spawned: ChildProcess[] = [];

/** Spawn and resolve once `ready` appears on stdout or stderr (or after `graceMs` without one). */
function launch(cmd: string, args: string[], ready?: string, graceMs = 1500, env = process.env) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env });
  spawned.push(child);
  let seen = "";
  return new Promise<ChildProcess>((ok, fail) => {
    const timer = setTimeout(
      () => (ready ? fail(new Error(`${cmd}: no "${ready}" after 120 s\n${seen}`)) : ok(child)),
      ready ? 120_000 : graceMs,
    );
    const read = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-20_000);
      if (ready && seen.includes(ready)) {
        clearTimeout(timer);
        ok(child);
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", read);
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`${cmd} exited (${code})\n${seen}`));
    });
  });
}

/** SIGTERM and wait for the exit (at most 5 s). */
function stop(p: ChildProcess): Promise<void> {
  return new Promise<void>((r) => {
    p.removeAllListeners("exit");
    p.once("exit", () => r());
    p.kill("SIGTERM");
    setTimeout(r, 5000);
  });
}

/** The pid and every descendant (a Gatehouse edge with workers is a process tree). */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, "utf8").trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {}
  }
  return out;
}

/** Sum of a /proc/PID/status field (kB) over the tree, in MB. */
function statusMB(pid: number, field: "VmRSS" | "VmHWM"): number {
  let kb = 0;
  for (const p of tree(pid)) {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
        readFileSync(`/proc/${p}/status`, "utf8"),
      );
      if (m) kb += Number(m[1]);
    } catch {}
  }
  return Math.round(kb / 102.4) / 10;
}

function dnsperfRun(port: number, extra: string[]): { sent: number; lost: number } {
  const out = execFileSync(
    "dnsperf",
    ["-s", "127.0.0.1", "-p", String(port), "-d", join(dir, "load.txt"), ...extra],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] },
  );
  const sent = Number(/Queries sent:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const lost = Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { sent, lost };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A blocklisted name: same shape for every server. */
const listed = (i: number) => `ad${i}.tracker${i % 997}.example`;

function dnsmasqServer(port: number) {
  const conf = join(dir, "dnsmasq.conf");
  const lines = [
    "no-resolv",
    "no-hosts",
    `server=127.0.0.1#${NSD_PORT}`,
    `port=${port}`,
    "listen-address=127.0.0.1",
    "bind-interfaces",
    "cache-size=10000",
    `pid-file=${dir}/dnsmasq.pid`,
    "user=root",
  ];
  for (let i = 0; i < BLOCKLIST; i++) lines.push(`address=/${listed(i)}/`);
  writeFileSync(conf, `${lines.join("\n")}\n`);
  return launch("dnsmasq", ["-k", "-C", conf], undefined, BLOCKLIST ? 15_000 : 1500);
}

function unboundServer(port: number) {
  const conf = join(dir, "unbound.conf");
  const lines = [
    "server:",
    `  interface: 127.0.0.1@${port}`,
    `  port: ${port}`,
    "  num-threads: 2",
    "  so-reuseport: yes",
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    `  pidfile: "${dir}/unbound.pid"`,
    "  do-not-query-localhost: no",
    "  access-control: 127.0.0.0/8 allow",
    '  module-config: "iterator"',
    "  use-syslog: no",
    "  verbosity: 1",
  ];
  for (let i = 0; i < BLOCKLIST; i++) lines.push(`  local-zone: "${listed(i)}." always_nxdomain`);
  lines.push("remote-control:", "  control-enable: no", "forward-zone:", '  name: "."');
  lines.push(`  forward-addr: 127.0.0.1@${NSD_PORT}`);
  writeFileSync(conf, `${lines.join("\n")}\n`);
  return launch("unbound", ["-d", "-c", conf], "start of service");
}

function gatehouseServer(root: string, port: number, workers: number, nodeArgs?: string) {
  const yaml = [
    "resolver:",
    `  upstreams: [{ address: "udp://127.0.0.1:${NSD_PORT}" }]`,
    "  dnssec: { validate: false }",
    "  rateLimit: false",
    "locations: [{ id: lo, name: Loopback, networks: [127.0.0.0/8] }]",
    BLOCKLIST
      ? `lists: [{ id: ads, name: ads, type: domain, file: "${dir}/blocklist.txt" }]`
      : "lists: []",
    BLOCKLIST
      ? "policies: [{ id: ads, name: ads, type: dns, enabled: true, precedence: 1, expression: 'any(dns.domains[*] in $ads)', action: block }]"
      : "policies: []",
    "edge:",
    `  dns: { udp: [127.0.0.1:${port}] }`,
    `  workers: ${workers}`,
  ];
  const file = join(dir, `gatehouse-${port}.yaml`);
  writeFileSync(file, `${yaml.join("\n")}\n`);
  return launch(
    join(root, "packages/gatehouse/bin/gatehouse"),
    ["edge", "--config", file],
    "DNS over UDP",
    0,
    nodeArgs === undefined ? process.env : { ...process.env, GATEHOUSE_NODE_ARGS: nodeArgs },
  );
}

async function main() {
  for (const bin of ["dnsperf", "nsd", "dnsmasq", "unbound"])
    execFileSync("sh", [
      "-c",
      `command -v ${bin} >/dev/null || { echo "${bin} missing"; exit 1; }`,
    ]);
  spawned.push(startWildcardUpstream(dir, NSD_PORT, NAMES));
  if (BLOCKLIST) {
    const l: string[] = [];
    for (let i = 0; i < BLOCKLIST; i++) l.push(listed(i));
    writeFileSync(join(dir, "blocklist.txt"), `${l.join("\n")}\n`);
  }
  await sleep(1500);

  const servers: { name: string; port: number; run: () => Promise<ChildProcess> }[] = [
    { name: "dnsmasq", port: 25401, run: () => dnsmasqServer(25401) },
    { name: "unbound", port: 25402, run: () => unboundServer(25402) },
  ];
  for (const [r, root] of ROOTS.entries())
    for (const w of WORKERS)
      servers.push({
        name: `gatehouse${r ? ` (${root})` : ""}, ${w} ${w === 1 ? "process" : "workers"}`,
        port: 25403 + r * 10 + w,
        run: () => gatehouseServer(root, 25403 + r * 10 + w, w),
      });

  for (const [i, a] of flags("node-args").entries())
    for (const w of WORKERS)
      servers.push({
        name: `gatehouse (GATEHOUSE_NODE_ARGS="${a}"), ${w} ${w === 1 ? "process" : "workers"}`,
        port: 25503 + i * 10 + w,
        run: () => gatehouseServer(HERE, 25503 + i * 10 + w, w, a),
      });
  const rows: string[] = [];
  console.error(
    `load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  for (const s of servers) {
    if (ONLY && !s.name.startsWith(ONLY) && !["dnsmasq", "unbound"].includes(s.name)) continue;
    if (s.name.startsWith("gatehouse")) {
      await stop(await s.run()); // fills the compile cache
    }
    const t0 = performance.now();
    const p = await s.run();
    const startS = (performance.now() - t0) / 1000;
    await sleep(5000);
    const idle = statusMB(p.pid!, "VmRSS");
    const { sent, lost } = dnsperfRun(s.port, [
      "-n",
      String(PASSES),
      "-Q",
      String(QPS),
      "-q",
      "500",
    ]);
    await sleep(2000);
    const loaded = statusMB(p.pid!, "VmRSS");
    const peak = statusMB(p.pid!, "VmHWM");
    const row = { name: s.name, startS, idle, loaded, peak, sent, lost };
    console.error(JSON.stringify(row));
    rows.push(
      `| ${s.name} | ${startS.toFixed(1)} | ${idle} | ${loaded} | ${peak} | ${sent} | ${lost} |`,
    );
    await stop(p);
  }
  console.log(
    [
      `blocklist ${BLOCKLIST}, ${PASSES} passes over ${NAMES} names at most ${QPS} qps; load average after: ${loadavg()[0]!.toFixed(1)}`,
      "| server | start, s | idle RSS (MB) | RSS after load (MB) | peak RSS (MB) | queries sent | lost |",
      "|---|---:|---:|---:|---:|---:|---:|",
      ...rows,
    ].join("\n"),
  );
}

try {
  await main();
} finally {
  for (const c of spawned) c.kill("SIGTERM");
}
