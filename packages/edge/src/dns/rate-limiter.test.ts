// The per-source token bucket: a burst, a refill at the configured rate, and a wall clock that
// is set back (an NTP step, a resumed VM) neither drains nor refills a bucket.

import assert from "node:assert/strict";
import { test } from "node:test";
import { RateLimiter } from "./rate-limiter.ts";

test("a burst, then one token a second", () => {
  const l = new RateLimiter({ queriesPerSecond: 1, burst: 3 });
  const t = 1_700_000_000_000;
  assert.deepEqual(
    [1, 2, 3, 4].map(() => l.take("192.0.2.1", t)),
    [true, true, true, false],
  );
  assert.equal(l.take("192.0.2.2", t), true, "another source has its own bucket");
  assert.equal(l.take("192.0.2.1", t + 999), false);
  assert.equal(l.take("192.0.2.1", t + 1000), true);
});

test("a clock set back an hour neither drains nor refills a bucket", () => {
  const l = new RateLimiter({ queriesPerSecond: 50, burst: 500 });
  const t = 1_700_000_000_000;
  for (let i = 0; i < 10; i++) assert.ok(l.take("192.0.2.1", t));
  // An hour back: the bucket holds what it held (490 tokens). Before, the negative interval
  // took 180,000 tokens, and the source was refused for the hour until the clock caught up.
  const back = t - 3_600_000;
  assert.ok(l.take("192.0.2.1", back), "still admitted after the step");
  assert.equal(Math.round(l.tokens("192.0.2.1", back)), 489);
  // Time going on from the earlier reading refills nothing before the latest one...
  assert.equal(Math.round(l.tokens("192.0.2.1", back + 1000)), 489);
  // ...and it is spent as before: the burst still bounds the source.
  let admitted = 0;
  while (l.take("192.0.2.1", back) && admitted < 1000) admitted++;
  assert.equal(admitted, 489);
  // charge() (the C answers' tokens) agrees with a clock set back too.
  l.charge("192.0.2.1", 5, back - 60_000);
  assert.equal(l.tokens("192.0.2.1", back), 0);
});
