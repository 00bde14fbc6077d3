// One origin shared by many clients (issue 13): one client's slow exchanges (uploads that
// trickle) hold at most upstreamConnectionsPerClient of the origin's connections, and a
// connection that comes free goes to the waiting client holding the fewest, so everyone else
// using that origin is still served.

import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import { type Harness, startHarness } from "./proxy-harness.ts";

/** Answers GETs at once and uploads once their body is complete; notes what it was sent. */
async function startOrigin(): Promise<{ server: Server; port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url!);
    req.resume();
    req.on("end", () => res.end(`done ${req.url}`));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, seen };
}

/** An upload from `from` that sends 10 of its 1000 bytes and then waits (`finish` sends the rest). */
async function slowUpload(
  proxyPort: number,
  originPort: number,
  path: string,
  from: string,
): Promise<{ socket: Socket; finish(): void }> {
  const s = connect({ port: proxyPort, host: "127.0.0.1", localAddress: from });
  s.on("error", () => {});
  await once(s, "connect");
  s.write(
    `POST http://origin.test:${originPort}${path} HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 1000\r\n\r\n${"u".repeat(10)}`,
  );
  return { socket: s, finish: () => s.write("u".repeat(990)) };
}

async function queued(h: Harness): Promise<number> {
  const m = await h.registry.getSingleMetric("gatehouse_proxy_upstream_connections")!.get();
  return m.values.find((v) => v.labels.state === "queued")?.value ?? 0;
}

async function untilQueued(h: Harness, n: number): Promise<void> {
  while ((await queued(h)) !== n) await new Promise((r) => setTimeout(r, 10));
}

async function untilSeen(seen: string[], n: number): Promise<void> {
  while (seen.length < n) await new Promise((r) => setTimeout(r, 10));
}

describe("a client with many slow uploads to one origin", () => {
  let h: Harness;
  const sockets: Socket[] = [];
  before(async () => {
    h = await startHarness(undefined, {
      upstreamConnectionsPerOrigin: 4,
      upstreamConnectionsPerClient: 2,
    });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });
  after(() => h.close());

  test("holds at most its share; another client's request is still served", async () => {
    const origin = await startOrigin();
    try {
      for (let i = 0; i < 6; i++) {
        sockets.push((await slowUpload(h.port, origin.port, `/up${i}`, "127.0.0.1")).socket);
      }
      // Two uploads reach the origin; the other four wait for the client's own connections.
      await untilQueued(h, 4);
      await untilSeen(origin.seen, 2);
      // Another client (another source address) asks the same origin.
      const b = connect({ port: h.port, host: "127.0.0.1", localAddress: "127.0.0.2" });
      b.on("error", () => {});
      sockets.push(b);
      let text = "";
      b.on("data", (c: Buffer) => {
        text += c.toString("latin1");
      });
      b.write(
        `GET http://origin.test:${origin.port}/other HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
      );
      await once(b, "end");
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.ok(text.endsWith("done /other"));
      assert.equal(origin.seen.filter((u) => u.startsWith("/up")).length, 2);
    } finally {
      origin.server.close();
      origin.server.closeAllConnections();
    }
  });
});

describe("a connection that comes free", () => {
  let h: Harness;
  const sockets: Socket[] = [];
  before(async () => {
    h = await startHarness(undefined, {
      upstreamConnectionsPerOrigin: 2,
      upstreamConnectionsPerClient: 2,
    });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await h.close();
  });

  test("goes to the waiting client holding the fewest, not to the first in line", async () => {
    const origin = await startOrigin();
    try {
      const first = await slowUpload(h.port, origin.port, "/up-a1", "127.0.0.1");
      const second = await slowUpload(h.port, origin.port, "/up-a2", "127.0.0.1");
      sockets.push(first.socket, second.socket);
      await untilSeen(origin.seen, 2);
      // Client A queues two more requests, then client B one.
      const get = (path: string, from: string) => {
        const s = connect({ port: h.port, host: "127.0.0.1", localAddress: from });
        s.on("error", () => {});
        sockets.push(s);
        s.write(
          `GET http://origin.test:${origin.port}${path} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
        );
      };
      get("/get-a1", "127.0.0.1");
      get("/get-a2", "127.0.0.1");
      await untilQueued(h, 2);
      get("/get-b", "127.0.0.2");
      await untilQueued(h, 3);
      // A's first upload completes: its connection is free. A holds one, B none: B goes first.
      first.finish();
      await untilSeen(origin.seen, 5);
      assert.deepEqual(origin.seen.slice(2), ["/get-b", "/get-a1", "/get-a2"]);
    } finally {
      origin.server.close();
      origin.server.closeAllConnections();
    }
  });
});
