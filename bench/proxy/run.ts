// HTTP proxy benchmark: wrk with keep-alive through Gatehouse, squid (cache off), haproxy and
// privoxy to one local origin serving 1 KiB (nginx when installed, else a node:http origin),
// plus CONNECT tunnel throughput both ways (client → destination and back). Every proxy runs
// alone in turn, same origin, same load. Gatehouse runs twice: the proxy alone in one process,
// and the whole edge (`gatehouse edge --config`, `edge.workers: 2`).
//   node bench/proxy/run.ts [--duration 10] [--connections 50] [--tunnel-mib 2048]
//     [--only squid,gatehouse] [--new-connection] (--tunnel-mib 0: no tunnels)
//     [--pin] [--compare <old checkout>] [--inspect] [--profile DIR] [--rounds N]
//     [--resume] [--load-workers N] (--inspect)
// --new-connection: every request on a new client connection (`Connection: close`; wrk dials
// again after each answer) instead of keep-alive. --pin: each proxy on CPU 0, wrk and the
// origin on CPU 1 (taskset). --compare: also run `gatehouse-before`, the one-process proxy of
// another checkout of this repository (a directory with bench/ and packages/, e.g. extracted
// with `git archive`, its node_modules a link to this one's and its native addon built), right
// after `gatehouse`, so before/after come from the same run.
// --inspect: inspected HTTPS instead (issue 15): a local HTTPS origin (its own test CA) named
// `localhost`, reached through CONNECT and TLS inside by tls-load.ts (wrk cannot CONNECT) with
// keep-alive 1 KiB requests — or, with --new-connection, a new TCP connection, CONNECT and full
// TLS handshake per request (handshakes/s; leaves already cached by the warm-up) — through
// Gatehouse inspecting (ten HTTP policies, leaves from a test PKI), squid-openssl bumping every
// CONNECT (ssl-bump, generated host certificates, cache off) and mitmdump. Each proxy decrypts
// with a CA of its own (P-256) that the load generator trusts alone, and verifies the origin
// against the origin's CA. --compare runs `gatehouse-before` (inspecting) there too, and
// --rounds N runs the plan N times in turn and reports each proxy's medians (on a loaded machine
// a lone run of each is mostly noise). --resume (with --new-connection): each new connection
// resumes the previous one's TLS session (the proxy's ticket): the resumed-handshake figure.
// --load-workers N: tls-load.ts runs its loops on N threads. "proxy CPU" is the proxy's CPU time
// over the run's wall time: well under one core, the proxy was not the limit and its rate is the
// load generator's (or the machine's) — the CPU per handshake is then the figure to compare.
// Prints a markdown table (ratios against squid) for docs/benchmarks.md.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { originCert, testPki } from "../../packages/edge/test/tls-pki.ts";
import { benchBundle } from "./bench-bundle.ts";
import { freePort, waitPort } from "./ports.ts";
import { cpuSeconds, squidBumpConf } from "./proc-cpu.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
    threads: { type: "string", default: "2" },
    "tunnel-mib": { type: "string", default: "2048" },
    only: { type: "string" },
    "new-connection": { type: "boolean", default: false },
    pin: { type: "boolean", default: false },
    compare: { type: "string" },
    inspect: { type: "boolean", default: false },
    profile: { type: "string" },
    rounds: { type: "string", default: "1" },
    resume: { type: "boolean", default: false },
    "load-workers": { type: "string", default: "1" },
  },
});
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const THREADS = Number(values.threads);
const TUNNEL_BYTES = Number(values["tunnel-mib"]) * 1024 * 1024;
const ONLY = values.only?.split(",");
const NEW_CONNECTION = values["new-connection"];
const PIN = values.pin;
const COMPARE = values.compare;
const INSPECT = values.inspect;
/** `--rounds N` (--inspect): the whole plan N times in turn; medians in the table. */
const ROUNDS = Math.max(1, Number(values.rounds));
/** `--resume` (--inspect --new-connection): every handshake after a loop's first resumes. */
const RESUME = values.resume;
/** `--load-workers N` (--inspect): tls-load.ts's loops on N threads. */
const LOAD_WORKERS = Math.max(1, Number(values["load-workers"]));
/** `--profile DIR`: the one-process Gatehouse runs with `--cpu-prof` into DIR (where its time goes). */
const PROFILE = values.profile;
/** The inspected origin's name: every proxy resolves it (squid and mitmproxy from /etc/hosts). */
const TLS_HOST = "localhost";
/** CPU lists for taskset when pinning: the proxy's, and the load's (wrk, origin). */
const PROXY_CPU = "0";
const LOAD_CPU = "1";

