// The batch UDP socket (native/udp_batch.c through dns/server/udp-batch.ts) against node:dgram:
// the same answers on both, misses through the pipeline, repeats through the fast path, bursts
// answered in full, bad datagrams dropped or answered while the socket keeps serving; node:dgram's
// bounded send queue.

import assert from "node:assert/strict";
import { createSocket, Socket as DgramSocket } from "node:dgram";
import { test } from "node:test";
import { DnsService } from "../src/dns/dns-service.ts";
import { batchAddon } from "../src/dns/server/udp-batch.ts";
import { listenUdp, MAX_UDP_SEND_QUEUE, type UdpListener } from "../src/dns/server/udp-server.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { edgeRegistry } from "../src/telemetry/metrics.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { a, buildQuery, startFakeUpstream, udpRaw } from "./dns-helpers.ts";

const lib = batchAddon();
const skip =
  lib || process.env.GATEHOUSE_REQUIRE_NATIVE === "1"
    ? false
    : "udp_batch addon not built (no C compiler at install time): node:dgram serves UDP";

test("the batch addon is built where CI requires it", {
  skip: process.env.GATEHOUSE_REQUIRE_NATIVE !== "1" && "GATEHOUSE_REQUIRE_NATIVE is not set",
}, () => {
  assert.ok(
    lib,
    "npm install builds packages/edge/native/build/udp_batch.node (see native/build.ts)",
  );
});

/** Send every query from one socket; resolves with the replies by ID (timeout: what came). */
function burst(port: number, queries: Buffer[], timeoutMs = 3000): Promise<Map<number, Buffer>> {
  return new Promise((resolve) => {
    const got = new Map<number, Buffer>();
    const s = createSocket("udp4");
    const finish = () => {
      clearTimeout(timer);
      s.close();
      resolve(got);
    };
    const timer = setTimeout(finish, timeoutMs);
    s.on("message", (m) => {
      got.set(m.readUInt16BE(0), m);
      if (got.size === queries.length) finish();
    });
    s.bind(0, "127.0.0.1", () => {
      for (const q of queries) s.send(q, port, "127.0.0.1");
    });
  });
}

for (const mode of ["batch", "dgram"] as const) {
  test(`UDP over ${mode}: misses, repeats, bursts and bad datagrams`, {
    skip: mode === "batch" && skip,
  }, async () => {
    const names = Array.from({ length: 50 }, (_, i) => `h${i}.example`);
    const up = await startFakeUpstream(
      new Map(names.map((n, i) => [`${n}/1`, { answers: [a(n, `192.0.2.${i + 1}`, 300)] }])),
    );
    const log = new QueryLog(1000);
    const svc = new DnsService(
      compileSnapshot({
        schemaVersion: 1,
        version: 1,
        resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
        locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
        lists: [],
        policies: [
          {
            id: "p",
            name: "Block h49",
            type: "dns",
            enabled: true,
            precedence: 1,
            expression: 'dns.fqdn == "h49.example"',
            action: "block",
          },
        ],
      }),
      { log },
    );
    let u: UdpListener | undefined;
    try {
      u = await listenUdp(svc, "127.0.0.1:0", { batch: mode === "batch" });
      assert.equal(u.mode, mode);
      // Misses go through the pipeline (and the upstream); repeats through the fast path.
      for (const round of [0, 1]) {
        const replies = await burst(
          u.port,
          names.map((n, i) => buildQuery(n.toUpperCase(), { id: round * 1000 + i })),
        );
        assert.equal(replies.size, names.length, `round ${round}: every query answered`);
        for (let i = 0; i < names.length; i++) {
          const m = decodeMessage(replies.get(round * 1000 + i)!);
          assert.equal(m.questions[0]!.name, names[i]!.toUpperCase(), "question case kept");
          assert.equal(m.answers[0]!.data, i === 49 ? "0.0.0.0" : `192.0.2.${i + 1}`);
        }
      }
      const fast = log.peekNewest(50);
      assert.ok(
        fast.every((r) => r.cache === "hit" || r.action === "block"),
        "the second round was answered from the packet cache",
      );
      assert.equal(fast[0]!.client, "127.0.0.1");
      // A response packet and a truncated header: no answer, and the socket keeps serving.
      const resp = buildQuery("h1.example");
      resp[2]! |= 0x80;
      assert.equal(await udpRaw(u.port, resp, { timeoutMs: 300 }), undefined);
      const formerr = await udpRaw(u.port, Buffer.from([1, 2, 0, 0, 0, 1]), { timeoutMs: 300 });
      if (formerr) assert.equal(formerr[3]! & 0x0f, 1, "FORMERR");
      // Longer than any query: FORMERR (dgram reads it whole) or dropped (longer than a batch
      // slot, counted).
      const long = await udpRaw(u.port, Buffer.alloc(5000, 7), { timeoutMs: 300 });
      if (long) assert.equal(long[3]! & 0x0f, 1, "FORMERR");
      else assert.equal(mode, "batch");
      const again = await udpRaw(u.port, buildQuery("h2.example", { id: 77 }));
      assert.equal(decodeMessage(again!).answers[0]!.data, "192.0.2.3");
      if (u.mode === "batch") {
        const text = await edgeRegistry().metrics();
        const metric = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]);
        assert.equal(metric("gatehouse_dns_udp_oversized_total"), 1);
        assert.ok(metric("gatehouse_dns_udp_sent_total") >= 100, text);
        assert.ok(
          metric("gatehouse_dns_udp_received_total") >= metric("gatehouse_dns_udp_sent_total"),
        );
      }
    } finally {
      await u?.close(200);
      await up.close();
    }
  });
}

