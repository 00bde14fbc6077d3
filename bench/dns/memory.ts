// Edge memory beside dnsmasq and unbound, measured from outside (/proc): RSS idle, RSS after a
// sustained load of new names (--passes over --names distinct names, at most --qps a second:
// every server answers the same queries, so every cache fills and evicts) 2 s after it and
// again --settle seconds later (what a server keeps once quiet), and the peak (VmHWM).
// With --blocklist N each server also holds the same N-domain blocklist (dnsmasq `address=`
// lines, unbound `local-zone` lines, a Gatehouse list file), so the list's cost is the
// difference between two runs. Gatehouse runs as users run it: `packages/gatehouse/bin/gatehouse
// edge --config FILE` (the bin script's Node flags and compile cache included); --root adds the
// same edge from another checkout (e.g. the commit before a change) to the same run, and
// --node-args FLAGS adds a run of this checkout's edge with GATEHOUSE_NODE_ARGS=FLAGS.
// Each Gatehouse edge is started once before it is measured, so Node's compile cache is warm
// (as on every start but the first after an install).
// --synced adds, per --workers count, an edge following a control (`gatehouse edge --control`)
// that is given the same list as a bundle's items over the sync protocol: a stand-in control in
// this process answers enrolment, heartbeats and the config poll with the bundle's JSON (its
// hash included), so what is measured is the edge's own transport and decoding of the list.
// Once it applied the list, the stand-in publishes a second bundle with as many other names and
// the swap's peak (VmHWM, reset through /proc/PID/clear_refs before the swap) is set against the
// RSS once it settled (peak ÷ steady). --passes 0 skips the load phase.
// Run: flock /tmp/bench.lock node bench/dns/memory.ts [--passes 2] [--qps 5000]
//        [--names 150000] [--blocklist 0] [--workers 1] [--only gatehouse] [--root DIR …] [--settle 18]
//        [--node-args FLAGS …] [--synced] [--mixed] [--worker-mode threads,processes]
// --mixed makes the Gatehouse list (file and synced items alike) a mixed adblock-syntax list of
// --blocklist lines (mixed-list.ts: names, exceptions, wildcards, regexes, modifiers), the
// second synced bundle as many other such lines; dnsmasq and unbound keep the plain names.
// --port-base N moves every port the run uses (N, the nsd upstream, to about N + 300, and the
// synced edges' proxies 1000 above their DNS ports) so it does not collide with another run;
// keep it under 32768 - 1300 (Linux gives outgoing connections ports from 32768 up).
// --worker-mode runs each Gatehouse edge with more than one worker once per mode given
// (edge.workerMode / --worker-mode), so threads and processes are measured in the same run.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleHash, type ConfigBundle, canonicalJson } from "@gatehouse/contract";
import { mixedLine } from "./mixed-list.ts";
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
/** Worker modes to run (edge.workerMode); "" = the edge's default, not named in its config. */
const MODES = flag("worker-mode", "").split(",");
/** Each worker count with each mode (one run for a single process), and a port offset. */
const RUNS = WORKERS.flatMap((w) =>
  (w > 1 ? MODES : [""]).map((mode, m) => ({
    w,
    mode,
    off: w + m * 40,
    label: `${w} ${w === 1 ? "process" : "workers"}${mode ? ` (${mode})` : ""}`,
  })),
);
const ONLY = flag("only", "");
const SYNCED = argv.includes("--synced");
const MIXED = argv.includes("--mixed");
const BREAKDOWN = argv.includes("--breakdown");
/** Seconds from the first after-load reading to the second (what is kept once quiet). */
const SETTLE_S = Number(flag("settle", "18"));
/** With --only: leave dnsmasq and unbound out too (a diagnosis run, not a comparison). */
const NO_ANCHORS = argv.includes("--no-anchors");
const HERE = resolve(new URL("../..", import.meta.url).pathname);
const ROOTS = [HERE, ...flags("root").map((r) => resolve(r))];
const dir = mkdtempSync(join(tmpdir(), "gh-bench-mem-"));
/** --port-base: the first of the ports the run uses (nsd, then each server's), so two runs can coexist. */
const BASE = Number(flag("port-base", "25400"));
const NSD_PORT = BASE;
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
/** Line i of Gatehouse's list (file or bundle items): a name, or with --mixed any rule form. */
const gatehouseLine = (i: number) => (MIXED ? mixedLine(i) : listed(i));

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

