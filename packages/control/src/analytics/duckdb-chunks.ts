// Query-log records into DuckDB data chunks, column by column, with a handful of native calls
// per column instead of one per value. The appender's per-value calls (29 columns) cost about
// as much main-thread time per record as everything else in ingest together; here each column
// of up to 2,048 rows is built in a reusable JS typed array and copied into the chunk's vector
// in one call:
// - numbers: Int32 / Float64 / Int64 (as two 32-bit halves, no BigInt per value);
// - text: DuckDB's `duckdb_string_t` is 16 bytes, a uint32 byte length and then, for strings of
//   at most 12 bytes, the bytes themselves inline (zero-padded) — the layout the C API header
//   documents. Short ASCII values are written inline from JS; longer or non-ASCII values go
//   through `vector_assign_string_element` (DuckDB copies them to the vector's string heap);
//   a column with one value for the whole chunk (account, edge, upstream…) becomes a constant
//   vector, one call;
// - absent values: the validity mask (one bit per row, set = valid).

import { type DuckDBAppender, DuckDBDataChunk } from "@duckdb/node-api";
import duckdb from "@duckdb/node-bindings";
import type { QueryLogRecord } from "@gatehouse/contract";
import { COLUMNS, domainOf } from "./columns.ts";
import { AnalyticsInputError } from "./types.ts";

/** DuckDB's STANDARD_VECTOR_SIZE: the most rows one chunk holds. */
const CHUNK_ROWS = 2048;
const STRING_T = 16;
const INLINE_MAX = 12;
const TWO_32 = 4294967296;

const LOGICAL: Readonly<Record<string, duckdb.Type>> = {
  text: duckdb.Type.VARCHAR,
  int: duckdb.Type.INTEGER,
  bigint: duckdb.Type.BIGINT,
  double: duckdb.Type.DOUBLE,
};

type Getter = (r: QueryLogRecord, accountId: string) => unknown;

/** How a column's value is read from a record. */
function getterOf(col: (typeof COLUMNS)[number]): Getter {
  if (col.name === "account_id") return (_r, accountId) => accountId;
  if (col.name === "domain") return (r) => domainOf(r);
  const field = col.field as keyof QueryLogRecord;
  if (field === "edgeId") return (r) => r.edgeId ?? "";
  // A boolean stored as 0/1 (columns.ts).
  if (field === "inspected")
    return (r) => (r.inspected === undefined ? undefined : r.inspected ? 1 : 0);
  // One function per column with the property named in its source: a shared `(r) => r[field]`
  // sees every field name at one site, so V8's load there goes megamorphic, and building the
  // chunks took 1.2 µs per record instead of 0.95 (docs/benchmarks.md, "Analytics"). The names
  // come from COLUMNS, never from input.
  return new Function("r", `return r.${field};`) as Getter;
}

/**
 * Reusable buffers for one column. Text and numbers share one byte buffer (16 bytes per row
 * covers every type); `longRows` lists the rows whose strings do not fit inline.
 */
interface ColumnBuffers {
  readonly col: (typeof COLUMNS)[number];
  /** The column's position in COLUMNS (and in the chunk). */
  readonly index: number;
  readonly get: Getter;
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly validity: Uint8Array<ArrayBuffer>;
  readonly longRows: Int32Array;
}

function buffers(col: (typeof COLUMNS)[number], index: number): ColumnBuffers {
  const buf = new ArrayBuffer(CHUNK_ROWS * STRING_T);
  return {
    col,
    index,
    get: getterOf(col),
    buffer: buf,
    bytes: new Uint8Array(buf),
    u32: new Uint32Array(buf),
    i32: new Int32Array(buf),
    f64: new Float64Array(buf),
    validity: new Uint8Array(CHUNK_ROWS / 8),
    longRows: new Int32Array(CHUNK_ROWS),
  };
}

/**
 * Appends records to a DuckDB appender as data chunks. One instance per writer connection:
 * its buffers and chunk are reused batch after batch, so a batch allocates no per-value
 * objects (the values of the long strings are the only thing crossing into DuckDB one by one).
 */
export class ChunkAppender {
  private readonly chunk: duckdb.DataChunk;
  /** The same chunk as the node-api appender takes it. */
  private readonly wrapped: DuckDBDataChunk;
  private readonly cols: ColumnBuffers[];
  /** Values of the current chunk, one column at a time (reused). */
  private readonly values: unknown[] = new Array(CHUNK_ROWS);

  constructor() {
    this.chunk = duckdb.create_data_chunk(
      COLUMNS.map((c) => duckdb.create_logical_type(LOGICAL[c.type] as duckdb.Type)),
    );
    this.wrapped = new DuckDBDataChunk(this.chunk);
    this.cols = COLUMNS.map(buffers);
  }

