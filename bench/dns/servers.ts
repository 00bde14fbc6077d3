// What the DNS benchmarks share: starting the servers (nsd as the loopback authority; unbound,
// dnsmasq and Gatehouse forwarding to it), dnsperf, and RSS of a server's processes.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const children: ChildProcess[] = [];

export function need(bin: string): string {
  try {
    return execFileSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`${bin} not found: install dnsperf, nsd, dnsmasq-base and unbound`);
  }
}

/**
 * `cmd argv`, under `taskset -c cpus` when `cpus` is given (taskset execs: the pid stays the
 * command's, so its CPU time in /proc is the command's).
 */
export function pinned(cpus: string | undefined, cmd: string, argv: string[]): [string, string[]] {
  return cpus ? ["taskset", ["-c", cpus, cmd, ...argv]] : [cmd, argv];
}

/**
 * Spawn `cmd` (on the CPUs `cpus`, when given) and wait for `readyText` in its output (or 1.5 s
 * when there is none).
 */
export function start(
  cmd: string,
  argv: string[],
  readyText?: string,
  env: NodeJS.ProcessEnv = process.env,
  cpus?: string,
): Promise<ChildProcess> {
  const [file, fileArgs] = pinned(cpus, cmd, argv);
  const p = spawn(file, fileArgs, { stdio: ["ignore", "pipe", "pipe"], env });
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

/** Stop a server started with `start` and wait for it to exit (at most 5 s). */
export function stop(p: ChildProcess): Promise<void> {
  return new Promise<void>((r) => {
    p.removeAllListeners("exit");
    p.once("exit", () => r());
    p.kill("SIGTERM");
    setTimeout(r, 5000);
  });
}

/** RSS in MB of a process and its children (Gatehouse workers). */
export function rssMB(pid: number): number {
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

/** CPU seconds (user + system) a process and its children have used so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** User and kernel CPU seconds of `pid` and its children so far (/proc stat utime, stime). */
export function cpuSplit(pid: number): { user: number; system: number } {
  const pids = [pid];
  try {
    pids.push(
      ...execFileSync("sh", ["-c", `pgrep -P ${pid} || true`], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
        .map(Number),
    );
  } catch {}
  let user = 0;
  let system = 0;
  for (const p of pids) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, "utf8");
      const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
      user += Number(rest[11]); // utime (field 14)
      system += Number(rest[12]); // stime (field 15)
    } catch {}
  }
  return { user: user / 100, system: system / 100 };
}

