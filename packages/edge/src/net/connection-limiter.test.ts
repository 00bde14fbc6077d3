import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { ConnectionLimiter } from "./connection-limiter.ts";
import { sourceKey } from "./source-key.ts";

test("source key: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64", () => {
  assert.equal(sourceKey("198.51.100.7"), "198.51.100.7");
  assert.equal(sourceKey("::ffff:198.51.100.7"), "198.51.100.7");
  assert.notEqual(sourceKey("::ffff:198.51.100.7"), sourceKey("::ffff:198.51.100.8"));
  assert.equal(sourceKey("2001:db8:1:2:aaaa::1"), sourceKey("2001:db8:1:2:ffff::9"));
  assert.notEqual(sourceKey("2001:db8:1:3::1"), sourceKey("2001:db8:1:2::1"));
  assert.equal(sourceKey("fe80::1%lo"), sourceKey("fe80::2"));
});

test("connection limiter: per source, then in total; release gives the slot back", () => {
  const l = new ConnectionLimiter({ perSource: 2, total: 3 });
  assert.equal(l.acquire("192.0.2.1"), undefined);
  assert.equal(l.acquire("::ffff:192.0.2.1"), undefined, "same source over a dual-stack socket");
  assert.equal(l.acquire("192.0.2.1"), "per_source");
  assert.equal(l.acquire("2001:db8::1"), undefined);
  assert.equal(l.acquire("2001:db8::2"), "total");
  assert.equal(l.open, 3);
  l.release("192.0.2.1");
  assert.equal(l.openFrom("192.0.2.1"), 1);
  assert.equal(l.acquire("2001:db8::2"), undefined);
  assert.equal(l.acquire("2001:db8::3"), "total");
  l.release("2001:db8::1");
  l.release("2001:db8::2");
  l.release("192.0.2.1");
  l.release("192.0.2.1");
  assert.equal(l.open, 0);
  assert.equal(l.openFrom("2001:db8::1"), 0);
  assert.throws(() => new ConnectionLimiter({ perSource: 0, total: 1 }), RangeError);
});

test("connection limiter: admit() frees the slot when the socket closes", async () => {
  const l = new ConnectionLimiter({ perSource: 1, total: 10 });
  const refusals: (string | undefined)[] = [];
  const server = createServer((s: Socket) => {
    const r = l.admit(s);
    refusals.push(r);
    if (r) s.destroy();
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  const port = (server.address() as { port: number }).port;
  const open = async () => {
    const c = connect(port, "127.0.0.1");
    await new Promise<void>((ok) => c.once("connect", () => ok()));
    return c;
  };
  const first = await open();
  const second = await open();
  await new Promise<void>((ok) => second.once("close", () => ok()));
  assert.deepEqual(refusals, [undefined, "per_source"]);
  const closedOnServer = new Promise<void>((ok) => {
    const poll = () => (l.open === 0 ? ok() : setTimeout(poll, 5));
    poll();
  });
  first.destroy();
  await closedOnServer;
  const third = await open();
  third.destroy();
  await new Promise<void>((ok) => server.close(() => ok()));
  assert.equal(refusals[2], undefined);
});
