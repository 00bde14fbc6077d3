// What one proxied request costs the proxy process: heap bytes allocated, CPU (user and system)
// and GC time per request, the proxy running in this process (the bundle of gatehouse-proxy.ts:
// ten HTTP policies, every request evaluating all of them), wrk and the origin in processes of
// their own. Allocation is counted by V8's GC profiler: the heap used before each collection less
// the heap used after the previous one, plus what is used at the end less the last collection's
// remainder; promoted bytes are what scavenges moved into the old generation (what outlived the
// young one: copied twice, then collected by a full collection). Requests are the query-log
// records pushed.
//   node bench/proxy/alloc.ts [--seconds 6] [--warmup 2] [--connections 50] [--new-connection]
//     [--compare <old checkout>] [--rounds 2] [--pin]
// --compare runs this tree and the other one alternately (--rounds pairs), each in a fresh
// process, the same origin and load: a same-run before/after pair. --pin: the proxy on CPU 0,
// wrk and the origin on CPU 1.
// --inspect: inspected HTTPS instead (the bundle and leaf minter of gatehouse-proxy.ts
// --inspect-dir, an HTTPS origin, `tls-load.ts --handshakes` instead of wrk: a new connection,
// CONNECT and full TLS handshake per request, leaf already cached): what one inspected handshake
// allocates. --resume: every connection after a loop's first resumes the session before.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { GCProfiler } from "node:v8";
import { freePort, waitPort } from "./ports.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "6" },
    warmup: { type: "string", default: "2" },
    connections: { type: "string", default: "50" },
    "new-connection": { type: "boolean", default: false },
    compare: { type: "string" },
    rounds: { type: "string", default: "2" },
    pin: { type: "boolean", default: false },
    inspect: { type: "boolean", default: false },
    resume: { type: "boolean", default: false },
    // internal: one measured proxy process
    child: { type: "boolean", default: false },
    root: { type: "string" },
    "origin-port": { type: "string" },
    /** --inspect, internal: the origin's CA (PEM file). */
    "origin-ca": { type: "string" },
    /** Where allocation is sampled: a .heapprofile written here (every 256 bytes, freed or not). */
    "heap-sample": { type: "string" },
    /** Only serve (for strace or perf from outside): print the port, run until SIGTERM. */
    serve: { type: "boolean", default: false },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);
const NEW_CONNECTION = values["new-connection"];
const INSPECT = values.inspect;
const TLS_HOST = "localhost";
const here = resolve(import.meta.dirname, "../..");

interface Result {
  requests: number;
  bytesPerRequest: number;
  userUsPerRequest: number;
  systemUsPerRequest: number;
  gcMsPer1k: number;
  collections: number;
  /** Moved into the old generation by scavenges: what outlived the young generation. */
  promotedPerRequest: number;
  /** Of gcMsPer1k, in scavenges (the rest: full collections). */
  scavengeMsPer1k: number;
}

/** wrk against the proxy for `seconds`, in a child process (this one keeps serving); its output. */
function runWrk(port: number, script: string, seconds: number): Promise<string> {
  const args = [
    "-t2",
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    "-s",
    script,
    `http://127.0.0.1:${port}`,
  ];
  const c = values.pin ? spawn("taskset", ["-c", "1", "wrk", ...args]) : spawn("wrk", args);
  let out = "";
  c.stdout.on("data", (d) => {
    out += d;
  });
  return new Promise((done, fail) =>
    c.on("exit", (code) => (code === 0 ? done(out) : fail(new Error(`wrk exited ${code}`)))),
  );
}

/** --inspect: tls-load.ts --handshakes through the proxy for `seconds`; its JSON line. */
function runTlsLoad(
  port: number,
  originPort: number,
  ca: string,
  seconds: number,
): Promise<string> {
  const args = [
    join(import.meta.dirname, "tls-load.ts"),
    "--proxy-port",
    String(port),
    "--host",
    TLS_HOST,
    "--port",
    String(originPort),
    "--ca",
    ca,
    "--connections",
    String(Math.min(CONNECTIONS, 8)),
    "--duration",
    String(seconds),
    "--handshakes",
    ...(values.resume ? ["--resume"] : []),
  ];
  const c = values.pin
    ? spawn("taskset", ["-c", "1", process.execPath, ...args])
    : spawn(process.execPath, args);
  let out = "";
  c.stdout.on("data", (d) => {
    out += d;
  });
  return new Promise((done, fail) =>
    c.on("exit", (code) => (code === 0 ? done(out) : fail(new Error(`tls-load exited ${code}`)))),
  );
}

