// Applying a large config bundle while the edge answers DNS: what a synced edge does with a
// bundle from control (parse the JSON body and check its hash, in a worker thread, as
// sync-client.ts does; compile and swap, write it as the last good bundle), timed step by step,
// with the event loop's longest stall while it runs, the DNS answers a client got meanwhile, and
// the RSS it adds.
// Run: node --expose-gc bench/edge/bundle-apply.ts [items=2200000] [mode=packed]
// mode: packed (what the edge does: domain lists compiled from their joined text, the body
// written as received), split (the way before: every name split into its own string on the
// main thread, the bundle written out as canonical JSON), workers-file / workers-ipc (two
// worker processes, `--workers 2`: the body handed over as a file, or the bundle object sent
// over IPC as before; only what the client sees is measured there). After the apply the edge
// is watched 10 s more ("settle"): V8 unmaps the pages of a thread that exited 8 s later, on the
// main thread. `stepCpuBlockMs` is the longest CPU block per step.

import { fork } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { bundleHash, type ConfigBundle } from "@gatehouse/contract";
import { startEdge } from "../../packages/edge/src/main.ts";
import { parseBundleBody, unpackBundle } from "../../packages/edge/src/sync/bundle-parse.ts";
import { EdgeState } from "../../packages/edge/src/sync/edge-state.ts";
import { startEdgeWorkers } from "../../packages/edge/src/workers.ts";

const gc = (globalThis as { gc?: () => void }).gc;
const MB = (n: number) => Math.round(n / 104857.6) / 10;

// The DNS client runs in its own process so the stall it sees is the edge's, not its own.
if (process.argv[2] === "--client") {
  const { createSocket } = await import("node:dgram");
  const port = Number(process.argv[3]);
  const s = createSocket("udp4");
  // "a.example" A from 127.0.0.1: answered (SERVFAIL, the upstream is a discard port, or a
  // block once the big list applies); sent every 2 ms, the largest gap between answers is kept.
  const q = Buffer.from("abcd010000010000000000000161076578616d706c650000010001", "hex");
  let answered = 0;
  let last = performance.now();
  let maxGap = 0;
  s.on("message", () => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    answered++;
  });
  const t = setInterval(() => s.send(q, port, "127.0.0.1"), 2);
  process.on("message", (m) => {
    if (m === "reset") {
      answered = 0;
      maxGap = 0;
      last = performance.now();
    } else if (m === "mark") {
      process.send?.({ answered, maxGapMs: Math.round(maxGap) });
    } else if (m === "report") {
      clearInterval(t);
      process.send?.({ answered, maxGapMs: Math.round(maxGap) });
      s.close();
      process.disconnect();
    }
  });
  process.send?.("ready");
} else {
  await main();
}

function name(i: number): string {
  let x = (i * 2654435761) >>> 0;
  let s = "";
  for (let l = 0; l < 2; l++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const len = 4 + (x % 9);
    for (let k = 0; k < len; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      s += String.fromCharCode(97 + (x % 26));
    }
    s += ".";
  }
  return `${s}d${i}.example`;
}