function gatehouseServer(
  root: string,
  port: number,
  workers: number,
  nodeArgs?: string,
  mode = "",
) {
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
    ...(mode ? [`  workerMode: ${mode}`] : []),
  ];
  const file = join(dir, `gatehouse-${port}.yaml`);
  writeFileSync(file, `${yaml.join("\n")}\n`);
  return launch(
    join(root, "packages/gatehouse/bin/gatehouse"),
    ["edge", "--config", file],
    "DNS over UDP",
    0,
    gatehouseEnv(nodeArgs),
  );
}

/** The bundle a stand-in control publishes: the blocklist's names from `from`, as items. */
async function syncedBundle(version: number, from: number): Promise<Buffer> {
  const items: string[] = [];
  for (let i = 0; i < BLOCKLIST; i++) items.push(gatehouseLine(from + i));
  const b: ConfigBundle = {
    schemaVersion: 1,
    version,
    resolver: {
      upstreams: [{ address: `udp://127.0.0.1:${NSD_PORT}` }],
      dnssec: { validate: false },
      rateLimit: false,
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
    lists: BLOCKLIST ? [{ id: "ads", name: "ads", type: "domain", items }] : [],
    policies: BLOCKLIST
      ? [
          {
            id: "ads",
            name: "ads",
            type: "dns",
            enabled: true,
            precedence: 1,
            expression: "any(dns.domains[*] in $ads)",
            action: "block",
          },
        ]
      : [],
  };
  b.hash = await bundleHash(b);
  // As control stores and sends it (publisher.ts): canonical JSON, the hash among the members.
  return Buffer.from(canonicalJson(b));
}

/**
 * A stand-in for control's edge API: enrolment, heartbeats, config-status, log batches, and the
 * config poll, answered with `bodies[i]` to a poll after version i (held 20 s, then 304, when
 * there is nothing newer). publish() makes the next body visible and wakes held polls.
 */
function standInControl(bodies: Buffer[]) {
  let visible = 1;
  const held = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    req.resume();
    const json = (status: number, v: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(v));
    if (url.pathname === "/api/v1/edge/enroll")
      return json(201, { edgeId: "e1", accountId: "a1", credential: "bench-credential" });
    if (url.pathname === "/api/v1/edge/heartbeat") return json(200, { status: "active" });
    if (url.pathname === "/api/v1/edge/config") {
      const after = Number(url.searchParams.get("after") ?? 0);
      const answer = () => {
        if (after < visible) {
          const body = bodies[Math.min(after, visible - 1)]!;
          res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
          res.end(body);
          return true;
        }
        return false;
      };
      if (answer()) return;
      const wake = () => {
        if (answer()) {
          held.delete(wake);
          clearTimeout(t);
        }
      };
      const t = setTimeout(() => {
        held.delete(wake);
        res.writeHead(304).end();
      }, 20_000);
      held.add(wake);
      res.on("close", () => {
        held.delete(wake);
        clearTimeout(t);
      });
      return;
    }
    res.writeHead(204).end();
  });
  return {
    server,
    listen: () =>
      new Promise<number>((r) =>
        server.listen(0, "127.0.0.1", () => r((server.address() as { port: number }).port)),
      ),
    reset: () => {
      visible = 1;
    },
    publish: () => {
      visible++;
      for (const w of [...held]) w();
    },
  };
}

let dataDirs = 0;

const PROBE_FILE = join(dir, "probe.jsonl");