const dir = mkdtempSync(join(tmpdir(), "gh-bench-proxy-"));
chmodSync(dir, 0o777); // squid and nginx workers drop privileges and write logs here
const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function which(cmd: string): string | undefined {
  for (const d of ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]) {
    if (existsSync(join(d, cmd))) return join(d, cmd);
  }
  return undefined;
}

/** `cmd args`, under `taskset -c cpus` when pinning (taskset execs: the pid stays the command's). */
function pinned(cpus: string, cmd: string, args: string[]): [string, string[]] {
  return PIN ? ["taskset", ["-c", cpus, cmd, ...args]] : [cmd, args];
}

function start(
  command: string,
  commandArgs: string[],
  label: string,
  cpus = PROXY_CPU,
): ChildProcess {
  const [cmd, args] = pinned(cpus, command, commandArgs);
  const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  c.stderr!.on("data", (d) => {
    err += d;
  });
  c.stdout!.resume();
  c.on("exit", (code, sig) => {
    if (code !== 0 && sig === null)
      process.stderr.write(`${label} exited ${code}: ${err.slice(-500)}\n`);
  });
  children.push(c);
  return c;
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill("SIGTERM");
  const t = setTimeout(() => c.kill("SIGKILL"), 5000);
  await once(c, "exit");
  clearTimeout(t);
}

// ---- origin ----------------------------------------------------------------------------
const BODY = "x".repeat(1024);
async function startOrigin(): Promise<{ port: number; kind: string; proc: ChildProcess }> {
  const port = await freePort();
  const nginx = which("nginx");
  if (nginx) {
    writeFileSync(
      join(dir, "nginx.conf"),
      `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  server {
    listen 127.0.0.1:${port};
    location / { default_type application/octet-stream; return 200 "${BODY}"; }
  }
}
`,
    );
    const proc = start(
      nginx,
      ["-e", `${dir}/nginx-error.log`, "-c", join(dir, "nginx.conf")],
      "nginx",
      LOAD_CPU,
    );
    await waitPort(port);
    return { port, kind: "nginx", proc };
  }
  const proc = start(
    process.execPath,
    [join(import.meta.dirname, "origin.ts"), String(port)],
    "origin",
    LOAD_CPU,
  );
  await waitPort(port);
  return { port, kind: "node:http", proc };
}

// ---- proxies ---------------------------------------------------------------------------
interface Proxy {
  name: string;
  procs: ChildProcess[];
  port: number;
  tunnel: boolean;
}

