// Clients that do not read (issue 13): whatever a client sends, the proxy's output queued for it
// stays bounded — pipelined requests are not answered ahead of what the client takes, a large
// response is relayed no faster than the client reads — and a client that stops reading for
// good is cut, its slot freed.

import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { bundle, type Harness, policy, startBulkOrigin, startHarness } from "./proxy-harness.ts";

async function gauge(h: Harness, name: string): Promise<number> {
  const m = await h.registry.getSingleMetric(name)!.get();
  return m.values[0]?.value ?? 0;
}

/** Highest value of the proxy's queued-output gauge over `ms`, sampled. */
async function peakQueued(h: Harness, ms: number): Promise<number> {
  let peak = 0;
  for (let t = 0; t < ms; t += 50) {
    peak = Math.max(peak, await gauge(h, "gatehouse_proxy_client_queued_bytes"));
    await new Promise((r) => setTimeout(r, 50));
  }
  return peak;
}

async function counter(h: Harness, reason: string): Promise<number> {
  const m = await h.registry.getSingleMetric("gatehouse_proxy_connections_destroyed_total")!.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** Until `n` connections were cut for not reading and the proxy holds no client connection. */
async function cutAndGone(h: Harness, n: number): Promise<void> {
  while (
    (await counter(h, "not_reading")) < n ||
    (await gauge(h, "gatehouse_proxy_active_connections")) !== 0
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Bound on what the proxy may hold for one client: a socket buffer's worth and a read chunk. */
const BOUND = 256 * 1024;

describe("clients that do not read", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(
      bundle({
        policies: [
          policy("http", "block", 'http.request.uri.path == "/blocked"'),
          ...bundle().policies,
        ],
      }),
      // A client that takes nothing of its response for this long is cut.
      { idleTimeoutMs: 1500 },
    );
  });
  after(() => h.close());

  test("pipelined requests: answers are not queued ahead of the client", async () => {
    const c = connect(h.port, "127.0.0.1");
    c.on("error", () => {});
    c.pause(); // never reads
    const one = `GET http://origin.test:${h.origin.port}/blocked HTTP/1.1\r\nHost: origin.test\r\nAccept: text/html\r\n\r\n`;
    const many = Buffer.from(one.repeat(20_000));
    c.write(many);
    const cut = await counter(h, "not_reading");
    const peak = await peakQueued(h, 1000);
    assert.ok(peak > 0, "answers backed up toward the client");
    assert.ok(peak < BOUND, `queued ${peak} bytes for a client that reads nothing`);
    // It reads nothing for good: the proxy gives up on it and frees its slot.
    await cutAndGone(h, cut + 1);
    c.destroy();
  });

  test("a large response to a client that stops reading stays bounded in the proxy", async () => {
    const { server: big, port } = await startBulkOrigin(256 * 1024 * 1024);
    const c: Socket = connect(h.port, "127.0.0.1");
    c.on("error", () => {});
    try {
      c.write(`GET http://origin.test:${port}/big HTTP/1.1\r\nHost: origin.test\r\n\r\n`);
      await once(c, "readable");
      c.pause();
      const cut = await counter(h, "not_reading");
      const peak = await peakQueued(h, 1000);
      assert.ok(peak > 0, "the body backed up toward the client");
      assert.ok(peak < BOUND, `queued ${peak} bytes for a client that stopped reading`);
      await cutAndGone(h, cut + 1);
    } finally {
      c.destroy();
      big.close();
      big.closeAllConnections();
    }
  });
});

describe("a tunnel whose client stops reading (relayed in Node)", () => {
  let h: Harness;
  let splice: string | undefined;
  before(async () => {
    splice = process.env.GATEHOUSE_TUNNEL_SPLICE;
    process.env.GATEHOUSE_TUNNEL_SPLICE = "0";
    h = await startHarness(bundle({ proxy: { connectPorts: [] } }), {
      clientHelloTimeoutMs: 200,
      upstreamIdleTimeoutMs: 500,
    });
  });
  after(async () => {
    if (splice === undefined) delete process.env.GATEHOUSE_TUNNEL_SPLICE;
    else process.env.GATEHOUSE_TUNNEL_SPLICE = splice;
    await h.close();
  });

  test("holds one read's worth, and ends after the idle limit", async () => {
    // A destination that sends without end as fast as it is taken.
    const flood = createNetServer((s) => {
      s.on("error", () => {});
      const chunk = Buffer.alloc(256 * 1024, 7);
      const pump = () => {
        while (!s.destroyed && s.write(chunk));
        if (!s.destroyed) s.once("drain", pump);
      };
      pump();
    });
    flood.listen(0, "127.0.0.1");
    await once(flood, "listening");
    const port = (flood.address() as AddressInfo).port;
    h.setBundle(bundle({ proxy: { connectPorts: [port] } }));
    const c = connect(h.port, "127.0.0.1");
    c.on("error", () => {});
    try {
      c.write(`CONNECT origin.test:${port} HTTP/1.1\r\nHost: origin.test:${port}\r\n\r\n`);
      await once(c, "readable"); // the 200 (and, after the ClientHello wait, the flood)
      c.pause();
      const peak = await peakQueued(h, 1000);
      assert.ok(peak > 0, "the destination's bytes reached the client's socket");
      assert.ok(peak < BOUND, `queued ${peak} bytes for a tunnel client that reads nothing`);
      // Neither side moves: the relay gives up on the tunnel.
      while ((await gauge(h, "gatehouse_proxy_active_tunnels")) !== 0) {
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      c.destroy();
      flood.close();
    }
  });
});
