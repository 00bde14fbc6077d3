// Control-plane benchmarks (not timed tests): policy-list reads/s with wrk on PGlite and on
// PostgreSQL, publishing 1,000 policies + 1,000,000 list items, and the server memory held by
// 1,000 waiting edge long-polls. Each backend runs in a child process (bench/control/server.ts).
//
//   export PATH=$PWD/node_modules/.bin:$PATH
//   node bench/control/run.ts [pglite|postgres|both] [--wrk-seconds 10]
//
// PostgreSQL: GATEHOUSE_TEST_DATABASE_URL or postgres://root@127.0.0.1:5432/test.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";

const which = process.argv[2] ?? "both";
const wrkSeconds = Number(process.argv[process.argv.indexOf("--wrk-seconds") + 1]) || 10;
const backends = which === "both" ? ["pglite", "postgres"] : [which];
/** `--uncached-only`: just the page-cache-off read measurement. */
const uncachedOnly = process.argv.includes("--uncached-only");

interface Server {
  readonly child: ChildProcess;
  readonly rl: ReturnType<typeof createInterface>;
  readonly address: string;
  readonly token: string;
  readonly pid: number;
}

async function startServer(backend: string, env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, ["--expose-gc", "bench/control/server.ts", backend], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const rl = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
  return { child, rl, ...JSON.parse(line) };
}

