// `gatehouse up` on a small machine: the RSS of the one process that runs control, the edge and
// the embedded stores (PGlite, DuckDB), started as users start it (the bin script, a fresh data
// directory, the starter configuration), idle, then with a --blocklist N list added through the
// API (optional), then sampled every --sample seconds while dnsperf asks --qps queries a second
// of --names distinct names (an nsd wildcard zone on loopback is the upstream, set through the
// API) for --seconds. Each sample is broken down from /proc/PID/smaps and a probe in the process
// (bench/footprint/probe.ts, SIGUSR2): code (file-backed pages: the node binary, DuckDB's and the
// other native libraries), V8's resident heap, anonymous mappings of 1 GiB or more (WebAssembly
// memories reserved with guard regions; PGlite's was not one in the first run: its ~190 MB mapping
// counts under "other") and the rest of the anonymous memory (PGlite's WASM memory, DuckDB,
// OpenSSL, Node's buffers).
// Run: flock /tmp/bench.lock node bench/footprint/run.ts [--seconds 1800] [--qps 1000]
//        [--names 150000] [--blocklist 0] [--sample 30] [--root DIR] [--port 25700]
//        [--cache-bytes N]

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startWildcardUpstream } from "../dns/wildcard-upstream.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "1800" },
    qps: { type: "string", default: "1000" },
    names: { type: "string", default: "150000" },
    blocklist: { type: "string", default: "0" },
    sample: { type: "string", default: "30" },
    root: { type: "string" },
    /** The first of the seven loopback ports the run takes (nsd, DNS, proxy, API, …). */
    port: { type: "string", default: "25700" },
    /** resolver.cache.maxBytes for the load (answers and packets; default: the config's). */
    "cache-bytes": { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
const SAMPLE_S = Number(values.sample);
const BLOCKLIST = Number(values.blocklist);
const ROOT = resolve(values.root ?? new URL("../..", import.meta.url).pathname);
const dir = mkdtempSync(join(tmpdir(), "gh-bench-footprint-"));
const PORT = Number(values.port);
const PORTS = {
  nsd: PORT,
  dns: PORT + 1,
  proxy: PORT + 2,
  api: PORT + 3,
  metrics: PORT + 4,
  dot: PORT + 5,
  doh: PORT + 6,
};
const TOKEN = `bench-${randomBytes(24).toString("hex")}`;
const PROBE = join(dir, "probe.jsonl");
// The measured tree's own probe when it has one: the probe finds PGlite and DuckDB by wrapping
// the modules it imports, which must be the measured tree's (with --root, this tree's copies
// are other modules, and PGlite's and DuckDB's figures read 0).
const PROBE_MODULE = existsSync(join(ROOT, "bench/footprint/probe.ts"))
  ? join(ROOT, "bench/footprint/probe.ts")
  : new URL("./probe.ts", import.meta.url).pathname;
const owned: ChildProcess[] = [];
const MB = (kb: number) => Math.round(kb / 102.4) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Resident kB of the process by kind of mapping: file-backed, WebAssembly memories (V8 reserves
 * each with guard regions, 8 GiB in all: the accessible part, read-write, directly followed by
 * the inaccessible rest, together 1 GiB or more) and the other anonymous memory.
 */
function smaps(pid: number): { rss: number; file: number; wasm: number; anon: number } {
  const maps: { start: number; end: number; perms: string; file: boolean; rss: number }[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      maps.push({
        start: Number.parseInt(head[1] ?? "", 16),
        end: Number.parseInt(head[2] ?? "", 16),
        perms: head[3] ?? "",
        file: (head[5] ?? "").startsWith("/"),
        rss: 0,
      });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    const last = maps[maps.length - 1];
    if (rss && last) last.rss += Number(rss[1]);
  }
  const out = { rss: 0, file: 0, wasm: 0, anon: 0 };
  for (const [i, m] of maps.entries()) {
    out.rss += m.rss;
    const next = maps[i + 1];
    if (m.file) out.file += m.rss;
    else if (
      m.perms.startsWith("rw") &&
      next !== undefined &&
      !next.file &&
      next.perms.startsWith("---") &&
      next.start === m.end &&
      next.end - m.start >= 2 ** 30
    )
      out.wasm += m.rss;
    else out.anon += m.rss;
  }
  return out;
}

/** User + system CPU seconds the process has used (/proc/PID/stat, clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Probe {
  heapUsed: number;
  heapPhysical: number;
  external: number;
  arrayBuffers: number;
  /** Per V8 heap space: [resident, used] bytes. */
  spaces?: Record<string, [number, number]>;
  malloc?: { inUse: number; free: number; mmapped: number };
  pgliteWasm?: number[];
  duckdb?: Record<string, number>;
}

