// When a response counts as finished (its onFinish runs, the connection reads the next request):
// once its last byte was handed to the kernel. A write the kernel takes whole finishes in the
// same tick, without a write callback; one it cannot take at once (a client that does not read)
// finishes only after the client took it, and the keep-alive connection then goes on in order.

import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, connect, type Socket } from "node:net";
import { test } from "node:test";
import type { ClientRequest, ClientResponse } from "./message.ts";
import { Http1Server } from "./server.ts";

const LIMITS = {
  maxHeadBytes: 8192,
  maxHeaderCount: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 0,
  idleTimeoutMs: 10_000,
  maxConnections: 100,
  maxConnectionsPerSource: 100,
  closeGraceMs: 1000,
};

const BIG = 16 << 20;

/** Read from `s` until `n` bytes came; the bytes. */
async function readBytes(s: Socket, n: number, got: Buffer[]): Promise<Buffer> {
  let have = got.reduce((a, b) => a + b.length, 0);
  while (have < n) {
    const [chunk] = (await once(s, "data")) as [Buffer];
    got.push(chunk);
    have += chunk.length;
  }
  const all = Buffer.concat(got);
  got.length = 0;
  if (all.length > n) got.push(all.subarray(n));
  return all.subarray(0, n);
}

test("a response finishes once the kernel took its last byte; keep-alive goes on in order", async () => {
  const events: string[] = [];
  const server = new Http1Server(LIMITS, {
    request(req: ClientRequest, res: ClientResponse) {
      const big = req.url === "/big";
      const body = big ? Buffer.alloc(BIG, 0x61) : Buffer.from(`small ${req.url}`);
      events.push(`start ${req.url}`);
      res.respond(200, ["content-length", String(body.length)], body, () => {
        events.push(`finished ${req.url}`);
      });
    },
    connect: (_req, socket) => socket.destroy(),
    upgrade: (_req, socket) => socket.destroy(),
    fault: (_fault, socket) => socket.destroy(),
  });
  server.server.listen(0, "127.0.0.1");
  await once(server.server, "listening");
  const port = (server.server.address() as AddressInfo).port;
  const client = connect(port, "127.0.0.1");
  try {
    await once(client, "connect");
    const got: Buffer[] = [];
    // Two small ones pipelined: the second is read once the first went out.
    client.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    const smallHead = (u: string) =>
      `HTTP/1.1 200 OK\r\ncontent-length: ${`small ${u}`.length}\r\nconnection: keep-alive\r\n\r\nsmall ${u}`;
    const two = await readBytes(client, smallHead("/a").length + smallHead("/b").length, got);
    assert.equal(two.toString("latin1"), smallHead("/a") + smallHead("/b"));
    // A response larger than the socket buffers while the client does not read: not finished
    // until the client took it all.
    client.pause();
    client.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    while (!events.includes("start /big")) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!events.includes("finished /big"), "not finished while the client holds back");
    assert.ok(!events.includes("start /c"), "the next request waits for the response");
    client.resume();
    const bigHead = `HTTP/1.1 200 OK\r\ncontent-length: ${BIG}\r\nconnection: keep-alive\r\n\r\n`;
    const big = await readBytes(client, bigHead.length + BIG, got);
    assert.equal(big.subarray(0, bigHead.length).toString("latin1"), bigHead);
    const c = await readBytes(client, smallHead("/c").length, got);
    assert.equal(c.toString("latin1"), smallHead("/c"));
    // The connection reads on (sink.finished) before the response's own onFinish runs.
    assert.deepEqual(events, [
      "start /a",
      "start /b",
      "finished /a",
      "finished /b",
      "start /big",
      "start /c",
      "finished /big",
      "finished /c",
    ]);
  } finally {
    client.destroy();
    server.destroyAll();
    await server.stop();
  }
});