/** The environment of a measured edge: with --breakdown, memory-probe.ts loaded into it. */
function gatehouseEnv(nodeArgs?: string): NodeJS.ProcessEnv {
  const args = nodeArgs ?? process.env["GATEHOUSE_NODE_ARGS"] ?? "--max-semi-space-size=1";
  if (!BREAKDOWN)
    return nodeArgs === undefined ? process.env : { ...process.env, GATEHOUSE_NODE_ARGS: args };
  const probe = join(HERE, "bench/dns/memory-probe.ts");
  return {
    ...process.env,
    GATEHOUSE_NODE_ARGS: `${args} --import ${probe}`,
    GH_MEMORY_PROBE: PROBE_FILE,
  };
}

/** With --breakdown: every process of the tree reports (memory-probe.ts); their lines. */
async function breakdown(pid: number, label: string): Promise<void> {
  if (!BREAKDOWN) return;
  writeFileSync(PROBE_FILE, "");
  for (const p of tree(pid)) {
    try {
      process.kill(p, "SIGUSR2");
    } catch {}
  }
  await sleep(3000);
  for (const l of readFileSync(PROBE_FILE, "utf8").split("\n").filter(Boolean))
    console.error(`breakdown ${label}: ${l}`);
}

function syncedGatehouse(
  root: string,
  controlPort: number,
  port: number,
  workers: number,
  mode = "",
) {
  const data = join(dir, `synced-${port}-${++dataDirs}`);
  return launch(
    join(root, "packages/gatehouse/bin/gatehouse"),
    [
      "edge",
      "--control",
      `http://127.0.0.1:${controlPort}`,
      "--join-token",
      "bench",
      "--data-dir",
      data,
      "--dns",
      `127.0.0.1:${port}`,
      "--proxy",
      `127.0.0.1:${port + 1000}`,
      "--workers",
      String(workers),
      ...(mode ? ["--worker-mode", mode] : []),
    ],
    "applied config v1",
    0,
    gatehouseEnv(),
  );
}