async function probe(pid: number): Promise<Probe | undefined> {
  const before = existsSync(PROBE) ? readFileSync(PROBE, "utf8").length : 0;
  process.kill(pid, "SIGUSR2");
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    const text = existsSync(PROBE) ? readFileSync(PROBE, "utf8") : "";
    if (text.length > before) return JSON.parse(text.slice(before).trim().split("\n")[0] ?? "");
  }
  return undefined;
}

const rows: string[] = [];
const B = (bytes: number | undefined) => (bytes === undefined ? Number.NaN : MB(bytes / 1024));
async function sample(pid: number, phase: string): Promise<number> {
  const m = smaps(pid);
  const p = await probe(pid);
  const heap = p ? p.heapPhysical / 1024 : Number.NaN;
  const space = (name: string) => p?.spaces?.[name] ?? [Number.NaN, Number.NaN];
  const young = space("new_space");
  const old = space("old_space");
  const large = space("large_object_space");
  const pglite = (p?.pgliteWasm ?? []).reduce((a, b) => a + b, 0);
  const duck = Object.values(p?.duckdb ?? {}).reduce((a, b) => a + b, 0);
  const cHeap = p?.malloc ? p.malloc.inUse + p.malloc.mmapped : Number.NaN;
  // The anonymous memory beyond V8's heap: DuckDB (its own allocator), the C heap (Node's
  // buffers, OpenSSL, V8's malloc'd bookkeeping) and the rest: freed C heap glibc still holds,
  // thread stacks, V8's memory outside the heap.
  const native = m.anon - heap;
  const row = {
    phase,
    rss: MB(m.rss),
    code: MB(m.file),
    v8Heap: MB(heap),
    v8HeapUsed: p ? B(p.heapUsed) : Number.NaN,
    v8Spaces: {
      young: [B(young[0]), B(young[1])],
      old: [B(old[0]), B(old[1])],
      large: [B(large[0]), B(large[1])],
    },
    wasmResident: MB(m.wasm),
    pgliteWasm: B(pglite),
    duckdb: B(duck),
    duckdbTags: p?.duckdb,
    malloc: p?.malloc
      ? { inUse: B(p.malloc.inUse), free: B(p.malloc.free), mmapped: B(p.malloc.mmapped) }
      : undefined,
    arrayBuffers: p ? B(p.arrayBuffers) : Number.NaN,
    native: MB(native),
  };
  console.error(JSON.stringify(row));
  const rest = MB(native - duck / 1024 - cHeap / 1024);
  rows.push(
    `| ${phase} | ${row.rss} | ${row.code} | ${row.v8Heap} (${row.v8HeapUsed} used) | ${row.wasmResident} (of ${row.pgliteWasm}) | ${row.duckdb} | ${B(cHeap)} | ${rest} |`,
  );
  return m.rss;
}

