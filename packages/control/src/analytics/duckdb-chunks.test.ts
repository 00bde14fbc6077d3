import assert from "node:assert/strict";
import { test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import type { QueryLogRecord } from "@gatehouse/contract";
import { COLUMNS, recordToRow, SELECT_LIST } from "./columns.ts";
import { ChunkAppender } from "./duckdb-chunks.ts";
import { TABLE } from "./query-sql.ts";

/** Write `records` through a ChunkAppender into a fresh in-memory table and read rows back. */
async function roundTrip(records: QueryLogRecord[], accountId = "acct"): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  try {
    const sqlType = { text: "VARCHAR", int: "INTEGER", bigint: "BIGINT", double: "DOUBLE" };
    const cols = COLUMNS.map((col) => `${col.name} ${sqlType[col.type]}`);
    await c.run(`CREATE TABLE ${TABLE} (${cols.join(", ")})`);
    const a = await c.createAppender(TABLE);
    new ChunkAppender().append(a, records, accountId);
    a.closeSync();
    const r = await c.runAndReadAll(`SELECT ${SELECT_LIST} FROM ${TABLE}`);
    return r.getRows().map((row) => row.map((v) => (typeof v === "bigint" ? Number(v) : v)));
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

const base: QueryLogRecord = {
  ts: 1_790_000_000_000,
  kind: "dns",
  id: "q1",
  client: "192.0.2.1",
  action: "allow",
  transport: "udp",
  durationMs: 1.25,
};

test("every column round-trips: inline, long, non-ASCII, absent, constant and varying", async () => {
  const records: QueryLogRecord[] = [
    { ...base, qname: "a.example", qtype: "A", cache: "hit" },
    // 12 bytes exactly (inline), 13 bytes (heap), a short non-ASCII name (heap: multi-byte).
    { ...base, id: "123456789012", qname: "1234567890123", location: "zürich" },
    {
      ...base,
      kind: "http",
      id: "h1",
      transport: "http",
      edgeId: "edge-7",
      host: "Example.COM:8080",
      url: `http://example.com/${"x".repeat(300)}`,
      method: "GET",
      status: 403,
      bytesUp: 0,
      bytesDown: 2 ** 40 + 3,
      ts: 1,
      durationMs: -0.5,
      reason: "é",
    },
  ];
  const rows = await roundTrip(records);
  const expected = records.map((r) => recordToRow(r, new Array(COLUMNS.length), "acct"));
  assert.deepEqual(rows, expected);
});

test("more rows than one chunk, with nulls scattered and long strings in every chunk", async () => {
  const records: QueryLogRecord[] = [];
  for (let i = 0; i < 5000; i++) {
    records.push({
      ...base,
      ts: base.ts + i,
      id: `r${i}`,
      client: `10.0.${i >> 8}.${i & 255}`,
      ...(i % 7 === 0 ? { policyName: `a policy with a long name ${i}` } : {}),
      ...(i % 3 === 0 ? { status: 100 - i } : {}),
      qname: i % 2 === 0 ? `host${i}.example.org` : `h${i}.io`,
    });
  }
  const rows = await roundTrip(records, "");
  rows.sort((a, b) => (a[1] as number) - (b[1] as number));
  const expected = records.map((r) => recordToRow(r, new Array(COLUMNS.length), ""));
  assert.equal(rows.length, expected.length);
  assert.deepEqual(rows, expected);
});

test("a value that does not fit its column type is a clear error", async () => {
  await assert.rejects(roundTrip([{ ...base, ts: 1.5 }]), /ts is not an integer: 1\.5/);
  await assert.rejects(roundTrip([{ ...base, status: 2 ** 31 }]), /status is not a 32-bit integer/);
});