async function child(): Promise<void> {
  const root = values.root ?? here;
  const originPort = Number(values["origin-port"]);
  const { startProxy } = await import(join(root, "packages/edge/src/proxy/index.ts"));
  const { compileSnapshot } = await import(join(root, "packages/edge/src/snapshot.ts"));
  const { QueryLog } = await import(join(root, "packages/edge/src/telemetry/query-log.ts"));
  const { benchBundle } = await import(join(root, "bench/proxy/bench-bundle.ts"));
  const { Registry } = await import("prom-client");
  const inspect = INSPECT
    ? {
        host: TLS_HOST,
        port: originPort,
        originCa: readFileSync(String(values["origin-ca"]), "utf8"),
      }
    : undefined;
  const snapshot = compileSnapshot(benchBundle(443, inspect));
  const resolver = {
    resolve: async (name: string) =>
      inspect !== undefined && name === inspect.host
        ? { addresses: ["127.0.0.1"], rcode: "NOERROR" }
        : { addresses: [], rcode: "NXDOMAIN" },
  };
  const log = new QueryLog(65_536);
  setInterval(() => log.drain(), 1000).unref();
  let minter: unknown;
  const dir = mkdtempSync(join(tmpdir(), "gh-alloc-"));
  const rootCa = join(dir, "gatehouse-root.pem");
  if (inspect !== undefined) {
    const { LeafMinter } = await import(join(root, "packages/edge/src/tls/leaf-minter.ts"));
    const { testPki } = await import(join(root, "packages/edge/test/tls-pki.ts"));
    const pki = await testPki();
    const m = new LeafMinter();
    m.setIssuer(pki.issuer);
    writeFileSync(rootCa, pki.root);
    minter = m;
  }
  const proxy = await startProxy({
    listen: ["127.0.0.1:0"],
    getSnapshot: () => snapshot,
    resolver,
    log,
    registry: new Registry(),
    ...(minter === undefined ? {} : { minter }),
  });
  const port: number = proxy.addresses[0].port;
  if (values.serve) {
    process.stdout.write(`listening ${port}\n`);
    process.on("SIGTERM", () => process.exit(0));
    return;
  }
  const script = join(dir, "absolute-form.lua");
  writeFileSync(
    script,
    `wrk.method = "GET"\nwrk.path = "http://127.0.0.1:${originPort}/1k"\nwrk.headers["Host"] = "127.0.0.1:${originPort}"\n${NEW_CONNECTION ? 'wrk.headers["Connection"] = "close"\n' : ""}`,
  );
  const load = (seconds: number) =>
    INSPECT ? runTlsLoad(port, originPort, rootCa, seconds) : runWrk(port, script, seconds);
  await load(WARMUP);
  globalThis.gc?.();
  const sampler = values["heap-sample"] === undefined ? undefined : await startSampling();
  const profiler = new GCProfiler();
  profiler.start();
  const pushed0: number = log.pushed;
  const cpu0 = process.cpuUsage();
  const out = await load(SECONDS);
  const cpu = process.cpuUsage(cpu0);
  const requests = log.pushed - pushed0;
  const { getHeapStatistics } = await import("node:v8");
  const usedNow = getHeapStatistics().used_heap_size;
  const prof = profiler.stop();
  const stats = prof?.statistics ?? [];
  let allocated = 0;
  let gcUs = 0;
  let prevAfter: number | undefined;
  let promoted = 0;
  let scavengeUs = 0;
  const oldUsed = (h: { spaceName: string; spaceUsedSize: number }[]) =>
    h.reduce((n, x) => (x.spaceName === "old_space" ? n + x.spaceUsedSize : n), 0);
  for (const s of stats) {
    if (s.gcType === "Scavenge")
      promoted += oldUsed(s.afterGC.heapSpaceStatistics) - oldUsed(s.beforeGC.heapSpaceStatistics);
    const before = s.beforeGC.heapStatistics.usedHeapSize;
    const after = s.afterGC.heapStatistics.usedHeapSize;
    if (prevAfter !== undefined) allocated += before - prevAfter;
    prevAfter = after;
    gcUs += s.cost;
    if (s.gcType === "Scavenge") scavengeUs += s.cost;
  }
  if (prevAfter !== undefined) allocated += usedNow - prevAfter;
  if (sampler !== undefined) writeFileSync(values["heap-sample"] ?? "", await sampler());
  const total = INSPECT
    ? Number((JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { requests?: number }).requests)
    : Number(/(\d+) requests in/.exec(out)?.[1]);
  const n = requests > 0 ? requests : total;
  const r: Result = {
    requests: n,
    bytesPerRequest: allocated / n,
    userUsPerRequest: cpu.user / n,
    systemUsPerRequest: cpu.system / n,
    gcMsPer1k: (gcUs / 1000 / n) * 1000,
    collections: stats.length,
    promotedPerRequest: promoted / n,
    scavengeMsPer1k: (scavengeUs / 1000 / n) * 1000,
  };
  process.stdout.write(`${JSON.stringify(r)}\n`);
  rmSync(dir, { recursive: true, force: true });
  await proxy.close();
  process.exit(0);
}

