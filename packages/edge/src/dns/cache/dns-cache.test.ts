import assert from "node:assert/strict";
import { test } from "node:test";
import { RRType } from "../wire/constants.ts";
import type { ResourceRecord } from "../wire/message.ts";
import { CACHE_DEFAULTS, cacheKey, DnsCache } from "./dns-cache.ts";

const A = (ttl: number): ResourceRecord => ({
  name: "a.example",
  type: RRType.A,
  class: 1,
  ttl,
  data: "192.0.2.1",
});
const SOA = (ttl: number, minimum: number): ResourceRecord => ({
  name: "example",
  type: RRType.SOA,
  class: 1,
  ttl,
  data: { mname: "ns", rname: "h", serial: 1, refresh: 1, retry: 1, expire: 1, minimum },
});
const pos = (ttl: number) => ({
  rcode: 0,
  ad: false,
  answers: [A(ttl)],
  authorities: [],
  additionals: [],
});

test("key separates DO bit and view", () => {
  assert.notEqual(cacheKey("a", 1, 1, false, false, "d"), cacheKey("a", 1, 1, true, false, "d"));
  assert.notEqual(cacheKey("a", 1, 1, false, false, "d"), cacheKey("a", 1, 1, false, true, "d"));
  assert.notEqual(
    cacheKey("a", 1, 1, false, false, "d"),
    cacheKey("a", 1, 1, false, false, "cf:corp"),
  );
});

test("TTL clamps, negative TTL from SOA (RFC 2308), uncacheable answers", () => {
  const c = new DnsCache({ ...CACHE_DEFAULTS, minTtl: 10, maxTtl: 100, maxNegativeTtl: 50 });
  assert.equal(c.ttlFor(pos(5)), 10);
  assert.equal(c.ttlFor(pos(500)), 100);
  assert.equal(
    c.ttlFor({ rcode: 3, ad: false, answers: [], authorities: [SOA(300, 40)], additionals: [] }),
    40,
  );
  assert.equal(
    c.ttlFor({ rcode: 3, ad: false, answers: [], authorities: [SOA(300, 400)], additionals: [] }),
    50,
  );
  assert.equal(
    c.ttlFor({ rcode: 3, ad: false, answers: [], authorities: [], additionals: [] }),
    undefined,
  );
  assert.equal(
    c.ttlFor({ rcode: 2, ad: false, answers: [], authorities: [], additionals: [] }),
    undefined,
  );
  const e = c.store("k", pos(5), 0)!;
  assert.equal(e.answers[0]!.ttl, 10, "served TTLs follow the clamp");
});

test("hit, expiry into stale window, then gone; LRU eviction", () => {
  const c = new DnsCache({ ...CACHE_DEFAULTS, maxEntries: 2, staleTtl: 10 });
  c.store("a", pos(60), 0);
  assert.equal(c.lookup("a", 30_000).kind, "hit");
  const l = c.lookup("a", 61_000);
  assert.equal(l.kind, "expired");
  assert.equal(c.lookup("a", 71_000).kind, "miss");
  c.store("x", pos(60), 0);
  c.store("y", pos(60), 0);
  c.lookup("x", 1); // x becomes most recent
  c.store("z", pos(60), 0);
  assert.equal(c.lookup("y", 2).kind, "miss", "least recently used evicted");
  assert.equal(c.lookup("x", 2).kind, "hit");
  assert.equal(c.evictions, 1);
});

test("prefetch: popular entries near expiry", () => {
  const c = new DnsCache(CACHE_DEFAULTS);
  const e = c.store("a", pos(100), 0)!;
  c.lookup("a", 1000);
  c.lookup("a", 2000);
  assert.equal(c.shouldPrefetch(e, 50_000), false);
  assert.equal(c.shouldPrefetch(e, 95_000), true);
});

test("a full cache that keeps storing evicts the least recently used, one per store", () => {
  const max = 1000;
  const c = new DnsCache({ ...CACHE_DEFAULTS, maxEntries: max });
  for (let i = 0; i < max; i++) c.store(`n${i}`, pos(60), 0);
  // n0..n99 asked again: now the most recent, so the next 100 stores evict n100..n199.
  for (let i = 0; i < 100; i++) assert.equal(c.lookup(`n${i}`, 1).kind, "hit");
  for (let i = 0; i < 100; i++) c.store(`m${i}`, pos(60), 1);
  assert.equal(c.size, max);
  assert.equal(c.evictions, 100);
  for (let i = 0; i < 100; i++) assert.equal(c.peek(`n${i}`)?.key, `n${i}`);
  for (let i = 100; i < 200; i++) assert.equal(c.peek(`n${i}`), undefined, `n${i} evicted`);
  for (let i = 200; i < max; i++) assert.ok(c.peek(`n${i}`));
  // Storing a key again replaces it in place: no eviction, the size stays.
  c.store("n500", pos(30), 2);
  assert.equal(c.size, max);
  assert.equal(c.evictions, 100);
  assert.equal(c.peek("n500")?.ttl, 30);
});