  /** Append every record (COLUMNS order) through `appender`; the caller flushes and commits. */
  append(appender: DuckDBAppender, records: readonly QueryLogRecord[], accountId: string): void {
    for (let off = 0; off < records.length; off += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, records.length - off);
      duckdb.data_chunk_reset(this.chunk);
      const rows = records.slice(off, off + CHUNK_ROWS);
      for (const b of this.cols) this.fillColumn(b, rows, accountId);
      duckdb.data_chunk_set_size(this.chunk, n);
      appender.appendDataChunk(this.wrapped);
    }
  }

  private fillColumn(b: ColumnBuffers, rows: readonly QueryLogRecord[], accountId: string): void {
    const { col, get } = b;
    const n = rows.length;
    const values = this.values;
    let nulls = 0;
    let constant = true;
    let i = 0;
    for (const record of rows) {
      const v = get(record, accountId);
      values[i] = v === undefined ? null : v;
      if (values[i] === null) nulls++;
      if (values[i] !== values[0]) constant = false;
      i++;
    }
    const vector = duckdb.data_chunk_get_vector(this.chunk, b.index);
    if (constant && values[0] !== null && col.type === "text") {
      duckdb.vector_reference_value(vector, duckdb.create_varchar(values[0] as string));
      return;
    }
    if (nulls > 0 && col.required) {
      throw new AnalyticsInputError(`query-log column ${col.name} needs a value in every record`);
    }
    let long = 0;
    switch (col.type) {
      case "text":
        long = writeStrings(b, values, n, col.name);
        break;
      case "int":
        for (let i = 0; i < n; i++) b.i32[i] = values[i] === null ? 0 : int32(values[i], col.name);
        break;
      case "bigint":
        for (let i = 0; i < n; i++) writeInt64(b, i, values[i], col.name);
        break;
      case "double":
        for (let i = 0; i < n; i++) b.f64[i] = values[i] === null ? 0 : (values[i] as number);
        break;
    }
    const width = col.type === "text" ? STRING_T : col.type === "int" ? 4 : 8;
    duckdb.copy_data_to_vector(vector, 0, b.buffer, 0, n * width);
    for (const row of b.longRows.subarray(0, long)) {
      duckdb.vector_assign_string_element(vector, row, values[row] as string);
    }
    if (nulls > 0) {
      const mask = b.validity;
      mask.fill(0xff);
      for (let i = 0; i < n; i++) {
        // i >> 3 < CHUNK_ROWS / 8 = mask.length: the byte is there.
        if (values[i] === null) mask[i >> 3] = (mask[i >> 3] ?? 0) & ~(1 << (i & 7));
      }
      duckdb.vector_ensure_validity_writable(vector);
      duckdb.copy_data_to_vector_validity(vector, 0, mask.buffer, 0, Math.ceil(n / 8));
    }
  }
}

/**
 * Short ASCII strings inline into `duckdb_string_t` slots; returns how many rows need their
 * string assigned natively (listed in `longRows`, their slots zeroed meanwhile).
 */
function writeStrings(b: ColumnBuffers, values: unknown[], n: number, name: string): number {
  const { bytes, u32, longRows } = b;
  let long = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const at = i * STRING_T;
    const w = at >> 2;
    u32[w + 1] = 0;
    u32[w + 2] = 0;
    u32[w + 3] = 0;
    if (v === null) {
      u32[w] = 0;
      continue;
    }
    if (typeof v !== "string") throw new AnalyticsInputError(`query-log ${name} is not text`);
    let ascii = v.length <= INLINE_MAX;
    for (let k = 0; ascii && k < v.length; k++) {
      const ch = v.charCodeAt(k);
      if (ch >= 0x80) ascii = false;
      else bytes[at + 4 + k] = ch;
    }
    if (ascii) {
      u32[w] = v.length;
    } else {
      u32[w] = 0;
      u32[w + 1] = 0;
      longRows[long++] = i;
    }
  }
  return long;
}

function int32(v: unknown, name: string): number {
  if (typeof v !== "number" || (v | 0) !== v) {
    throw new AnalyticsInputError(`query-log ${name} is not a 32-bit integer: ${String(v)}`);
  }
  return v;
}

/** A safe integer as little-endian int64 in slot `i` (two's complement via floor division). */
function writeInt64(b: ColumnBuffers, i: number, v: unknown, name: string): void {
  if (v === null) {
    b.u32[2 * i] = 0;
    b.u32[2 * i + 1] = 0;
    return;
  }
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    throw new AnalyticsInputError(`query-log ${name} is not an integer: ${String(v)}`);
  }
  const hi = Math.floor(v / TWO_32);
  b.u32[2 * i] = v - hi * TWO_32;
  b.i32[2 * i + 1] = hi;
}