/** Sample every allocation site, including objects already collected; returns the stopper. */
async function startSampling(): Promise<() => Promise<string>> {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("HeapProfiler.enable");
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return async () => {
    const { profile } = await session.post("HeapProfiler.stopSampling");
    session.disconnect();
    return JSON.stringify(profile);
  };
}

async function parent(): Promise<void> {
  const originPort = await freePort();
  let originArgs = [join(import.meta.dirname, "origin.ts"), String(originPort)];
  let originCa = "";
  const pkiDir = mkdtempSync(join(tmpdir(), "gh-alloc-pki-"));
  if (INSPECT) {
    // An HTTPS origin on a certificate of its own test CA, which the proxy's bundle trusts.
    const { originCert, testPki } = await import("../../packages/edge/test/tls-pki.ts");
    const pki = await testPki();
    const leaf = await originCert(pki, TLS_HOST);
    const file = (name: string, text: string) => {
      const f = join(pkiDir, name);
      writeFileSync(f, text);
      return f;
    };
    originCa = file("origin-ca.pem", pki.root);
    originArgs = [
      join(import.meta.dirname, "tls-origin.ts"),
      String(originPort),
      file("origin.pem", leaf.cert),
      file("origin.key", leaf.key),
    ];
  }
  const origin: ChildProcess = values.pin
    ? spawn("taskset", ["-c", "1", process.execPath, ...originArgs], { stdio: "ignore" })
    : spawn(process.execPath, originArgs, { stdio: "ignore" });
  process.on("exit", () => origin.kill("SIGKILL"));
  await waitPort(originPort);
  const trees: [string, string][] = [["after", here]];
  if (values.compare !== undefined) trees.push(["before", resolve(values.compare)]);
  const rounds = values.compare === undefined ? 1 : Math.max(1, Number(values.rounds));
  const what = INSPECT
    ? `tls-load --handshakes${values.resume ? " --resume" : ""} -c${Math.min(CONNECTIONS, 8)} -d${SECONDS}s: a new connection, CONNECT and TLS handshake per request`
    : `wrk -t2 -c${CONNECTIONS} -d${SECONDS}s, ${NEW_CONNECTION ? "a new connection per request" : "keep-alive"}`;
  console.log(
    `# ${process.version}, ${readFileSync("/proc/loadavg", "utf8").trim()} load before; ${what}, 1 KiB${values.pin ? ", proxy on CPU 0, the load and origin on CPU 1" : ""}`,
  );
  console.log(
    "| tree | round | requests | bytes/req | promoted bytes/req | user µs/req | sys µs/req | CPU ms/1k | GC ms/1k | of it scavenges | collections |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? trees : [...trees].reverse();
    for (const [name, root] of order) {
      const args = [
        "--expose-gc",
        join(import.meta.dirname, "alloc.ts"),
        "--child",
        "--root",
        root,
        "--origin-port",
        String(originPort),
        "--seconds",
        String(SECONDS),
        "--warmup",
        String(WARMUP),
        "--connections",
        String(CONNECTIONS),
        ...(NEW_CONNECTION ? ["--new-connection"] : []),
        ...(values.pin ? ["--pin"] : []),
        ...(INSPECT ? ["--inspect", "--origin-ca", originCa] : []),
        ...(values.resume ? ["--resume"] : []),
        // Each child samples into its own file: <path>.<tree>.<round>.heapprofile.
        ...(values["heap-sample"] === undefined
          ? []
          : ["--heap-sample", `${values["heap-sample"]}.${name}.${round}.heapprofile`]),
      ];
      const out = values.pin
        ? execFileSync("taskset", ["-c", "0", process.execPath, ...args], { encoding: "utf8" })
        : execFileSync(process.execPath, args, { encoding: "utf8" });
      const r = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as Result;
      const cpu = r.userUsPerRequest + r.systemUsPerRequest;
      console.log(
        `| ${name} | ${round} | ${r.requests} | ${Math.round(r.bytesPerRequest)} | ${Math.round(r.promotedPerRequest)} | ${r.userUsPerRequest.toFixed(1)} | ${r.systemUsPerRequest.toFixed(1)} | ${cpu.toFixed(1)} | ${r.gcMsPer1k.toFixed(2)} | ${r.scavengeMsPer1k.toFixed(2)} | ${r.collections} |`,
      );
    }
  }
  console.log(`# ${readFileSync("/proc/loadavg", "utf8").trim()} load after`);
  // The origin would keep this process (and a benchmark lock held around it) alive.
  origin.kill("SIGKILL");
  rmSync(pkiDir, { recursive: true, force: true });
  process.exit(0);
}

if (values.child) await child();
else await parent();
