import assert from "node:assert/strict";
import { test } from "node:test";
import type { QueryLogRecord } from "@gatehouse/contract";
import { QueryLog } from "./query-log.ts";

const rec = (i: number): QueryLogRecord => ({
  ts: i,
  kind: "dns",
  id: String(i),
  client: "127.0.0.1",
  action: "allow",
  transport: "udp",
  durationMs: 0,
});

test("ring overwrites oldest, counts drops, drains oldest first", () => {
  const log = new QueryLog(3);
  for (let i = 0; i < 5; i++) log.push(rec(i));
  assert.equal(log.size, 3);
  assert.equal(log.dropped, 2);
  assert.deepEqual(
    log.peekNewest(2).map((r) => r.id),
    ["4", "3"],
  );
  assert.deepEqual(
    log.drain(2).map((r) => r.id),
    ["2", "3"],
  );
  log.push(rec(5));
  assert.deepEqual(
    log.drain().map((r) => r.id),
    ["4", "5"],
  );
  assert.equal(log.size, 0);
  assert.deepEqual(log.drain(), []);
  assert.throws(() => new QueryLog(0), RangeError);
});