async function main(): Promise<void> {
  if (!gc) throw new Error("run with --expose-gc");
  const items = Number(process.argv[2] ?? 2_200_000);
  const mode = process.argv[3] ?? "packed";
  if (!["packed", "split", "workers-file", "workers-ipc"].includes(mode))
    throw new Error(`unknown mode ${mode}`);
  const workers = mode.startsWith("workers-");
  const base: ConfigBundle = {
    schemaVersion: 1,
    version: 1,
    resolver: { upstreams: [{ address: "udp://127.0.0.1:9" }] },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
    lists: [],
    policies: [],
  };
  const config = { ...base, edge: { dns: { udp: ["127.0.0.1:0"] }, workers: 2 } };
  const cluster = workers ? await startEdgeWorkers({ config, log: () => {} }) : undefined;
  if (cluster && cluster.mode !== "cluster") throw new Error("expected two worker processes");
  const edge = cluster ? undefined : await startEdge({ config, log: () => {} });
  const addresses = cluster?.addresses ?? edge!.addresses;
  const port = Number(addresses.dns.udp[0]!.split(":").pop());
  // The bundle as control sends it: JSON text with its hash.
  const big: ConfigBundle = {
    ...base,
    version: 2,
    lists: [
      {
        id: "big",
        name: "big",
        type: "domain",
        items: Array.from({ length: items }, (_, i) => name(i)),
      },
    ],
    policies: [
      {
        id: "p",
        name: "p",
        type: "dns",
        enabled: true,
        precedence: 1,
        expression: "any(dns.domains[*] in $big)",
        action: "block",
      },
    ],
  };
  big.hash = await bundleHash(big);
  let body: Uint8Array | undefined = Buffer.from(JSON.stringify(big));
  const bodyMB = MB(body.byteLength);
  big.lists = [];
  gc();
  gc();
  const state = new EdgeState(mkdtempSync(join(tmpdir(), "gh-bench-apply-")));

  const client = fork(new URL(import.meta.url).pathname, ["--client", String(port)]);
  await new Promise((r) => client.once("message", r));
  // Until answers flow steadily: the first queries wait out the dead upstream before a SERVFAIL
  // is cached (a gap of about a second that is start-up, not the apply; it was counted in
  // dnsMaxGapMs before).
  for (let tries = 0; ; tries++) {
    client.send("reset");
    await new Promise((r) => setTimeout(r, 500));
    client.send("mark");
    const m = (await new Promise((r) => client.once("message", r))) as {
      answered: number;
      maxGapMs: number;
    };
    if (m.answered >= 100 && m.maxGapMs < 100) break;
    if (tries === 20) throw new Error(`the edge does not answer steadily: ${JSON.stringify(m)}`);
  }
  gc();
  const rssBefore = process.memoryUsage().rss;
  const held = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const heldBefore = held();
  let rssPeak = rssBefore;
  const sample = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 20);
  const loop = monitorEventLoopDelay({ resolution: 5 });
  // The same, reset at each step: which step the longest stall fell in.
  const stepLoop = monitorEventLoopDelay({ resolution: 5 });
  const stepStallMs: Record<string, number> = {};
  // The longest CPU block (below) in each step.
  const stepCpuBlockMs: Record<string, number> = {};
  let stepNow = "";
  // The main thread's garbage-collector pauses while the bundle applies (the parser thread's
  // are its own and do not stall answering).
  const gcPauses: number[] = [];
  const gcSeen = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcPauses.push(e.duration);
  });
  client.send("reset");
  loop.enable();
  stepLoop.enable();
  // Let the monitor's timer run once first, so a stall in the very first step is measured.
  await new Promise((r) => setTimeout(r, 20));
  const steps: Record<string, number> = {};
  const step = async <T>(label: string, f: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    stepLoop.reset();
    stepNow = label;
    stepCpuBlockMs[label] = 0;
    const v = await f();
    steps[label] = Math.round(performance.now() - t0);
    stepStallMs[label] = Math.round(stepLoop.max / 1e6);
    console.error(`${label}: ${steps[label]} ms`);
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    return v;
  };
  gcSeen.observe({ entryTypes: ["gc"] });
  // The main thread's CPU time between two turns of a 1 ms timer: the longest is the longest
  // block of work that held the event loop, measured in CPU time so that waiting for a core on
  // a busy machine does not count (the wall-clock stall above does count it).
  let cpuBlockMaxMs = 0;
  let cpuMark = process.threadCpuUsage();
  let cpuWatch = true;
  const cpuTick = () => {
    const d = process.threadCpuUsage(cpuMark);
    cpuMark = process.threadCpuUsage();
    cpuBlockMaxMs = Math.max(cpuBlockMaxMs, (d.user + d.system) / 1000);
    if (stepNow)
      stepCpuBlockMs[stepNow] = Math.max(stepCpuBlockMs[stepNow]!, (d.user + d.system) / 1000);
    if (cpuWatch) setTimeout(cpuTick, 1);
  };
  setTimeout(cpuTick, 1);
  const t0 = performance.now();
  // In a function of its own, so nothing here holds the bundle object once it returns.
  const receive = async (bytes: Uint8Array): Promise<void> => {
    const parsed = await step("parse+hash", () => parseBundleBody(bytes));
    if (!parsed.hashOk) throw new Error("hash mismatch");
    if (cluster?.mode === "cluster") {
      if (mode === "workers-file") await step("apply", () => cluster.applyBody(parsed.body));
      else {
        const bundle = await step("split", () => unpackBundle(parsed));
        await step("apply", () => cluster.apply(bundle));
      }
      await step("save", () => state.saveLastGoodBody(parsed.body));
    } else if (mode === "split") {
      const bundle = await step("split", () => unpackBundle(parsed));
      await step("apply", () => edge!.apply(bundle));
      await step("save", () => state.saveLastGood(bundle));
    } else {
      await step("apply", () => edge!.apply(parsed.bundle, parsed.packed));
      await step("save", () => state.saveLastGoodBody(parsed.body));
    }
  };
  const bytes = body;
  body = undefined;
  await receive(bytes);
  const totalMs = Math.round(performance.now() - t0);
  client.send("mark");
  const dnsSeen = (await new Promise((r) => client.once("message", r))) as {
    answered: number;
    maxGapMs: number;
  };
  // Ten seconds more, still measured: V8 hands the heap pages pooled for a thread that exits to
  // the main thread, which unmaps them 8 s later in one task (a stall after the apply is over).
  await step("settle", () => new Promise((r) => setTimeout(r, 10_000)));
  gcSeen.disconnect();
  cpuWatch = false;
  loop.disable();
  stepLoop.disable();
  // A little more of the client's traffic after the apply, so its last gap is measured too.
  await new Promise((r) => setTimeout(r, 200));
  client.send("report");
  const dnsAll = (await new Promise((r) => client.once("message", r))) as { maxGapMs: number };
  clearInterval(sample);
  gc();
  gc();
  const rssAfter = process.memoryUsage().rss;
  // What the edge holds for the new config once the bundle object is gone (JS heap + buffers).
  const heldAfterMB = MB(held() - heldBefore);
  console.log(
    JSON.stringify({
      items,
      mode,
      bodyMB,
      steps,
      totalMs,
      eventLoopMaxDelayMs: Math.round(loop.max / 1e6),
      stepStallMs,
      cpuBlockMaxMs: Math.round(cpuBlockMaxMs),
      stepCpuBlockMs: Object.fromEntries(
        Object.entries(stepCpuBlockMs).map(([k, v]) => [k, Math.round(v)]),
      ),
      gcMaxPauseMs: Math.round(Math.max(0, ...gcPauses)),
      gcTotalMs: Math.round(gcPauses.reduce((a, b) => a + b, 0)),
      gcCount: gcPauses.length,
      eventLoopP99Ms: Math.round(loop.percentile(99) / 1e6),
      dnsAnsweredDuring: dnsSeen.answered,
      dnsMaxGapMs: dnsSeen.maxGapMs,
      dnsMaxGapWithSettleMs: dnsAll.maxGapMs,
      rssBeforeMB: MB(rssBefore),
      rssPeakMB: MB(rssPeak),
      rssAfterMB: MB(rssAfter),
      heldAfterMB,
      ...(edge ? { version: edge.snapshot.version } : {}),
      node: process.version,
      load: (await import("node:os")).loadavg().map((x) => Math.round(x * 10) / 10),
    }),
  );
  await (cluster ?? edge!).close();
}