async function startGatehouse(
  name: string,
  processes: number,
  sinkPort: number,
  root = join(import.meta.dirname, "../.."),
  extraArgs: string[] = [],
): Promise<Proxy> {
  const port = await freePort();
  const procs: ChildProcess[] = [];
  for (let i = 0; i < processes; i++) {
    procs.push(
      start(
        process.execPath,
        [
          ...(PROFILE === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`]),
          join(root, "bench/proxy/gatehouse-proxy.ts"),
          "--port",
          String(port),
          "--connect-port",
          String(sinkPort),
          ...extraArgs,
        ],
        name,
      ),
    );
  }
  await waitPort(port);
  await new Promise((r) => setTimeout(r, 500)); // let every process finish listening
  return { name, procs, port, tunnel: true };
}

/** The whole edge as deployed: `gatehouse edge --config` with `edge.workers` processes sharing
 * the proxy port (SO_REUSEPORT), same bundle as gatehouse-proxy.ts. */
async function startGatehouseEdge(name: string, workers: number, sinkPort: number): Promise<Proxy> {
  const port = await freePort();
  const file = join(dir, `${name}.yaml`);
  // JSON is YAML.
  writeFileSync(
    file,
    JSON.stringify({
      ...benchBundle(sinkPort),
      edge: { workers, proxy: { http: [`127.0.0.1:${port}`] } },
    }),
  );
  const cli = join(import.meta.dirname, "../../packages/gatehouse/src/cli.ts");
  const proc = start(process.execPath, [cli, "edge", "--config", file], name);
  await waitPort(port);
  await new Promise((r) => setTimeout(r, 1000)); // let every worker finish listening
  return { name, procs: [proc], port, tunnel: true };
}

async function startSquid(): Promise<Proxy> {
  const port = await freePort();
  writeFileSync(
    join(dir, "squid.conf"),
    `http_port 127.0.0.1:${port}
acl localnet src 127.0.0.0/8
http_access allow localnet
http_access deny all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log ${dir}/squid-cache.log
pid_filename ${dir}/squid.pid
coredump_dir ${dir}
shutdown_lifetime 0 seconds
max_filedescriptors 16384
`,
  );
  const proc = start("squid", ["-N", "-d", "0", "-f", join(dir, "squid.conf")], "squid");
  await waitPort(port);
  return { name: "squid", procs: [proc], port, tunnel: true };
}

async function startHaproxy(originPort: number): Promise<Proxy> {
  const port = await freePort();
  writeFileSync(
    join(dir, "haproxy.cfg"),
    `global
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  http-reuse always
  server origin 127.0.0.1:${originPort}
`,
  );
  const proc = start("haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], "haproxy");
  await waitPort(port);
  return { name: "haproxy", procs: [proc], port, tunnel: false };
}

async function startPrivoxy(): Promise<Proxy> {
  const port = await freePort();
  writeFileSync(join(dir, "bench.action"), "{+limit-connect{1-}}\n/\n");
  writeFileSync(
    join(dir, "privoxy.conf"),
    `confdir ${dir}
logdir ${dir}
actionsfile bench.action
listen-address 127.0.0.1:${port}
toggle 1
enable-remote-toggle 0
keep-alive-timeout 300
socket-timeout 300
connection-sharing 1
max-client-connections 4096
`,
  );
  const proc = start("privoxy", ["--no-daemon", join(dir, "privoxy.conf")], "privoxy");
  await waitPort(port);
  return { name: "privoxy", procs: [proc], port, tunnel: true };
}

/** Start one proxy of the plan; when it cannot run, a note in `results` says why. */
async function startOne<P extends Proxy>(
  name: string,
  make: () => Promise<P>,
  results: { name: string; note?: string }[],
): Promise<P | undefined> {
  if (!name.startsWith("gatehouse") && !which(name)) {
    results.push({ name, note: "not installed" });
    return undefined;
  }
  try {
    return await make();
  } catch (e) {
    results.push({ name, note: `did not start: ${(e as Error).message}` });
    return undefined;
  }
}

// ---- inspected HTTPS (--inspect) -------------------------------------------------------
interface TlsSetup {
  /** The HTTPS origin's port (127.0.0.1 and ::1). */
  port: number;
  proc: ChildProcess;
  /** PEM files: the origin's CA; each proxy's own CA (certificate, and key where it needs one). */
  originCa: string;
  squidCa: string;
  squidKey: string;
  mitmDir: string;
  mitmCa: string;
}

/** Three throwaway PKIs (origin, squid, mitmproxy; Gatehouse makes its own) and the origin. */
async function startTlsOrigin(): Promise<TlsSetup> {
  const pem = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text, { mode: 0o644 });
    return f;
  };
  const originPki = await testPki();
  const leaf = await originCert(originPki, TLS_HOST);
  const certFile = pem("origin.pem", leaf.cert);
  const keyFile = pem("origin.key", leaf.key);
  const originCa = pem("origin-ca.pem", originPki.root);
  const keyPem = (k: typeof originPki.rootKey) =>
    k.export({ type: "pkcs8", format: "pem" }).toString();
  const squidPki = await testPki();
  const squidCa = pem("squid-ca.pem", squidPki.root);
  const squidKey = pem("squid-ca.key", keyPem(squidPki.rootKey));
  // mitmproxy's CA file is key and certificate in one (confdir/mitmproxy-ca.pem); given one, it
  // does not generate its own (RSA 2048): every proxy signs with P-256 here.
  const mitmPki = await testPki();
  const mitmDir = join(dir, "mitm");
  mkdirSync(mitmDir);
  pem("mitm/mitmproxy-ca.pem", keyPem(mitmPki.rootKey) + mitmPki.root);
  const mitmCa = pem("mitm/mitmproxy-ca-cert.pem", mitmPki.root);
  const port = await freePort();
  const proc = start(
    process.execPath,
    [join(import.meta.dirname, "tls-origin.ts"), String(port), certFile, keyFile],
    "tls-origin",
    LOAD_CPU,
  );
  await waitPort(port);
  return { port, proc, originCa, squidCa, squidKey, mitmDir, mitmCa };
}

/** A proxy that decrypts, and the CA (PEM file) a client must trust for it. */
interface InspectingProxy extends Proxy {
  ca: string;
}

async function startGatehouseInspecting(
  name: string,
  tls: TlsSetup,
  sinkPort: number,
  root?: string,
): Promise<InspectingProxy> {
  const p = await startGatehouse(name, 1, sinkPort, root, [
    "--inspect-dir",
    dir,
    "--tls-host",
    TLS_HOST,
    "--tls-port",
    String(tls.port),
  ]);
  return { ...p, ca: join(dir, "gatehouse-root.pem") };
}

async function startSquidBump(tls: TlsSetup): Promise<InspectingProxy> {
  const port = await freePort();
  const certgen = "/usr/lib/squid/security_file_certgen";
  const db = join(dir, "squid-ssl-db");
  // certgen -c refuses an existing database: --rounds starts squid again for every round.
  rmSync(db, { recursive: true, force: true });
  execFileSync(certgen, ["-c", "-s", db, "-M", "16MB"], { stdio: "ignore" });
  execFileSync("chown", ["-R", "proxy:proxy", db]);
  writeFileSync(
    join(dir, "squid-bump.conf"),
    squidBumpConf({
      port,
      ca: tls.squidCa,
      key: tls.squidKey,
      originCa: tls.originCa,
      certgen,
      db,
      dir,
    }),
  );
  const proc = start("squid", ["-N", "-d", "0", "-f", join(dir, "squid-bump.conf")], "squid");
  await waitPort(port);
  return { name: "squid", procs: [proc], port, tunnel: false, ca: tls.squidCa };
}

async function startMitmdump(tls: TlsSetup): Promise<InspectingProxy> {
  const port = await freePort();
  const proc = start(
    "mitmdump",
    [
      "--mode",
      "regular",
      "--listen-host",
      "127.0.0.1",
      "--listen-port",
      String(port),
      "--set",
      `confdir=${tls.mitmDir}`,
      "--set",
      `ssl_verify_upstream_trusted_ca=${tls.originCa}`,
      "--set",
      "termlog_verbosity=error",
      "--set",
      "flow_detail=0",
    ],
    "mitmdump",
  );
  await waitPort(port, 30_000);
  return { name: "mitmdump", procs: [proc], port, tunnel: false, ca: tls.mitmCa };
}

/** One HTTPS request through the proxy with curl, trusting only the proxy's CA. */
function tlsSmokeTest(p: InspectingProxy, tls: TlsSetup): void {
  execFileSync("curl", [
    "-sS",
    "--fail",
    "--max-time",
    "10",
    "-o",
    "/dev/null",
    "--cacert",
    p.ca,
    "-x",
    `http://127.0.0.1:${p.port}`,
    `https://${TLS_HOST}:${tls.port}/1k`,
  ]);
}

interface TlsLoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  non2xx: number;
  resumed: number;
  clientCpu: number;
}

/** proxyCpu: the proxy's CPU time ÷ wall time; resumed: the share of handshakes that resumed. */
type TlsRun = HttpResult & { clientCpu: number; proxyCpu: number; resumed: number };

function tlsLoad(
  p: InspectingProxy,
  tls: TlsSetup,
  connections: number,
  seconds: number,
): TlsLoadResult {
  const [cmd, args] = pinned(LOAD_CPU, process.execPath, [
    join(import.meta.dirname, "tls-load.ts"),
    "--proxy-port",
    String(p.port),
    "--host",
    TLS_HOST,
    "--port",
    String(tls.port),
    "--ca",
    p.ca,
    "--connections",
    String(connections),
    "--duration",
    String(seconds),
    ...(NEW_CONNECTION ? ["--handshakes"] : []),
    ...(NEW_CONNECTION && RESUME ? ["--resume"] : []),
    "--workers",
    String(LOAD_WORKERS),
  ]);
  const out = execFileSync(cmd, args, { encoding: "utf8", timeout: (seconds + 60) * 1000 });
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as TlsLoadResult;
}

function runTls(p: InspectingProxy, tls: TlsSetup): TlsRun {
  const cpu0 = p.procs.reduce((s, c) => s + cpuSeconds(c.pid ?? 0), 0);
  const t0 = performance.now();
  const r = tlsLoad(p, tls, CONNECTIONS, DURATION);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = p.procs.reduce((s, c) => s + cpuSeconds(c.pid ?? 0), 0);
  const errors = [
    r.errors > 0 ? `${r.errors} failed connections or requests` : "",
    r.non2xx > 0 ? `${r.non2xx} non-2xx` : "",
  ]
    .filter(Boolean)
    .join("; ");
  return {
    rps: r.rps,
    p50ms: r.p50ms,
    p99ms: r.p99ms,
    cpuPerKReq: ((cpu1 - cpu0) / r.requests) * 1000,
    errors,
    clientCpu: r.clientCpu,
    proxyCpu: (cpu1 - cpu0) / wall,
    resumed: r.requests === 0 ? 0 : r.resumed / r.requests,
  };
}

async function mainInspect(): Promise<void> {
  const sinkPort = await freePort();
  const tls = await startTlsOrigin();
  console.log(
    `# ${process.version}, ${cpuModel()}, ${readFileSync("/proc/loadavg", "utf8").trim()} load before`,
  );
  console.log(
    `# inspected HTTPS: origin node:https serving 1 KiB (${TLS_HOST}); tls-load.ts -c${CONNECTIONS} -d${DURATION}s --workers ${LOAD_WORKERS}, ${NEW_CONNECTION ? `a new connection and ${RESUME ? "a TLS handshake resuming the previous session" : "full TLS handshake"} per request` : "keep-alive"}${PIN ? ", proxy pinned to CPU 0, load generator and origin to CPU 1" : ""}`,
  );
  const plan: [string, () => Promise<InspectingProxy>][] = [
    ["squid", () => startSquidBump(tls)],
    ["gatehouse", () => startGatehouseInspecting("gatehouse", tls, sinkPort)],
    ...(COMPARE === undefined
      ? []
      : [
          [
            "gatehouse-before",
            () => startGatehouseInspecting("gatehouse-before", tls, sinkPort, COMPARE),
          ] as [string, () => Promise<InspectingProxy>],
        ]),
    ["mitmdump", () => startMitmdump(tls)],
  ];
  const results: { name: string; http?: TlsRun; note?: string }[] = [];
  // Per proxy, the runs of every round (--rounds: the plan runs again in the same order, so a
  // change in the machine's load hits every proxy alike); the table shows their medians.
  const runs = new Map<string, TlsRun[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, make] of plan) {
      if (ONLY && !ONLY.includes(name)) continue;
      if (results.some((r) => r.name === name && r.note !== undefined)) continue;
      const p = await startOne(name, make, results);
      if (p === undefined) continue;
      let http: TlsRun | undefined;
      try {
        tlsSmokeTest(p, tls);
        // Warm-up: JIT, pools, and the leaf for the name minted (and cached) by every proxy.
        tlsLoad(p, tls, 10, 2);
        http = runTls(p, tls);
      } catch (e) {
        results.push({ name, note: `failed: ${(e as Error).message.split("\n")[0]}` });
      }
      for (const c of p.procs) await stop(c);
      if (http === undefined) continue;
      const list = runs.get(name) ?? [];
      list.push(http);
      runs.set(name, list);
      console.error(
        `${ROUNDS > 1 ? `round ${round} ` : ""}${name}: ${http.rps.toFixed(0)} ${NEW_CONNECTION ? "handshakes" : "req"}/s, p50 ${http.p50ms} ms, p99 ${http.p99ms} ms, CPU ${(http.cpuPerKReq * 1000).toFixed(1)} ms / 1k, proxy CPU ${(http.proxyCpu * 100).toFixed(0)} %, client CPU ${(http.clientCpu * 100).toFixed(0)} %${RESUME ? `, ${(http.resumed * 100).toFixed(0)} % resumed` : ""}${http.errors ? ` (${http.errors})` : ""}`,
      );
    }
  }
  for (const [name, list] of runs) {
    const med = (f: (r: TlsRun) => number) => median(list.map(f));
    results.push({
      name,
      http: {
        rps: med((r) => r.rps),
        p50ms: med((r) => r.p50ms),
        p99ms: med((r) => r.p99ms),
        cpuPerKReq: med((r) => r.cpuPerKReq),
        clientCpu: med((r) => r.clientCpu),
        proxyCpu: med((r) => r.proxyCpu),
        resumed: med((r) => r.resumed),
        errors: list
          .map((r) => r.errors)
          .filter(Boolean)
          .join("; "),
      },
      ...(list.length > 1
        ? {
            note: `median of ${list.length}; CPU ${list.map((r) => (r.cpuPerKReq * 1000).toFixed(0)).join("/")}`,
          }
        : {}),
    });
  }
  await stop(tls.proc);
  const base = results.find((r) => r.name === "squid" && r.http)?.http;
  const unit = NEW_CONNECTION ? "handshakes/s" : "req/s";
  console.log(
    `\n| proxy | ${unit} | vs squid ssl-bump | p50 ms | p99 ms | CPU ms / 1k req | CPU vs squid | proxy CPU | load generator CPU | ${RESUME ? "resumed | " : ""}note |`,
  );
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|${RESUME ? "---:|" : ""}---|`);
  for (const r of results) {
    const h = r.http;
    console.log(
      `| ${r.name} | ${h ? h.rps.toFixed(0) : "–"} | ${ratio(h?.rps, base?.rps)} | ${h ? h.p50ms.toFixed(2) : "–"} | ${h ? h.p99ms.toFixed(2) : "–"} | ${h ? (h.cpuPerKReq * 1000).toFixed(0) : "–"} | ${ratio(h?.cpuPerKReq, base?.cpuPerKReq)} | ${h ? `${(h.proxyCpu * 100).toFixed(0)} %` : "–"} | ${h ? `${(h.clientCpu * 100).toFixed(0)} %` : "–"} | ${RESUME ? `${h ? `${(h.resumed * 100).toFixed(0)} %` : "–"} | ` : ""}${[r.note, h?.errors].filter(Boolean).join("; ")} |`,
    );
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function cpuModel(): string {
  return /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
}

const ratio = (v: number | undefined, b: number | undefined) =>
  v && b ? `${(v / b).toFixed(2)}×` : "–";

// ---- load ------------------------------------------------------------------------------
interface HttpResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  cpuPerKReq: number;
  errors: string;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

function smokeTest(proxyPort: number, originPort: number): void {
  execFileSync("curl", [
    "-sS",
    "--fail",
    "--max-time",
    "5",
    "-o",
    "/dev/null",
    "-x",
    `http://127.0.0.1:${proxyPort}`,
    `http://127.0.0.1:${originPort}/1k`,
  ]);
}