async function stopServer(s: Server): Promise<void> {
  const done = new Promise((r) => s.child.once("exit", r));
  s.child.kill("SIGTERM");
  await done;
}

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}
/** The server's memory after a full GC (SIGUSR2, answered on its stdout). */
async function serverMemory(s: Server): Promise<Memory> {
  const line = new Promise<string>((resolve) => s.rl.once("line", resolve));
  s.child.kill("SIGUSR2");
  return (JSON.parse(await line) as { memory: Memory }).memory;
}
const MiB = (n: number) => (n / 1048576).toFixed(1);

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function api(
  s: Server,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const init: RequestInit & { duplex?: string } = {
    method,
    headers: {
      authorization: `Bearer ${s.token}`,
      ...(body !== undefined && !(body instanceof ReadableStream)
        ? { "content-type": "application/json" }
        : {}),
      ...headers,
    },
  };
  if (body instanceof ReadableStream) {
    init.body = body;
    init.duplex = "half";
  } else if (body !== undefined) init.body = JSON.stringify(body);
  const r = await fetch(`${s.address}/api/v1${path}`, init);
  const text = await r.text();
  if (r.status >= 400) throw new Error(`${method} ${path} → ${r.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

function wrk(s: Server, path: string): { rps: number; latency: string; errors: string } {
  if (!existsSync("/usr/bin/wrk")) throw new Error("wrk not installed");
  const out = execFileSync(
    "wrk",
    [
      "-t2",
      "-c32",
      `-d${wrkSeconds}s`,
      "-H",
      `Authorization: Bearer ${s.token}`,
      `${s.address}${path}`,
    ],
    { encoding: "utf8" },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const latency = /Latency\s+(\S+)/.exec(out)?.[1] ?? "?";
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? "0";
  return { rps, latency, errors };
}

function itemsBody(n: number): ReadableStream<Uint8Array> {
  let i = 0;
  const enc = new TextEncoder();
  return Readable.toWeb(
    Readable.from(
      (function* () {
        while (i < n) {
          let chunk = "";
          for (let k = 0; k < 5000 && i < n; k++, i++)
            chunk += `host${i}.blocked-${i % 997}.example\n`;
          yield enc.encode(chunk);
        }
      })(),
    ),
  ) as ReadableStream<Uint8Array>;
}

const results: string[] = [];
const log = (s: string) => {
  console.log(s);
  results.push(s);
};

for (const backend of uncachedOnly ? [] : backends) {
  const s = await startServer(backend);
  try {
    log(`\n## ${backend}`);
    // 1. reads of a policy list (a page of 50 policies)
    for (let i = 0; i < 50; i++)
      await api(s, "POST", "/policies", {
        name: `read ${i}`,
        type: "dns",
        expression: `dns.fqdn == "r${i}.example" or dns.fqdn in {"x${i}.example" "y${i}.example"}`,
        action: "block",
      });
    const page = await api(s, "GET", "/policies?limit=50");
    const bytes = JSON.stringify(page).length;
    const w = wrk(s, "/api/v1/policies?limit=50");
    log(
      `policy list reads (50 policies, ${bytes} B/response, wrk -t2 -c32 -d${wrkSeconds}s): ${w.rps.toFixed(0)} req/s, avg latency ${w.latency}, non-2xx ${w.errors}`,
    );

    // 3. memory of 1,000 waiting long-polls: in a second account with a small bundle, so the
    // wake-up does not ship 1,000 copies of the million-item bundle.
    const other = await api(s, "POST", "/accounts", { name: "long-poll" });
    const t = { ...s, token: other.adminToken as string };
    await api(t, "POST", "/policies", {
      name: "p",
      type: "dns",
      expression: 'dns.fqdn == "x.example"',
      action: "block",
    });
    const small = await api(t, "POST", "/config/publish", {});
    const join = await api(t, "POST", "/edges/join-tokens", {});
    const enrol = await fetch(`${s.address}/api/v1/edge/enroll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ joinToken: join.joinToken, name: "bench-edge" }),
    }).then((r) => r.json());
    const first = await fetch(`${s.address}/api/v1/edge/config?after=0`, {
      headers: { authorization: `Bearer ${enrol.credential}` },
    });
    await first.arrayBuffer();
    const before = await serverMemory(s);
    const polls = Array.from({ length: 1000 }, () =>
      fetch(`${s.address}/api/v1/edge/config?after=${small.version}`, {
        headers: { authorization: `Bearer ${enrol.credential}` },
      }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    );
    await new Promise((r) => setTimeout(r, 3000));
    const during = await serverMemory(s);
    await api(t, "POST", "/config/publish", { force: true });
    const statuses = await Promise.all(polls);
    const ok = statuses.filter((x) => x === 200).length;
    const js = (m: Memory) => m.heapUsed + m.external;
    log(
      `1,000 waiting long-polls: server JS heap+external ${MiB(js(before))} → ${MiB(js(during))} MiB (+${MiB(js(during) - js(before))} MiB after GC); RSS ${MiB(before.rss)} → ${MiB(during.rss)} MiB; after publish ${ok}/1000 answered 200 with the new bundle`,
    );
    // 2. publish 1,000 policies + 1,000,000 list items
    const list = await api(s, "POST", "/lists", { name: "big", type: "domain" });
    let t0 = performance.now();
    const up = await api(s, "PUT", `/lists/${list.id}/items?format=plain`, itemsBody(1_000_000), {
      "content-type": "text/plain",
    });
    const uploadMs = performance.now() - t0;
    log(
      `upload 1,000,000 domain items (text/plain, streamed): ${(uploadMs / 1000).toFixed(2)} s, itemCount ${up.itemCount}, server RSS ${rssMiB(s.pid).toFixed(0)} MiB`,
    );
    for (let i = 50; i < 1000; i++)
      await api(s, "POST", "/policies", {
        name: `p${i}`,
        type: i % 3 === 0 ? "http" : "dns",
        expression:
          i % 3 === 0
            ? `http.request.host == "h${i}.example"`
            : i % 2
              ? `dns.fqdn in $big and dns.query_rtype == "A"`
              : `dns.fqdn == "d${i}.example"`,
        action: "block",
      });
    t0 = performance.now();
    const pub = await api(s, "POST", "/config/publish", { force: true });
    const publishMs = performance.now() - t0;
    log(
      `publish ${pub.summary.policies} policies + ${pub.summary.listItems} list items: ${(publishMs / 1000).toFixed(2)} s (version ${pub.version})`,
    );
  } finally {
    await stopServer(s);
  }
}
// Reads that reach the database every time (page cache off).
for (const backend of backends) {
  const s = await startServer(backend, { BENCH_READ_CACHE: "off" });
  try {
    for (let i = 0; i < 50; i++)
      await api(s, "POST", "/policies", {
        name: `read ${i}`,
        type: "dns",
        expression: `dns.fqdn == "r${i}.example" or dns.fqdn in {"x${i}.example" "y${i}.example"}`,
        action: "block",
      });
    const w = wrk(s, "/api/v1/policies?limit=50");
    log(
      `\n${backend}, page cache off: policy list reads ${w.rps.toFixed(0)} req/s, avg latency ${w.latency}, non-2xx ${w.errors}`,
    );
  } finally {
    await stopServer(s);
  }
}

console.log("\n--- summary ---");
console.log(results.join("\n"));
