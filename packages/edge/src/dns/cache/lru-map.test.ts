import assert from "node:assert/strict";
import { test } from "node:test";
import { LruMap } from "./lru-map.ts";

test("LruMap: evicts the least recently used; touch and re-set make an entry the newest", () => {
  const m = new LruMap<string, number>();
  for (const k of ["a", "b", "c", "d"]) m.set(k, k.charCodeAt(0));
  m.touch("a"); // b c d a
  m.set("c", 3); // b d a c (value replaced, moved to the end)
  m.touch("zz"); // absent: nothing
  assert.deepEqual([...m.keys()], ["b", "d", "a", "c"]);
  assert.equal(m.get("c"), 3);
  assert.equal(m.get("b"), 98, "get does not change recency");
  assert.equal(m.evictOldest(), "b");
  assert.equal(m.delete("a"), true);
  assert.equal(m.delete("a"), false);
  assert.deepEqual([...m.keys()], ["d", "c"]);
  assert.equal(m.size, 2);
  assert.equal(m.evictOldest(), "d");
  assert.equal(m.evictOldest(), "c");
  assert.equal(m.evictOldest(), undefined);
  assert.equal(m.size, 0);
  m.set("x", 1);
  m.clear();
  assert.deepEqual([...m.keys()], []);
  assert.equal(m.get("x"), undefined);
});

test("LruMap: a full map that keeps evicting stays in order (oldest out first, survivors intact)", () => {
  const m = new LruMap<number, number>();
  const max = 1000;
  for (let i = 0; i < 10 * max; i++) {
    m.set(i, i);
    // Every third insert also refreshes an entry from the older half.
    if (i % 3 === 0 && i >= max) m.touch(i - max + 10);
    if (m.size > max) m.evictOldest();
  }
  assert.equal(m.size, max);
  const keys = [...m.keys()];
  assert.equal(new Set(keys).size, max);
  for (const k of keys) assert.equal(m.get(k), k);
  // The newest insert is the last; every key present is one inserted or refreshed recently.
  assert.equal(keys.at(-1), 10 * max - 1);
  assert.ok(
    keys.every((k) => k >= 8 * max),
    `oldest survivor ${Math.min(...keys)}`,
  );
});