function runWrk(p: Proxy): HttpResult {
  const script = join(dir, "absolute-form.lua");
  const cpu0 = p.procs.reduce((s, c) => s + cpuSeconds(c.pid!), 0);
  const [wrk, wrkArgs] = pinned(LOAD_CPU, "wrk", [
    "-t",
    String(THREADS),
    "-c",
    String(CONNECTIONS),
    "-d",
    `${DURATION}s`,
    "--latency",
    "-s",
    script,
    `http://127.0.0.1:${p.port}`,
  ]);
  const out = execFileSync(wrk, wrkArgs, { encoding: "utf8" });
  const cpu1 = p.procs.reduce((s, c) => s + cpuSeconds(c.pid!), 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const total = Number(/(\d+) requests in/.exec(out)?.[1]);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? "");
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? "");
  const errors = [
    /Socket errors:[^\n]*/.exec(out)?.[0],
    /Non-2xx or 3xx responses: \d+/.exec(out)?.[0],
  ]
    .filter(Boolean)
    .join("; ");
  return { rps, p50ms: p50, p99ms: p99, cpuPerKReq: ((cpu1 - cpu0) / total) * 1000, errors };
}

/** Bytes/s through one CONNECT tunnel, client to sink (up) or sink to client (down); client
 * and sink are their own processes. */
