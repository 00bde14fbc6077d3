import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { a, type FakeUpstream, startFakeUpstream } from "../../../test/dns-helpers.ts";
import { decodeMessage } from "../wire/message.ts";
import { parseUpstream, UpstreamGroup, UpstreamRouter } from "./pool.ts";

let good: FakeUpstream;
let other: FakeUpstream;
let dead: FakeUpstream;
before(async () => {
  good = await startFakeUpstream(
    new Map([["x.example/1", { answers: [a("x.example", "192.0.2.1")] }]]),
  );
  other = await startFakeUpstream(
    new Map([["x.example/1", { answers: [a("x.example", "192.0.2.2")] }]]),
  );
  dead = await startFakeUpstream(new Map());
  dead.down = true;
});
after(async () => {
  await Promise.all([good.close(), other.close(), dead.close()]);
});

const question = { name: "x.example", type: 1, class: 1, do: false, cd: false };

test("parse upstream addresses", () => {
  assert.deepEqual(
    [
      parseUpstream({ address: "udp://1.1.1.1:53" }),
      parseUpstream({ address: "tls://[2001:db8::1]" }),
      parseUpstream({ address: "9.9.9.9" }),
    ].map((t) => [t.protocol, t.host, t.port]),
    [
      ["udp", "1.1.1.1", 53],
      ["tls", "2001:db8::1", 853],
      ["udp", "9.9.9.9", 53],
    ],
  );
  assert.equal(
    parseUpstream({ address: "https://dns.example/dns-query" }).url,
    "https://dns.example/dns-query",
  );
  assert.throws(() => parseUpstream({ address: "ftp://x" }), /unknown scheme/);
  assert.throws(() => parseUpstream({ address: "udp://dns.example:53" }), /need an IP address/);
});

test("failover skips a dead upstream; health marks it down after repeated failures", async () => {
  const g = new UpstreamGroup(
    [
      { address: dead.address, timeoutMs: 100 },
      { address: good.address, timeoutMs: 500 },
    ],
    "failover",
  );
  for (let i = 0; i < 3; i++) {
    const r = await g.query(question, false);
    assert.equal(r.upstream, good.address);
    assert.equal(decodeMessage(r.wire).answers[0]!.data, "192.0.2.1");
  }
  assert.equal(g.states[0]!.isUp(Date.now()), false);
  const before = dead.counts.size;
  await g.query(question, false);
  assert.equal(dead.counts.size, before, "a down upstream is not asked");
});

test("parallel takes the first good answer; fastest prefers the lower EWMA", async () => {
  const par = new UpstreamGroup(
    [{ address: dead.address, timeoutMs: 300 }, { address: good.address }],
    "parallel",
  );
  const r = await par.query(question, false);
  assert.equal(r.upstream, good.address);
  const fast = new UpstreamGroup(
    [{ address: good.address }, { address: other.address }],
    "fastest",
  );
  fast.states[0]!.success(50);
  fast.states[1]!.success(1);
  assert.equal((await fast.query(question, false)).upstream, other.address);
});

test("conditional forwarding: longest suffix wins, separate cache view", () => {
  const r = new UpstreamRouter({
    upstreams: [{ address: good.address }],
    conditionalForwarding: [
      { suffix: "corp.example", upstreams: [{ address: other.address }] },
      { suffix: "lab.corp.example", upstreams: [{ address: dead.address }] },
    ],
  });
  assert.equal(r.route("x.corp.example").group.states[0]!.target.address, other.address);
  assert.equal(r.route("a.lab.corp.example").view, "cf:lab.corp.example");
  assert.equal(r.route("corp.example.org").view, "d");
});