/** Resolves once `text` appears in what the process writes from now on. */
function seen(p: ChildProcess, text: string, timeoutMs = 300_000): Promise<void> {
  let out = "";
  return new Promise((ok, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`no "${text}" after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const read = (c: Buffer) => {
      out = (out + c.toString()).slice(-4000);
      if (out.includes(text)) {
        clearTimeout(timer);
        p.stdout!.off("data", read);
        p.stderr!.off("data", read);
        ok();
      }
    };
    p.stdout!.on("data", read);
    p.stderr!.on("data", read);
  });
}

/** Reset VmHWM to the current RSS for the process tree (Linux clear_refs 5). */
function resetPeak(pid: number): void {
  for (const p of tree(pid)) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, "5");
    } catch {}
  }
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
    for (let i = 0; i < BLOCKLIST; i++) l.push(gatehouseLine(i));
    writeFileSync(join(dir, "blocklist.txt"), `${l.join("\n")}\n`);
  }
  await sleep(1500);

  const servers: {
    name: string;
    port: number;
    synced?: boolean;
    run: () => Promise<ChildProcess>;
  }[] = [
    { name: "dnsmasq", port: BASE + 1, run: () => dnsmasqServer(BASE + 1) },
    { name: "unbound", port: BASE + 2, run: () => unboundServer(BASE + 2) },
  ];
  for (const [r, root] of ROOTS.entries())
    for (const { w, mode, off, label } of RUNS)
      servers.push({
        name: `gatehouse${r ? ` (${root})` : ""}, ${label}`,
        port: BASE + 3 + r * 10 + off,
        run: () => gatehouseServer(root, BASE + 3 + r * 10 + off, w, undefined, mode),
      });

  for (const [i, a] of flags("node-args").entries())
    for (const { w, mode, off, label } of RUNS)
      servers.push({
        name: `gatehouse (GATEHOUSE_NODE_ARGS="${a}"), ${label}`,
        port: BASE + 103 + i * 10 + off,
        run: () => gatehouseServer(HERE, BASE + 103 + i * 10 + off, w, a, mode),
      });
  const control = SYNCED
    ? standInControl([await syncedBundle(1, 0), await syncedBundle(2, BLOCKLIST)])
    : undefined;
  const controlPort = control ? await control.listen() : 0;
  if (control)
    for (const [r, root] of ROOTS.entries())
      for (const { w, mode, off, label } of RUNS)
        servers.push({
          name: `gatehouse${r ? ` (${root})` : ""} synced from control, ${label}`,
          port: BASE + 203 + r * 10 + off,
          synced: true,
          run: () => {
            control.reset();
            return syncedGatehouse(root, controlPort, BASE + 203 + r * 10 + off, w, mode);
          },
        });
  const rows: string[] = [];
  const swaps: string[] = [];
  console.error(
    `load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  for (const s of servers) {
    if (
      ONLY &&
      !s.name.startsWith(ONLY) &&
      (NO_ANCHORS || !["dnsmasq", "unbound"].includes(s.name))
    )
      continue;
    if (s.name.startsWith("gatehouse")) {
      await stop(await s.run()); // fills the compile cache
    }
    const t0 = performance.now();
    const p = await s.run();
    const startS = (performance.now() - t0) / 1000;
    await sleep(5000);
    const idle = statusMB(p.pid!, "VmRSS");
    if (s.name.startsWith("gatehouse")) await breakdown(p.pid!, `${s.name} idle`);
    const { sent, lost } = PASSES
      ? dnsperfRun(s.port, ["-n", String(PASSES), "-Q", String(QPS), "-q", "500"])
      : { sent: 0, lost: 0 };
    if (PASSES) await sleep(2000);
    const loaded = statusMB(p.pid!, "VmRSS");
    const peak = statusMB(p.pid!, "VmHWM");
    // Once the load is over, what the server keeps (an edge gives memory back when quiet).
    if (PASSES) await sleep(SETTLE_S * 1000);
    const settled = statusMB(p.pid!, "VmRSS");
    if (PASSES && s.name.startsWith("gatehouse")) await breakdown(p.pid!, `${s.name} settled`);
    const row = { name: s.name, startS, idle, loaded, settled, peak, sent, lost };
    console.error(JSON.stringify(row));
    rows.push(
      `| ${s.name} | ${startS.toFixed(1)} | ${idle} | ${loaded} | ${settled} | ${peak} | ${sent} | ${lost} |`,
    );
    if (s.synced && control) {
      // A config swap: the same number of other names; its peak against the RSS after it.
      resetPeak(p.pid!);
      const before = statusMB(p.pid!, "VmRSS");
      const applied = seen(p, "applied config v2");
      const t1 = performance.now();
      control.publish();
      await applied;
      const swapS = (performance.now() - t1) / 1000;
      const swapPeak = statusMB(p.pid!, "VmHWM");
      await sleep(10_000);
      const after = statusMB(p.pid!, "VmRSS");
      await breakdown(p.pid!, `${s.name} after the swap`);
      const row = { name: s.name, before, swapS, swapPeak, after, ratio: swapPeak / after };
      console.error(JSON.stringify(row));
      swaps.push(
        `| ${s.name} | ${before} | ${swapS.toFixed(1)} | ${swapPeak} | ${after} | ${(swapPeak / after).toFixed(2)} |`,
      );
    }
    await stop(p);
  }
  control?.server.close();
  control?.server.closeAllConnections();
  console.log(
    [
      `blocklist ${BLOCKLIST}${MIXED ? " (mixed)" : ""}, ${PASSES} passes over ${NAMES} names at most ${QPS} qps; load average after: ${loadavg()[0]!.toFixed(1)}`,
      `| server | start, s | idle RSS (MB) | RSS 2 s after load (MB) | RSS ${2 + SETTLE_S} s after load (MB) | peak RSS (MB) | queries sent | lost |`,
      "|---|---:|---:|---:|---:|---:|---:|---:|",
      ...rows,
      ...(swaps.length
        ? [
            "",
            "config swap (a second bundle, as many other names): peak while it applies vs RSS 10 s after",
            "| server | RSS before (MB) | swap, s | peak (MB) | RSS after (MB) | peak ÷ after |",
            "|---|---:|---:|---:|---:|---:|",
            ...swaps,
          ]
        : []),
    ].join("\n"),
  );
}

try {
  await main();
} finally {
  for (const c of spawned) c.kill("SIGTERM");
}
