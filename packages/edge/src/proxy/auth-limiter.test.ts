import assert from "node:assert/strict";
import { test } from "node:test";
import { AuthFailureLimiter, clientKey } from "./auth-limiter.ts";

test("auth limiter: refuses past the limit until the window ends, per address", () => {
  const l = new AuthFailureLimiter({ maxFailures: 3, windowMs: 10_000 });
  for (let i = 0; i < 3; i++) assert.equal(l.attempt("192.0.2.1", 1000 + i), 0);
  assert.equal(l.attempt("192.0.2.1", 2000), 9000, "ms left in the window");
  assert.equal(l.attempt("192.0.2.1", 10_999), 1);
  assert.equal(l.attempt("192.0.2.2", 2000), 0, "other addresses are not affected");
  // Refusals are not counted: the window is not extended by hammering.
  assert.equal(l.attempt("192.0.2.1", 11_000), 0, "a new window");
  assert.equal(l.attempt("192.0.2.1", 11_001), 0);
  assert.equal(l.attempt("192.0.2.1", 11_002), 0);
  assert.ok(l.attempt("192.0.2.1", 11_003) > 0);
});

test("auth limiter: a verified attempt is taken back, only in its own window", () => {
  const l = new AuthFailureLimiter({ maxFailures: 2, windowMs: 10_000 });
  assert.equal(l.attempt("192.0.2.1", 0), 0);
  l.succeeded("192.0.2.1", 0);
  assert.equal(l.attempt("192.0.2.1", 1), 0);
  assert.equal(l.attempt("192.0.2.1", 2), 0);
  assert.ok(l.attempt("192.0.2.1", 3) > 0, "successes do not earn extra attempts");
  // A success from an earlier window gives nothing back in the next one.
  assert.equal(l.attempt("192.0.2.1", 10_000), 0);
  assert.equal(l.attempt("192.0.2.1", 10_001), 0);
  l.succeeded("192.0.2.1", 5);
  assert.ok(l.attempt("192.0.2.1", 10_002) > 0);
});

test("auth limiter: IPv6 clients are counted by /64", () => {
  assert.equal(clientKey("2001:db8:1:2:aaaa::1"), "20010db8:10002::/64");
  assert.equal(clientKey("2001:db8:1:2:bbbb::9"), clientKey("2001:0db8:0001:0002::"));
  assert.notEqual(clientKey("2001:db8:1:3::1"), clientKey("2001:db8:1:2::1"));
  assert.equal(clientKey("198.51.100.7"), "198.51.100.7");
  const l = new AuthFailureLimiter({ maxFailures: 2, windowMs: 10_000 });
  assert.equal(l.attempt("2001:db8:1:2::1", 0), 0);
  assert.equal(l.attempt("2001:db8:1:2::2", 0), 0);
  assert.ok(l.attempt("2001:db8:1:2:ffff:ffff:ffff:ffff", 0) > 0, "same /64");
  assert.equal(l.attempt("2001:db8:1:3::1", 0), 0, "next /64");
});

test("auth limiter: memory is bounded, the quietest address goes first", () => {
  const l = new AuthFailureLimiter({ maxFailures: 2, windowMs: 60_000, maxClients: 100 });
  l.attempt("10.0.0.1", 0);
  l.attempt("10.0.0.1", 0);
  for (let i = 0; i < 1000; i++) {
    l.attempt(`10.1.${i >> 8}.${i & 255}`, 1);
    // 10.0.0.1 keeps failing, so it stays among the most recent.
    if (i % 50 === 0) assert.ok(l.attempt("10.0.0.1", 1) > 0);
    assert.ok(l.size <= 100);
  }
  assert.equal(l.size, 100);
  assert.ok(l.attempt("10.0.0.1", 2) > 0, "the busy guesser is still limited");
  assert.equal(l.attempt("10.1.0.0", 2), 0, "the oldest quiet address was forgotten");
});

test("auth limiter: a clock set back ends the window instead of adding the step to the wait", () => {
  const l = new AuthFailureLimiter({ maxFailures: 2, windowMs: 60_000 });
  const t = 1_700_000_000_000;
  l.attempt("192.0.2.1", t);
  l.attempt("192.0.2.1", t);
  assert.equal(l.attempt("192.0.2.1", t + 1000), 59_000, "refused for the rest of the window");
  // An hour back: the wait was 3,659 s (the window plus the step); the window ends now instead.
  const back = t - 3_600_000;
  assert.equal(l.attempt("192.0.2.1", back), 0, "a new window");
  assert.equal(l.attempt("192.0.2.1", back), 0);
  assert.equal(l.attempt("192.0.2.1", back), 60_000, "limited again in the new window");
});