async function api(method: string, path: string, body?: unknown, type = "application/json") {
  const res = await fetch(`http://127.0.0.1:${PORTS.api}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": type },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : undefined;
}

function dig(name: string): string {
  try {
    return execFileSync(
      "dig",
      ["+short", "+tries=1", "+time=2", "-p", String(PORTS.dns), "@127.0.0.1", name],
      { encoding: "utf8" },
    ).trim();
  } catch {
    return "";
  }
}

async function until(what: string, ok: () => boolean, seconds = 300): Promise<number> {
  const t0 = performance.now();
  while (!ok()) {
    if (performance.now() - t0 > seconds * 1000) throw new Error(`timed out: ${what}`);
    await sleep(500);
  }
  return (performance.now() - t0) / 1000;
}

async function main() {
  for (const bin of ["dnsperf", "nsd", "dig"])
    execFileSync("sh", [
      "-c",
      `command -v ${bin} >/dev/null || { echo "${bin} missing"; exit 1; }`,
    ]);
  const names = Number(values.names);
  owned.push(startWildcardUpstream(dir, PORTS.nsd, names));

  const t0 = performance.now();
  const up = spawn(
    join(ROOT, "packages/gatehouse/bin/gatehouse"),
    [
      "up",
      "--data-dir",
      join(dir, "data"),
      "--dns",
      `127.0.0.1:${PORTS.dns}`,
      "--proxy",
      `127.0.0.1:${PORTS.proxy}`,
      "--api",
      `127.0.0.1:${PORTS.api}`,
      "--metrics",
      `127.0.0.1:${PORTS.metrics}`,
      "--dot",
      `127.0.0.1:${PORTS.dot}`,
      "--doh",
      `127.0.0.1:${PORTS.doh}`,
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...process.env,
        GATEHOUSE_ADMIN_TOKEN: TOKEN,
        GH_FOOTPRINT_PROBE: PROBE,
        NODE_OPTIONS: `--import ${PROBE_MODULE}`,
      },
    },
  );
  owned.push(up);
  let banner = "";
  const log = createWriteStream(join(dir, "up.log"));
  up.stderr?.on("data", (d: Buffer) => {
    log.write(d);
    banner = (banner + d.toString()).slice(-20_000);
  });
  await until("gatehouse up to start", () => banner.includes("Ctrl-C stops everything"), 600);
  const startS = (performance.now() - t0) / 1000;
  const pid = up.pid;
  if (pid === undefined) throw new Error("gatehouse up did not start");
  await sleep(10_000);
  console.error(
    `load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  const idle = await sample(pid, "idle, starter configuration");

  // The load's upstream: the nsd wildcard zone (control publishes, the edge applies). The rest of
  // the starter's resolver settings stay as they are, so what is measured is the starter
  // configuration: only the upstream (an unsigned zone: validation off), the per-source rate
  // limit (one source asks everything) and --cache-bytes change.
  const resolver = (await api("GET", "/resolver")) as { cache?: Record<string, unknown> };
  await api("PUT", "/resolver", {
    ...resolver,
    upstreams: [{ address: `udp://127.0.0.1:${PORTS.nsd}` }],
    dnssec: { validate: false },
    rateLimit: false,
    ...(values["cache-bytes"]
      ? { cache: { ...resolver.cache, maxBytes: Number(values["cache-bytes"]) } }
      : {}),
  });
  await until("the edge to use nsd", () => dig("probe.load.test") === "10.0.0.1");

  if (BLOCKLIST) {
    const list = (await api("POST", "/lists", { name: "bench_ads", type: "domain" })) as {
      id: string;
    };
    const lines: string[] = [];
    for (let i = 0; i < BLOCKLIST; i++) lines.push(`ad${i}.tracker${i % 997}.example`);
    const t1 = performance.now();
    await api("PUT", `/lists/${list.id}/items`, `${lines.join("\n")}\n`, "text/plain");
    await api("POST", "/policies", {
      name: "bench ads",
      type: "dns",
      enabled: true,
      expression: "any(dns.domains[*] in $bench_ads)",
      action: "block",
    });
    const listed = `ad${BLOCKLIST - 1}.tracker${(BLOCKLIST - 1) % 997}.example`;
    await until("the list to block", () => ["0.0.0.0", ""].includes(dig(listed)), 600);
    console.error(
      `list of ${BLOCKLIST} applied in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );
    await sleep(10_000);
    await sample(pid, `with a ${BLOCKLIST.toLocaleString("en")}-name list`);
  }

  const cpu0 = cpuSeconds(pid);
  const perf = spawn(
    "dnsperf",
    ["-s", "127.0.0.1", "-p", String(PORTS.dns), "-d", join(dir, "load.txt")].concat([
      "-l",
      String(SECONDS),
      "-Q",
      String(values.qps),
    ]),
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  owned.push(perf);
  let perfOut = "";
  perf.stdout!.on("data", (d: Buffer) => {
    perfOut += d.toString();
  });
  const done = new Promise<void>((r) => perf.once("exit", () => r()));
  let max = 0;
  const series: number[] = [];
  for (let s = SAMPLE_S; s <= SECONDS; s += SAMPLE_S) {
    await sleep(SAMPLE_S * 1000);
    const rss = smaps(pid).rss;
    series.push(MB(rss));
    max = Math.max(max, rss);
    // The breakdown at the first sample, every 5 minutes and at the last.
    if (s === SAMPLE_S || s % 300 === 0 || s + SAMPLE_S > SECONDS)
      await sample(pid, `load, ${s} s`);
  }
  await done;
  const cpuLoad = cpuSeconds(pid) - cpu0;
  await sleep(5_000);
  await sample(pid, "5 s after the load");
  // What it keeps once quiet (the edge gives memory back after a burst: memory-release.ts).
  await sleep(25_000);
  await sample(pid, "30 s after the load");
  const sent = /Queries sent:\s+(\d+)/.exec(perfOut)?.[1];
  const lost = /Queries lost:\s+(\d+)/.exec(perfOut)?.[1];
  console.log(
    [
      `gatehouse up (${ROOT}), start ${startS.toFixed(1)} s, idle ${MB(idle)} MB; ${SECONDS} s at ${values.qps} qps over ${names} names: sent ${sent}, lost ${lost}; max RSS under load ${MB(max)} MB; process CPU during the load ${cpuLoad.toFixed(1)} s (${((cpuLoad / Number(sent ?? Number.NaN)) * 1e6).toFixed(1)} µs a query); load average after ${loadavg()[0]!.toFixed(1)}`,
      `RSS every ${SAMPLE_S} s (MB): ${series.join(" ")}`,
      "| phase | RSS (MB) | code, file-backed (MB) | V8 heap, resident (MB) | PGlite's WebAssembly memory, resident (MB) | DuckDB, duckdb_memory() (MB) | C heap in use, malloc + mmapped (MB) | other anonymous: freed C heap kept, stacks, V8 outside the heap (MB) |",
      "|---|---:|---:|---:|---:|---:|---:|---:|",
      ...rows,
    ].join("\n"),
  );
}

try {
  await main();
} finally {
  for (const c of owned.reverse()) c.kill("SIGTERM");
}
