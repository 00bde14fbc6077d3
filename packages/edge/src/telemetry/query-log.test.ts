import assert from "node:assert/strict";
import { test } from "node:test";
import type { QueryLogRecord } from "@gatehouse/contract";
import { httpRequestChannel } from "./events.ts";
import { QUERY_LOG_INITIAL_SLOTS, QueryLog, subscribeProxyQueryLog } from "./query-log.ts";

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

test("compact records share a template and become whole records when drained", () => {
  const log = new QueryLog(4);
  const tpl = { kind: "dns", action: "block", qname: "ads.example", policyId: "p" } as const;
  log.push(rec(0));
  log.pushCompact(tpl, "192.0.2.7", "udp", 1000, 0.004, 1);
  log.pushCompact(tpl, "192.0.2.8", "tcp", 1001, 0.005, 2);
  const [newest] = log.peekNewest(1);
  assert.equal(newest!.client, "192.0.2.8");
  const all = log.drain();
  assert.deepEqual(
    all.map((r) => [r.client, r.transport, r.ts, r.action, r.qname]),
    [
      ["127.0.0.1", "udp", 0, "allow", undefined],
      ["192.0.2.7", "udp", 1000, "block", "ads.example"],
      ["192.0.2.8", "tcp", 1001, "block", "ads.example"],
    ],
  );
  assert.equal(all[1]!.durationMs, 0.004);
  assert.notEqual(all[1]!.id, all[2]!.id, "every compact record gets its own id");
  // Compact and whole records overwrite each other in one ring.
  for (let i = 0; i < 5; i++) log.pushCompact(tpl, "192.0.2.9", "udp", i, 0, 3 + i);
  log.push(rec(9));
  assert.equal(log.size, 4);
  assert.deepEqual(
    log.drain().map((r) => r.ts),
    [2, 3, 4, 9],
  );
});

test("the ring is bounded by the bytes its records hold: the oldest go, counted as dropped", () => {
  const log = new QueryLog(1000, 65_536);
  const big = (i: number): QueryLogRecord => ({
    ...rec(i),
    kind: "http",
    url: `/${"x".repeat(2000)}${i}`,
  });
  for (let i = 0; i < 100; i++) log.push(big(i));
  assert.ok(log.bytes <= 65_536, `${log.bytes}`);
  assert.ok(log.size < 40 && log.size > 20, `${log.size}`);
  assert.equal(log.dropped, 100 - log.size);
  assert.equal(log.peekNewest(1)[0]!.id, "99");
  // Small records fit many more into the same bytes; draining gives the bytes back.
  for (let i = 100; i < 400; i++) log.push(rec(i));
  assert.ok(log.size > 250, `${log.size}`);
  log.drain();
  assert.equal(log.bytes, 0);
  assert.equal(log.pushed, 400);
  assert.throws(() => new QueryLog(10, 0), RangeError);
});

test("the ring starts small and grows to its capacity, keeping order across the growth", () => {
  const cap = QUERY_LOG_INITIAL_SLOTS * 3;
  const log = new QueryLog(cap);
  const tpl = { kind: "dns", action: "allow", qname: "a.example" } as const;
  // Wrap the first slots before a growth: drain some, so the records sit across the seam.
  for (let i = 0; i < 700; i++) log.push(rec(i));
  assert.equal(log.drain(500).at(-1)!.id, "499");
  let n = 700;
  // Whole and compact records through two doublings (1,024 -> 2,048 -> 3,072, the capacity).
  for (; n < 700 + cap + 100; n++)
    if (n % 2) log.push(rec(n));
    else log.pushCompact(tpl, "192.0.2.1", "udp", n, 0, n);
  assert.equal(log.size, cap);
  assert.equal(log.dropped, n - 500 - cap, "drops only once the capacity is reached");
  const all = log.drain();
  assert.deepEqual(
    all.map((r) => r.ts),
    Array.from({ length: cap }, (_, k) => n - cap + k),
  );
  assert.equal(log.bytes, 0);
  assert.equal(log.capacity, cap);
});

test("proxy records keep a shared template and their own fields, and drain as they were published", () => {
  const log = new QueryLog(64);
  const origin = {};
  const stop = subscribeProxyQueryLog(log, origin);
  const published: QueryLogRecord[] = [];
  const publish = (r: QueryLogRecord) => {
    published.push(r);
    httpRequestChannel.publish({ origin, record: r, peerPrivate: false, errorDetail: undefined });
  };
  try {
    for (let i = 0; i < 40; i++) {
      const r: QueryLogRecord = {
        ts: 1000 + i,
        kind: "http",
        id: `p-${i}`,
        client: `10.0.0.${i % 3}`,
        action: i % 5 === 0 ? "block" : "allow",
        transport: "http",
        durationMs: i / 7,
        method: "GET",
        status: i % 5 === 0 ? 403 : 200,
        bytesUp: 100 + i,
        bytesDown: 2000 + i,
      };
      // Hosts, policies and origin addresses vary more than the templates kept.
      r.host = `h${i % 20}.example`;
      if (i % 5 === 0) {
        r.policyId = "p1";
        r.policyName = "Blocked";
        r.reason = "policy";
      } else r.upstreamAddr = `192.0.2.${i % 20}:80`;
      if (i % 7 !== 0) r.url = `http://${r.host}/page/${i}`;
      publish(r);
    }
    // A record without byte counts (a request refused by the connection loop) is kept whole.
    publish({
      ts: 2000,
      kind: "http",
      id: "fault",
      client: "10.0.0.9",
      action: "refused",
      transport: "http",
      durationMs: 0,
      status: 400,
    });
    httpRequestChannel.publish({
      origin: {},
      record: published[0] as QueryLogRecord,
      peerPrivate: false,
      errorDetail: undefined,
    });
    assert.deepEqual(log.peekNewest(1), [published.at(-1)]);
    assert.deepEqual(log.drain(), published, "another proxy's record is not kept");
  } finally {
    stop();
  }
});

test("a proxy slot is counted as its whole record would be: template counted once, own fields per request", () => {
  const log = new QueryLog(64);
  const whole = new QueryLog(64);
  const origin = {};
  const stop = subscribeProxyQueryLog(log, origin);
  try {
    for (let i = 0; i < 30; i++) {
      const r: QueryLogRecord = {
        ts: 1_700_000_000_000 + i,
        kind: "http",
        id: `req-${i}`,
        client: `10.0.0.${i % 4}`,
        action: "allow",
        transport: "http",
        durationMs: i === 3 ? 2 : i / 3,
        method: "GET",
        status: 200,
        bytesUp: i === 5 ? 2 ** 31 : 90 + i,
        bytesDown: 1000 * i,
        host: `h${i % 3}.example`,
        upstreamAddr: "192.0.2.1:80",
      };
      if (i % 4 !== 0) r.url = `http://h${i % 3}.example/${"x".repeat(i)}`;
      httpRequestChannel.publish({ origin, record: r, peerPrivate: false, errorDetail: undefined });
      whole.push(r);
      assert.equal(log.bytes, whole.bytes, `record ${i}`);
    }
  } finally {
    stop();
  }
});
