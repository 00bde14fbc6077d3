// bench/upstreams: what an upstream exchange costs per transport, through the edge's own
// upstream code (parseUpstream + exchange), against a loopback upstream in its own process
// (server.ts). UDP is the anchor; DoT is measured with a TCP+TLS connection per query (how the
// edge asked before dot-session.ts) and with the kept-open, pipelined connection; DoH with the
// keep-alive agent. Sequential queries give the latency of one exchange, 64 in flight the
// throughput.
//
//   node bench/upstreams/run.ts [--queries 3000]

import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseUpstream } from "../../packages/edge/src/dns/upstream/pool.ts";
import {
  type ExpectedQuestion,
  exchange,
  type UpstreamTarget,
} from "../../packages/edge/src/dns/upstream/transports.ts";
import { emptyMessage, encodeMessage } from "../../packages/edge/src/dns/wire/message.ts";

const { values } = parseArgs({ options: { queries: { type: "string" } } });
const QUERIES = Number(values.queries ?? 3000);
const IN_FLIGHT = 64;

const server = spawn(process.execPath, [resolve(import.meta.dirname, "server.ts")], {
  stdio: ["pipe", "pipe", "inherit"],
});
const info = await new Promise<{ udp: number; dot: number; doh: number; cert: string }>((ok) => {
  let out = "";
  server.stdout!.on("data", (c: Buffer) => {
    out += c.toString();
    if (out.includes("\n")) ok(JSON.parse(out));
  });
});

function query(): { wire: Uint8Array; q: ExpectedQuestion } {
  const id = randomInt(65536);
  const m = emptyMessage(id);
  m.rd = true;
  m.questions.push({ name: "bench.example", type: 1, class: 1 });
  return {
    wire: encodeMessage(m),
    q: { id, name: "bench.example", type: 1, class: 1, exactCase: false },
  };
}

const dot = parseUpstream({ address: `tls://127.0.0.1:${info.dot}`, ca: info.cert });
const targets: [string, UpstreamTarget][] = [
  ["UDP (anchor)", parseUpstream({ address: `udp://127.0.0.1:${info.udp}` })],
  ["DoT, a connection per query", { ...dot, dot: undefined }],
  ["DoT, kept-open and pipelined", dot],
  [
    "DoH, keep-alive (HTTP/1.1)",
    parseUpstream({ address: `https://127.0.0.1:${info.doh}/dns-query`, ca: info.cert }),
  ],
];

async function sequential(t: UpstreamTarget, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const { wire, q } = query();
    const t0 = performance.now();
    await exchange(t, wire, q);
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b);
}

async function concurrent(t: UpstreamTarget, n: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next++ < n) {
        const { wire, q } = query();
        await exchange(t, wire, q);
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
const rows: string[][] = [];
let anchor = { p50: 0, qps: 0 };
for (const [name, t] of targets) {
  await sequential(t, 200); // warm-up (JIT, first connection)
  const lat = await sequential(t, QUERIES);
  const qps = await concurrent(t, QUERIES * 4);
  if (!anchor.qps) anchor = { p50: pct(lat, 0.5), qps };
  rows.push([
    name,
    `${pct(lat, 0.5).toFixed(3)} ms`,
    `${pct(lat, 0.99).toFixed(3)} ms`,
    `${(pct(lat, 0.5) / anchor.p50).toFixed(1)}×`,
    `${Math.round(qps)}`,
    `${(qps / anchor.qps).toFixed(2)}×`,
  ]);
}
console.log(
  "| upstream | p50 (one at a time) | p99 | p50 vs UDP | queries/s (64 in flight) | vs UDP |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
server.stdin!.end();
