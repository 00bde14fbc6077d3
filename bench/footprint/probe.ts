// Loaded into the measured `gatehouse` process with `node --import` (NODE_OPTIONS): on SIGUSR2 it
// appends one JSON line to the file named by GH_FOOTPRINT_PROBE with process.memoryUsage(),
// V8's resident heap (the sum of the heap spaces' physical sizes) and each space's, the C heap
// (glibc's mallinfo2 through the edge's malloc_trim addon: in use, free but held, mmapped), the
// size of PGlite's WebAssembly memory and DuckDB's own account of its memory (duckdb_memory():
// the buffer pool by tag). The last two come from the instances the process creates: the probe
// wraps PGlite.create and DuckDBInstance.create to remember them. No forced GC: the benchmark
// measures what the process holds.

import { appendFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { createRequire } from "node:module";
import { getHeapSpaceStatistics } from "node:v8";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { PGlite } from "@electric-sql/pglite";

const file = process.env["GH_FOOTPRINT_PROBE"];

type Stats = () => [number, number, number] | undefined;

function mallocStats(): Stats | undefined {
  try {
    const addon = createRequire(import.meta.url)(
      "../../packages/edge/native/build/malloc_trim.node",
    ) as { stats: Stats };
    return addon.stats;
  } catch {
    return undefined;
  }
}

if (file) {
  const pglites: PGlite[] = [];
  const ducks: DuckDBInstance[] = [];
  const pgCreate = PGlite.create.bind(PGlite);
  (PGlite as unknown as { create: unknown }).create = async (...args: unknown[]) => {
    const db = await (pgCreate as (...a: unknown[]) => Promise<PGlite>)(...args);
    pglites.push(db);
    return db;
  };
  const duckCreate = DuckDBInstance.create.bind(DuckDBInstance);
  DuckDBInstance.create = async (path?: string, options?: Record<string, string>) => {
    const d = await duckCreate(path, options);
    ducks.push(d);
    return d;
  };
  // Investigation: with GH_FOOTPRINT_SQL set, the statements PGlite runs, counted.
  const statements = new Map<string, number>();
  if (process.env["GH_FOOTPRINT_SQL"]) {
    const proto = PGlite.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const name of ["query", "exec"]) {
      const orig = proto[name];
      if (typeof orig !== "function") continue;
      proto[name] = function (this: unknown, ...a: unknown[]) {
        const sql = String(a[0]).replace(/\s+/g, " ").slice(0, 160);
        statements.set(sql, (statements.get(sql) ?? 0) + 1);
        return orig.apply(this, a);
      };
    }
  }
  const malloc = mallocStats();
  let duckConn: DuckDBConnection | undefined;

  async function duckMemory(): Promise<Record<string, number> | undefined> {
    const d = ducks[0];
    if (!d) return undefined;
    duckConn ??= await d.connect();
    const r = await duckConn.runAndReadAll(
      "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0",
    );
    const out: Record<string, number> = {};
    for (const [tag, bytes] of r.getRows()) out[String(tag)] = Number(bytes);
    return out;
  }

  // Investigation: with GH_FOOTPRINT_HEAPPROF naming a directory, V8's sampling heap profiler
  // runs from the start and SIGWINCH writes what it holds (the live objects sampled, by the
  // stack that allocated them) there as a .heapprofile (a heap snapshot crashed the process).
  const heapProf = process.env["GH_FOOTPRINT_HEAPPROF"];
  if (heapProf) {
    const session = new Session();
    session.connect();
    session.post("HeapProfiler.startSampling", { samplingInterval: 32768 });
    process.on("SIGWINCH", () => {
      session.post("HeapProfiler.getSamplingProfile", (err, res) => {
        if (!err)
          writeFileSync(
            `${heapProf}/gatehouse-${Date.now()}.heapprofile`,
            JSON.stringify(res.profile),
          );
      });
    });
  }

  process.on("SIGUSR2", () => {
    let heapPhysical = 0;
    const spaces: Record<string, [number, number]> = {};
    for (const s of getHeapSpaceStatistics()) {
      heapPhysical += s.physical_space_size;
      spaces[s.space_name] = [s.physical_space_size, s.space_used_size];
    }
    const m = malloc?.();
    const wasm = pglites.map(
      (p) =>
        (p as unknown as { mod?: { wasmMemory?: WebAssembly.Memory } }).mod?.wasmMemory?.buffer
          .byteLength ?? 0,
    );
    const write = (duckdb: Record<string, number> | undefined) =>
      appendFileSync(
        file,
        `${JSON.stringify({
          t: Date.now(),
          ...process.memoryUsage(),
          heapPhysical,
          spaces,
          malloc: m ? { inUse: m[0], free: m[1], mmapped: m[2] } : undefined,
          pgliteWasm: wasm,
          duckdb,
          ...(statements.size
            ? { sql: [...statements].sort((a, b) => b[1] - a[1]).slice(0, 30) }
            : {}),
        })}\n`,
      );
    duckMemory().then(write, () => write(undefined));
  });
}
