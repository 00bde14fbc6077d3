// Loaded into a measured edge with `node --import` (bench/dns/memory.ts --breakdown): on
// SIGUSR2 it appends one JSON line to the file named by GH_MEMORY_PROBE with
// process.memoryUsage() (V8 heap, external memory, ArrayBuffers), then the same after a full
// collection, and the anonymous and file-backed parts of RSS (/proc/self/smaps_rollup): what
// the edge holds, what it would give back to a collection, and what malloc or V8 keep mapped.

import { appendFileSync, readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const file = process.env["GH_MEMORY_PROBE"];
const MB = (n: number) => Math.round(n / 104857.6) / 10;

function usage() {
  const m = process.memoryUsage();
  return {
    rss: MB(m.rss),
    heapTotal: MB(m.heapTotal),
    heapUsed: MB(m.heapUsed),
    external: MB(m.external),
    arrayBuffers: MB(m.arrayBuffers),
  };
}

function rollup() {
  const out: Record<string, number> = {};
  for (const l of readFileSync("/proc/self/smaps_rollup", "utf8").split("\n")) {
    const m = /^(Rss|Anonymous|Private_Dirty|Shared_Clean):\s+(\d+) kB/.exec(l);
    if (m) out[m[1]!] = Math.round(Number(m[2]) / 102.4) / 10;
  }
  return out;
}

if (file) {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  setFlagsFromString("--no-expose-gc");
  process.on("SIGUSR2", () => {
    const before = usage();
    gc();
    const after = usage();
    appendFileSync(
      file,
      `${JSON.stringify({ pid: process.pid, before, afterGc: after, smaps: rollup() })}\n`,
    );
  });
}
