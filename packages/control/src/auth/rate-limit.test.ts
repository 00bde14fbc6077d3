import assert from "node:assert/strict";
import { test } from "node:test";
import { addressKey, FailureLimiter, WorkBudget } from "./rate-limit.ts";

test("failed-auth address keys: IPv4 as is, IPv4-mapped as its IPv4, IPv6 by /64", () => {
  assert.equal(addressKey("192.0.2.1"), "192.0.2.1");
  assert.equal(addressKey("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "20010db8:10002::/64");
  assert.equal(addressKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "20010db8:10002::/64");
  assert.notEqual(addressKey("2001:db8:1:3::1"), addressKey("2001:db8:1:2::1"));
  assert.equal(addressKey("not an address"), "not an address");
});

test("a key over its limit stays over until the window ends", () => {
  const l = new FailureLimiter(2, 60_000);
  l.fail("a", 0);
  assert.equal(l.blockedFor("a", 1), 0);
  l.fail("a", 1);
  assert.equal(l.blockedFor("a", 1000), 59);
  assert.equal(l.blockedFor("b", 1000), 0);
  assert.equal(l.blockedFor("a", 60_000), 0);
});

test("the work budget refills at its rate and never holds more than a second's worth", () => {
  const b = new WorkBudget(2);
  assert.equal(b.take(0), true);
  assert.equal(b.take(0), true);
  assert.equal(b.take(0), false);
  assert.equal(b.take(500), true);
  assert.equal(b.take(500), false);
  assert.equal(b.take(100_000), true);
  assert.equal(b.take(100_000), true);
  assert.equal(b.take(100_000), false);
});