test("a burst of misses larger than the pending slots is answered in full (sendmmsg batches)", {
  skip,
}, async () => {
  // 200: the client runs in this process and sends the whole burst before the listener reads,
  // so the listener's receive buffer (about 256 small datagrams by default) bounds it.
  const names = Array.from({ length: 200 }, (_, i) => `m${i}.example`);
  const up = await startFakeUpstream(
    new Map(names.map((n, i) => [`${n}/1`, { answers: [a(n, `198.51.100.${i % 250}`, 300)] }])),
  );
  const svc = new DnsService(
    compileSnapshot({
      schemaVersion: 1,
      version: 1,
      resolver: {
        upstreams: [{ address: up.address }],
        dnssec: { validate: false },
        rateLimit: false,
      },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [],
    }),
    { log: new QueryLog(1000) },
  );
  const u = await listenUdp(svc, "127.0.0.1:0");
  try {
    assert.equal(u.mode, "batch");
    const replies = await burst(
      u.port,
      names.map((n, i) => buildQuery(n, { id: 5000 + i })),
      5000,
    );
    assert.equal(replies.size, names.length, "every miss answered");
    for (let i = 0; i < names.length; i++) {
      const m = decodeMessage(replies.get(5000 + i)!);
      assert.equal(m.questions[0]!.name, names[i]);
      assert.equal(m.answers[0]!.data, `198.51.100.${i % 250}`);
    }
  } finally {
    await u.close(200);
    await up.close();
  }
});

test("a batch socket on a port already taken fails with the errno code", { skip }, async () => {
  const taken = createSocket("udp4");
  await new Promise<void>((ok) => taken.bind(0, "127.0.0.1", () => ok()));
  const svc = new DnsService(
    compileSnapshot({
      schemaVersion: 1,
      version: 1,
      resolver: { upstreams: [{ address: "udp://127.0.0.1:9" }], dnssec: { validate: false } },
      locations: [],
      lists: [],
      policies: [],
    }),
    { log: new QueryLog(10) },
  );
  try {
    await assert.rejects(listenUdp(svc, `127.0.0.1:${taken.address().port}`), {
      code: "EADDRINUSE",
    });
  } finally {
    taken.close();
  }
});

