// Where DuckDB ingest time goes, path by path: the store's appender (what `DuckDbStore.ingest`
// does), DuckDB's NDJSON reader over a temp file (`INSERT … SELECT FROM read_json`), and data
// chunks (`appendDataChunk`). Each path writes the same edge-shaped records in 5,000-record
// transactions into a fresh file database and reports its phases: main-thread JS, the insert
// statement (or the appender calls and their flush), and COMMIT. Not a test: numbers for
// docs/benchmarks.md ("## Analytics").
//
//   node bench/analytics/ingest-paths.ts [--records=200000] [--batch=5000]
//                                        [--paths=store,appender,ndjson,chunk,columns]

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BIGINT,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBValue,
  INTEGER,
  VARCHAR,
} from "@duckdb/node-api";
import type { QueryLogRecord } from "@gatehouse/contract";
import { COLUMNS, recordToRow } from "../../packages/control/src/analytics/columns.ts";
import { ChunkAppender } from "../../packages/control/src/analytics/duckdb-chunks.ts";
import { DuckDbStore } from "../../packages/control/src/analytics/duckdb-store.ts";
import { makeRecords } from "./records.ts";

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? "true"] as const;
  }),
);
const N = Number(args.get("records") ?? 200_000);
const PATHS = (args.get("paths") ?? "store,appender,ndjson,chunk,columns").split(",");
const BATCH = Number(args.get("batch") ?? 5000);
const SQL_TYPE = { text: "VARCHAR", int: "INTEGER", bigint: "BIGINT", double: "DOUBLE" } as const;
const DUCK_TYPE = { text: VARCHAR, int: INTEGER, bigint: BIGINT, double: DOUBLE } as const;

function records(count: number, offset: number): QueryLogRecord[] {
  return makeRecords(count, offset, { start: 1_790_000_000_000 });
}

interface Phases {
  js: number;
  insert: number;
  commit: number;
}

type Writer = (c: DuckDBConnection, batch: QueryLogRecord[], p: Phases, f: string) => Promise<void>;

const ms = (t: number) => performance.now() - t;

/** Per-value appender calls, as the store makes them. */
const appender: Writer = async (c, batch, p) => {
  const t = performance.now();
  const a = await c.createAppender("query_log");
  const row: unknown[] = new Array(COLUMNS.length);
  for (const r of batch) {
    recordToRow(r, row);
    for (let i = 0; i < COLUMNS.length; i++) {
      const v = row[i];
      if (v === null) a.appendNull();
      else if (COLUMNS[i]!.type === "text") a.appendVarchar(v as string);
      else if (COLUMNS[i]!.type === "int") a.appendInteger(v as number);
      else if (COLUMNS[i]!.type === "bigint") a.appendBigInt(BigInt(v as number));
      else a.appendDouble(v as number);
    }
    a.endRow();
  }
  a.closeSync();
  p.insert += ms(t);
};

/** One NDJSON object per row (nulls left out), read by DuckDB's JSON reader. */
const ndjson: Writer = async (c, batch, p, f) => {
  let t = performance.now();
  const row: unknown[] = new Array(COLUMNS.length);
  const lines: string[] = new Array(batch.length);
  for (let j = 0; j < batch.length; j++) {
    recordToRow(batch[j]!, row);
    const o: Record<string, unknown> = {};
    for (let i = 0; i < COLUMNS.length; i++) if (row[i] !== null) o[COLUMNS[i]!.name] = row[i];
    lines[j] = JSON.stringify(o);
  }
  await writeFile(f, lines.join("\n"));
  p.js += ms(t);
  t = performance.now();
  const spec = COLUMNS.map((col) => `'${col.name}': '${SQL_TYPE[col.type]}'`).join(", ");
  await c.run(
    `INSERT INTO query_log BY NAME SELECT * FROM read_json('${f}', format = 'newline_delimited', columns = {${spec}})`,
  );
  p.insert += ms(t);
};

/** Column vectors of up to 2,048 rows (DuckDB's vector size) appended whole. */
const chunk: Writer = async (c, batch, p) => {
  let t = performance.now();
  const types = COLUMNS.map((col) => DUCK_TYPE[col.type]);
  const chunks: DuckDBDataChunk[] = [];
  for (let off = 0; off < batch.length; off += 2048) {
    const part = batch.slice(off, off + 2048);
    const rows = part.map((r) => recordToRow(r, new Array(COLUMNS.length)));
    const ch = DuckDBDataChunk.create(types, part.length);
    for (let i = 0; i < COLUMNS.length; i++) {
      const big = COLUMNS[i]!.type === "bigint";
      ch.setColumnValues(
        i,
        rows.map((r) =>
          r[i] === null ? null : big ? BigInt(r[i] as number) : r[i],
        ) as DuckDBValue[],
      );
    }
    chunks.push(ch);
  }
  p.js += ms(t);
  t = performance.now();
  const a = await c.createAppender("query_log");
  for (const ch of chunks) a.appendDataChunk(ch);
  a.closeSync();
  p.insert += ms(t);
};

/** Typed-array columns copied into reused chunks (what the store does, `duckdb-chunks.ts`). */
const chunkAppender = new ChunkAppender();
const columns: Writer = async (c, batch, p) => {
  const t = performance.now();
  const a = await c.createAppender("query_log");
  chunkAppender.append(a, batch, "");
  a.closeSync();
  p.insert += ms(t);
};

const WRITERS: Record<string, Writer> = { appender, ndjson, chunk, columns };

async function run(path: string, batches: QueryLogRecord[][], dir: string): Promise<void> {
  const file = join(dir, `${path}.duckdb`);
  // The store creates the table (same DDL the product uses), then steps aside.
  const store = await DuckDbStore.open({ path: file });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const p: Phases = { js: 0, insert: 0, commit: 0 };
  if (path === "store") {
    for (let b = 0; b < batches.length; b++) await store.ingest(`bench-${b}`, batches[b]!);
    await store.close();
  } else {
    await store.close();
    const db = await DuckDBInstance.create(file);
    const c = await db.connect();
    for (let b = 0; b < batches.length; b++) {
      await c.run("BEGIN TRANSACTION");
      await WRITERS[path]!(c, batches[b]!, p, join(dir, `batch-${b % 2}.ndjson`));
      const t = performance.now();
      await c.run("COMMIT");
      p.commit += ms(t);
    }
    const n = Number((await c.runAndReadAll("SELECT count(*) FROM query_log")).getRows()[0]![0]);
    if (n !== N) throw new Error(`${path}: ${n} rows, expected ${N}`);
    c.closeSync();
    db.closeSync();
  }
  const sec = ms(t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const us = (x: number) => ((x * 1000) / N).toFixed(1);
  const phases =
    path === "store"
      ? "(phases not separable)"
      : `per record: JS ${us(p.js)} µs, insert ${us(p.insert)} µs, COMMIT ${us(p.commit)} µs`;
  console.log(
    `${path.padEnd(8)} ${Math.round(N / sec).toLocaleString("en")} records/s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU; ${phases}`,
  );
}

const batches: QueryLogRecord[][] = [];
for (let off = 0; off < N; off += BATCH) batches.push(records(Math.min(BATCH, N - off), off));
const dir = await mkdtemp(join(tmpdir(), "gh-ingest-paths-"));
try {
  console.log(`${N.toLocaleString("en")} records, ${BATCH.toLocaleString("en")}/transaction`);
  for (const path of PATHS) await run(path, batches, dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