function tunnelThroughput(proxyPort: number, sinkPort: number, direction: "up" | "down"): number {
  const out = execFileSync(
    process.execPath,
    [
      join(import.meta.dirname, "tunnel-client.ts"),
      String(proxyPort),
      String(sinkPort),
      String(TUNNEL_BYTES),
      direction,
    ],
    { encoding: "utf8", timeout: 120_000 },
  );
  return Number(out.trim());
}

// ---- main ------------------------------------------------------------------------------
if (INSPECT) {
  await mainInspect();
  process.exit(0);
}
const origin = await startOrigin();
const sinkPort = await freePort();
const sinkProc = start(
  process.execPath,
  [join(import.meta.dirname, "tunnel-sink.ts"), String(sinkPort), String(TUNNEL_BYTES)],
  "sink",
  LOAD_CPU,
);
await waitPort(sinkPort);

// wrk has no proxy mode: send absolute-form targets to the proxy's port (RFC 9112 §3.2.2).
writeFileSync(
  join(dir, "absolute-form.lua"),
  `wrk.method = "GET"\nwrk.path = "http://127.0.0.1:${origin.port}/1k"\nwrk.headers["Host"] = "127.0.0.1:${origin.port}"\n${NEW_CONNECTION ? 'wrk.headers["Connection"] = "close"\n' : ""}`,
);

