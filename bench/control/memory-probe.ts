// Loaded into the soaked control process with `node --import`: on SIGUSR2 it appends one JSON
// line with process.memoryUsage() (what V8's heap, external memory and ArrayBuffers — PGlite's
// WASM memory among them — hold; RSS minus heap and external is native memory such as
// DuckDB's) to the file named by GH_MEMORY_PROBE. No forced GC: the soak measures what the
// process really holds.

import { appendFileSync } from "node:fs";

const file = process.env["GH_MEMORY_PROBE"];
if (file) {
  process.on("SIGUSR2", () => {
    const m = process.memoryUsage();
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), ...m })}\n`);
  });
}
