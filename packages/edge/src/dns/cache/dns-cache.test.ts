import assert from "node:assert/strict";
import { test } from "node:test";
import { RRType } from "../wire/constants.ts";
import type { ResourceRecord } from "../wire/message.ts";
import { CACHE_DEFAULTS, cacheKey, DnsCache, ENTRY_BYTES } from "./dns-cache.ts";

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

test("the cache is bounded by bytes: what each entry holds is counted, the oldest go first", () => {
  const c = new DnsCache({ ...CACHE_DEFAULTS, maxBytes: 20_000 });
  const e = c.store(cacheKey("a.example", 1, 1, false, false, "d"), pos(300), 0)!;
  // The fixed part, the key and the record (its owner name and address text).
  assert.ok(e.bytes > ENTRY_BYTES + 40, `${e.bytes}`);
  assert.equal(c.bytes, e.bytes);
  // The same key stored again replaces the entry and its count.
  c.store(cacheKey("a.example", 1, 1, false, false, "d"), pos(200), 0);
  assert.equal(c.bytes, e.bytes);
  for (let i = 0; i < 200; i++) c.store(`k${i}`, pos(300), 0);
  assert.ok(c.bytes <= 20_000, `${c.bytes}`);
  assert.ok(c.size >= Math.floor(20_000 / e.bytes) - 1, `${c.size}`);
  assert.equal(c.evictions, 201 - c.size);
  assert.equal(c.lookup("k0", 1).kind, "miss", "the oldest went");
  assert.equal(c.lookup("k199", 1).kind, "hit");
  // A bigger answer counts more: its records and their data.
  const big = c.store(
    "big",
    {
      ...pos(300),
      answers: Array.from({ length: 20 }, (_, i) => ({ ...A(300), name: `n${i}.example` })),
    },
    0,
  )!;
  assert.ok(big.bytes > e.bytes + 19 * 60, `${big.bytes}`);
  assert.ok(c.bytes <= 20_000);
  // An entry that expired past its stale window is dropped at lookup, with its count.
  const before = c.bytes;
  assert.equal(c.lookup("big", 300_000 + CACHE_DEFAULTS.staleTtl * 1000 + 1).kind, "miss");
  assert.equal(c.bytes, before - big.bytes);
  c.clear();
  assert.equal(c.bytes, 0);
  // 0 bytes: nothing is cached.
  assert.equal(new DnsCache({ ...CACHE_DEFAULTS, maxBytes: 0 }).store("k", pos(300), 0), undefined);
});

test("RDATA views of the upstream message are copied, so an entry keeps only its own bytes", () => {
  const message = Buffer.alloc(1000);
  const txt: ResourceRecord = {
    name: "t.example",
    type: RRType.TXT,
    class: 1,
    ttl: 300,
    data: [message.subarray(10, 20)],
  };
  const raw: ResourceRecord = { ...txt, type: 999, data: message.subarray(30, 34) };
  const e = new DnsCache().store("t", { ...pos(300), answers: [txt, raw] }, 0)!;
  const [t, r] = e.answers as [ResourceRecord, ResourceRecord];
  assert.equal((t.data as Uint8Array[])[0]!.buffer.byteLength, 10);
  assert.equal((r.data as Uint8Array).buffer.byteLength, 4);
});

test("entries' use counters are apart from the entries (the packet cache keeps only the counter)", () => {
  const c = new DnsCache();
  const e = c.store("k", pos(300), 0)!;
  c.lookup("k", 1);
  c.lookup("k", 2);
  assert.deepEqual(e.use, { hits: 2, prefetching: false });
});
