// isLoopbackHost: the check the Connect answer, `up`'s banner and its port choice share.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isLoopbackHost } from "@gatehouse/contract";

test("loopback addresses in their spellings, and nothing else", () => {
  for (const h of [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "0::1",
    "::0001",
    "::ffff:127.0.0.1",
    "0:0:0:0:0:ffff:127.0.0.2",
  ])
    assert.equal(isLoopbackHost(h), true, h);
  for (const h of [
    "10.0.0.1",
    "0.0.0.0",
    "::",
    "::11",
    "1::1",
    "fe80::1",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "localhost",
    "128.0.0.1",
    "",
  ])
    assert.equal(isLoopbackHost(h), false, h);
});
