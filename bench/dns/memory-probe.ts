// Loaded into a measured edge with `node --import` (bench/dns/memory.ts --breakdown): on
// SIGUSR2 it appends one JSON line to the file named by GH_MEMORY_PROBE with
// process.memoryUsage() (V8 heap, external memory, ArrayBuffers), then the same after a full
// collection, and the anonymous and file-backed parts of RSS (/proc/self/smaps_rollup): what
// the edge holds, what it would give back to a collection, and what malloc or V8 keep mapped;
// then glibc's own count (mallinfo2: in use, free but held, mmapped) and the anonymous
// mappings holding 1 MB or more (resident/size, MB): which heap the native memory sits in.

import { appendFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
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

/** glibc's mallinfo2 (the edge's malloc_trim addon): in use, free but held, mmapped; MB. */
function malloc(): Record<string, number> | undefined {
  try {
    const addon = createRequire(import.meta.url)(
      "../../packages/edge/native/build/malloc_trim.node",
    ) as { stats(): [number, number, number] | undefined };
    const m = addon.stats();
    return m && { inUse: MB(m[0]), freeHeld: MB(m[1]), mmapped: MB(m[2]) };
  } catch {
    return undefined;
  }
}

/**
 * The anonymous mappings holding 1 MB or more resident, largest first (MB): glibc's main heap
 * ("[heap]"), its thread arenas (64 MB reservations), V8's pages and large buffers' mappings.
 */
function bigMappings(): string[] {
  const out: [number, string][] = [];
  let head = "";
  for (const l of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(l)) head = l;
    else if (l.startsWith("Anonymous:")) {
      const kb = Number(/(\d+)/.exec(l)?.[1] ?? 0);
      if (kb < 1024) continue;
      const [range = "", , , , , name = ""] = head.split(/\s+/);
      const [a = "0", b = "0"] = range.split("-");
      const size = (Number.parseInt(b, 16) - Number.parseInt(a, 16)) / 1048576;
      out.push([
        kb,
        `${name || "anon"} ${Math.round(kb / 102.4) / 10}/${Math.round(size * 10) / 10}`,
      ]);
    }
  }
  return out.sort((x, y) => y[0] - x[0]).map((x) => x[1]);
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
      `${JSON.stringify({ pid: process.pid, before, afterGc: after, smaps: rollup(), malloc: malloc(), maps: bigMappings() })}\n`,
    );
  });
}