test("batch sockets serve IPv6 and dual-stack clients with node:dgram's address text", {
  skip,
}, async () => {
  const up = await startFakeUpstream(
    new Map([["six.example/1", { answers: [a("six.example", "192.0.2.6", 300)] }]]),
  );
  const log = new QueryLog(100);
  const svc = new DnsService(
    compileSnapshot({
      schemaVersion: 1,
      version: 1,
      resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8", "::1/128"] }],
      lists: [],
      policies: [],
    }),
    { log },
  );
  const ask = (port: number, family: "udp4" | "udp6", to: string) =>
    new Promise<Buffer>((resolve, reject) => {
      const s = createSocket(family);
      const t = setTimeout(() => {
        s.close();
        reject(new Error(`no answer from ${to}`));
      }, 2000);
      s.on("message", (m) => {
        clearTimeout(t);
        s.close();
        resolve(m);
      });
      s.send(buildQuery("six.example", { id: 6 }), port, to);
    });
  const v6 = await listenUdp(svc, "[::1]:0");
  const dual = await listenUdp(svc, "[::ffff:127.0.0.1]:0");
  try {
    for (let i = 0; i < 2; i++) {
      assert.equal(decodeMessage(await ask(v6.port, "udp6", "::1")).answers[0]!.data, "192.0.2.6");
      assert.equal(log.peekNewest(1)[0]!.client, "::1");
    }
    assert.equal(
      decodeMessage(await ask(dual.port, "udp4", "127.0.0.1")).answers[0]!.data,
      "192.0.2.6",
    );
    assert.equal(log.peekNewest(1)[0]!.client, "::ffff:127.0.0.1");
  } finally {
    await v6.close();
    await dual.close();
    await up.close();
  }
});

test("node:dgram: answers past MAX_UDP_SEND_QUEUE queued datagrams are dropped and counted, serving goes on", async () => {
  const svc = new DnsService(
    compileSnapshot({
      schemaVersion: 1,
      version: 1,
      resolver: { upstreams: [] },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [
        {
          id: "p",
          name: "Block all",
          type: "dns",
          enabled: true,
          precedence: 1,
          expression: 'dns.fqdn ne ""',
          action: "block",
        },
      ],
    }),
    { log: new QueryLog(100) },
  );
  const u = await listenUdp(svc, "127.0.0.1:0", { batch: false });
  // The kernel takes loopback datagrams at once, so libuv's queue never fills here: the count
  // the listener reads is set instead, as a socket whose kernel buffer is full would report it.
  const real = DgramSocket.prototype.getSendQueueCount;
  let queued: number | undefined;
  DgramSocket.prototype.getSendQueueCount = function (this: DgramSocket) {
    return queued ?? real.call(this);
  };
  const dropped = async () =>
    (await edgeRegistry().getSingleMetric("gatehouse_dns_udp_send_queue_dropped_total")!.get())
      .values[0]?.value ?? 0;
  // Fresh names (the pipeline) and repeats (the fast path) both go through the bound.
  const queries = (round: number) =>
    Array.from({ length: 20 }, (_, i) => buildQuery(`q${i % 10}.example`, { id: round * 100 + i }));
  try {
    assert.equal(u.mode, "dgram");
    queued = MAX_UDP_SEND_QUEUE - 1;
    const below = await burst(u.port, queries(1));
    assert.equal(below.size, 20, "one below the bound: every query answered");
    const before = await dropped();
    queued = MAX_UDP_SEND_QUEUE;
    const full = await burst(u.port, queries(2), 600);
    assert.equal(full.size, 0, "at the bound: nothing sent");
    assert.equal((await dropped()) - before, 20, "every dropped answer counted");
    queued = undefined;
    const after = await burst(u.port, queries(3));
    assert.equal(after.size, 20, "once the queue drains, answering goes on");
  } finally {
    DgramSocket.prototype.getSendQueueCount = real;
    await u.close(200);
  }
});
