// Loaded into the measured `gatehouse` process with `node --import` (NODE_OPTIONS): on SIGUSR2 it
// appends one JSON line to the file named by GH_FOOTPRINT_PROBE with process.memoryUsage() and
// V8's resident heap (the sum of the heap spaces' physical sizes). No forced GC: the benchmark
// measures what the process holds.

import { appendFileSync } from "node:fs";
import { getHeapSpaceStatistics } from "node:v8";

const file = process.env["GH_FOOTPRINT_PROBE"];
if (file) {
  process.on("SIGUSR2", () => {
    let heapPhysical = 0;
    for (const s of getHeapSpaceStatistics()) heapPhysical += s.physical_space_size;
    appendFileSync(
      file,
      `${JSON.stringify({ t: Date.now(), ...process.memoryUsage(), heapPhysical })}\n`,
    );
  });
}