export function dnsperf(port: number, queryFile: string, extra: string[], cpus?: string): string {
  const [file, argv] = pinned(cpus, "dnsperf", [
    "-s",
    "127.0.0.1",
    "-p",
    String(port),
    "-d",
    queryFile,
    ...extra,
  ]);
  return execFileSync(file, argv, { encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
}

/** p50 and p99 (ms) of the per-reply latencies `dnsperf -v` printed. */
export function percentiles(out: string): { p50: number; p99: number } {
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

/** "Queries per second", "Queries lost", "Queries sent", "Queries completed" and "Response codes" of a dnsperf run. */
export function dnsperfTotals(out: string): {
  qps: number;
  lost: number;
  sent: number;
  /** e.g. "NOERROR 20000 (100.00%)", to tell answers from a resolver's own refusals. */
  rcodes: string;
  completed: number;
} {
  const qps = /Queries per second:\s+([\d.]+)/.exec(out);
  const lost = /Queries lost:\s+(\d+)/.exec(out);
  const sent = /Queries sent:\s+(\d+)/.exec(out);
  const rcodes = /Response codes:\s+(.*)/.exec(out);
  const completed = /Queries completed:\s+(\d+)/.exec(out);
  if (!qps) throw new Error(out);
  return {
    qps: Number(qps[1]),
    lost: Number(lost?.[1] ?? 0),
    sent: Number(sent?.[1] ?? 0),
    rcodes: rcodes?.[1]?.trim() ?? "",
    completed: Number(completed?.[1] ?? 0),
  };
}

/**
 * nsd on `port` serving the zone files `zones` (name → file name in `dir`). Response rate
 * limiting off: Debian's nsd limits answers to 200/s per source /24 and answer type (all of a
 * wildcard zone's names are one type) and turns every other dropped answer into TC=1, which
 * the resolvers then retry over TCP — that measures nsd's RRL, not the resolver.
 */
export function startNsd(
  dir: string,
  port: number,
  zones: Record<string, string>,
  opts: { cpus?: string } = {},
) {
  writeFileSync(
    join(dir, "nsd.conf"),
    `server:\n  ip-address: 127.0.0.1@${port}\n  port: ${port}\n  username: ""\n  chroot: ""\n  zonesdir: "${dir}"\n  pidfile: "${dir}/nsd.pid"\n  xfrdfile: "${dir}/xfrd.state"\n  zonelistfile: "${dir}/zone.list"\n  logfile: "${dir}/nsd.log"\n  server-count: 1\n  verbosity: 0\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\nremote-control:\n  control-enable: no\n${Object.entries(
      zones,
    )
      .map(([name, file]) => `zone:\n  name: ${name}\n  zonefile: ${file}\n`)
      .join("")}`,
  );
  return start("nsd", ["-d", "-c", join(dir, "nsd.conf")], undefined, process.env, opts.cpus);
}

/**
 * unbound (two threads) forwarding everything to `upstreamPort`; with `validate`, its validator
 * module on with `anchorFile` as trust anchor, else the iterator alone. `test.` (the benches'
 * zones) is taken out of unbound's built-in local zones: by default unbound answers every name
 * under it NXDOMAIN itself (RFC 6761) and never asks the upstream, which made it look 7× faster
 * on the miss path than a resolver that relays.
 * unbound (two threads, or `threads`) forwarding everything to `upstreamPort`; with `validate`,
 * its validator module on with `anchorFile` as trust anchor, else the iterator alone. `cpus`:
 * pinned there (taskset).
 */
export function startUnbound(
  dir: string,
  port: number,
  upstreamPort: number,
  opts: {
    validate?: boolean;
    anchorFile?: string;
    extra?: string[];
    threads?: number;
    cpus?: string;
  } = {},
) {
  const lines = [
    "server:",
    `  interface: 127.0.0.1@${port}`,
    `  port: ${port}`,
    `  num-threads: ${opts.threads ?? 2}`,
    "  so-reuseport: yes",
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    `  pidfile: "${dir}/unbound-${port}.pid"`,
    "  do-not-query-localhost: no",
    "  access-control: 127.0.0.0/8 allow",
    `  module-config: "${opts.validate ? "validator iterator" : "iterator"}"`,
    ...(opts.anchorFile ? [`  trust-anchor-file: "${opts.anchorFile}"`] : []),
    "  use-syslog: no",
    "  verbosity: 0",
    "  msg-cache-size: 64m",
    "  rrset-cache-size: 128m",
    '  local-zone: "test." nodefault',
    ...(opts.extra ?? []),
    "remote-control:",
    "  control-enable: no",
    "forward-zone:",
    '  name: "."',
    `  forward-addr: 127.0.0.1@${upstreamPort}`,
  ];
  const conf = join(dir, `unbound-${port}.conf`);
  writeFileSync(conf, `${lines.join("\n")}\n`);
  return start("unbound", ["-d", "-c", conf], undefined, process.env, opts.cpus);
}

/**
 * Gatehouse (bench/dns/gatehouse-server.ts) from the YAML `lines`, written to `dir`; resolves
 * once it prints "ready". `nodeArgs` go to the Node process (e.g. `--cpu-prof`); `root` runs
 * another checkout's (e.g. a `git archive` of an older commit with node_modules linked in);
 * `cpus`: pinned there (taskset).
 */
export function startGatehouse(
  dir: string,
  lines: string[],
  opts: {
    nodeArgs?: string[];
    env?: NodeJS.ProcessEnv;
    name?: string;
    root?: string;
    cpus?: string;
  } = {},
): Promise<ChildProcess> {
  const file = join(dir, `${opts.name ?? "gatehouse"}.yaml`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  // The other checkout's own server script, which imports that checkout's edge.
  const server = opts.root
    ? join(opts.root, "bench/dns/gatehouse-server.ts")
    : new URL("./gatehouse-server.ts", import.meta.url).pathname;
  return start(
    process.execPath,
    [...(opts.nodeArgs ?? []), server, file],
    "ready",
    opts.env ?? process.env,
    opts.cpus,
  );
}