console.log(
  `# ${process.version}, ${cpuModel()}, ${readFileSync("/proc/loadavg", "utf8").trim()} load before`,
);
console.log(
  `# origin: ${origin.kind} serving 1 KiB; wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}s, ${NEW_CONNECTION ? "a new connection per request" : "keep-alive"}${PIN ? ", proxy pinned to CPU 0, wrk and origin to CPU 1" : ""}; tunnel ${TUNNEL_BYTES / 1048576} MiB`,
);

const plan: [string, () => Promise<Proxy>][] = [
  ["squid", startSquid],
  ["gatehouse", () => startGatehouse("gatehouse", 1, sinkPort)],
  ...(COMPARE === undefined
    ? []
    : [
        ["gatehouse-before", () => startGatehouse("gatehouse-before", 1, sinkPort, COMPARE)] as [
          string,
          () => Promise<Proxy>,
        ],
      ]),
  ["gatehouse-edge-2w", () => startGatehouseEdge("gatehouse-edge-2w", 2, sinkPort)],
  ["haproxy", () => startHaproxy(origin.port)],
  ["privoxy", startPrivoxy],
];
const results: {
  name: string;
  http?: HttpResult;
  tunnel?: number;
  tunnelDown?: number;
  note?: string;
}[] = [];
for (const [name, make] of plan) {
  if (ONLY && !ONLY.includes(name) && !(name === "gatehouse-before" && ONLY.includes("gatehouse")))
    continue;
  const p = await startOne(name, make, results);
  if (p === undefined) continue;
  try {
    smokeTest(p.port, origin.port);
    // Warm-up (JIT, pools), then the measured run.
    execFileSync(
      ...pinned(LOAD_CPU, "wrk", [
        "-t1",
        "-c10",
        "-d2s",
        "-s",
        join(dir, "absolute-form.lua"),
        `http://127.0.0.1:${p.port}`,
      ]),
      { stdio: "ignore" },
    );
  } catch (e) {
    results.push({ name, note: `smoke test failed: ${(e as Error).message.split("\n")[0]}` });
    for (const c of p.procs) await stop(c);
    continue;
  }
  const http = runWrk(p);
  let tunnel: number | undefined;
  let tunnelDown: number | undefined;
  let note: string | undefined;
  if (p.tunnel && TUNNEL_BYTES > 0) {
    try {
      tunnel = tunnelThroughput(p.port, sinkPort, "up");
      tunnelDown = tunnelThroughput(p.port, sinkPort, "down");
    } catch (e) {
      note = (e as Error).message;
    }
  } else if (!p.tunnel) note = "no CONNECT (reverse proxy)";
  results.push({
    name,
    http,
    ...(tunnel === undefined ? {} : { tunnel }),
    ...(tunnelDown === undefined ? {} : { tunnelDown }),
    ...(note ? { note } : {}),
  });
  for (const c of p.procs) await stop(c);
  console.error(
    `${name}: ${http.rps.toFixed(0)} req/s, p50 ${http.p50ms} ms, p99 ${http.p99ms} ms${tunnel ? `, tunnel up ${(tunnel / 1e9).toFixed(2)} GB/s` : ""}${tunnelDown ? `, down ${(tunnelDown / 1e9).toFixed(2)} GB/s` : ""}${http.errors ? ` (${http.errors})` : ""}`,
  );
}
await stop(origin.proc);
await stop(sinkProc);

const base = results.find((r) => r.name === "squid" && r.http);
console.log(
  "\n| proxy | req/s | vs squid | p50 ms | p99 ms | CPU ms / 1k req | CPU vs squid | tunnel up GB/s | vs squid | tunnel down GB/s | vs squid | note |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
for (const r of results) {
  const h = r.http;
  console.log(
    `| ${r.name} | ${h ? h.rps.toFixed(0) : "–"} | ${ratio(h?.rps, base?.http?.rps)} | ${h ? h.p50ms.toFixed(2) : "–"} | ${h ? h.p99ms.toFixed(2) : "–"} | ${h ? (h.cpuPerKReq * 1000).toFixed(0) : "–"} | ${ratio(h?.cpuPerKReq, base?.http?.cpuPerKReq)} | ${r.tunnel ? (r.tunnel / 1e9).toFixed(2) : "–"} | ${ratio(r.tunnel, base?.tunnel)} | ${r.tunnelDown ? (r.tunnelDown / 1e9).toFixed(2) : "–"} | ${ratio(r.tunnelDown, base?.tunnelDown)} | ${[r.note, h?.errors].filter(Boolean).join("; ")} |`,
  );
}
