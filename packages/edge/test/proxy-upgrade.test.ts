// Protocol upgrades (WebSocket handshakes) through the forward proxy: policies apply as for any
// request, the origin's 101 switches the client too, then bytes flow both ways and are counted.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  ALLOW_TEST_ORIGINS,
  bundle,
  type Harness,
  logMark,
  policy,
  recordAfter,
  startHarness,
} from "./proxy-harness.ts";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

interface WsOrigin {
  server: Server;
  port: number;
  /** Upgrade requests the origin saw (method, url, headers). */
  upgrades: IncomingMessage[];
  /** Bytes the origin received after switching, per connection. */
  received: number[];
  close(): Promise<void>;
}

/** A WebSocket-ish origin: answers 101 (RFC 6455 §4.2.2) on /ws, echoes every byte it receives
 * after it, and greets first; `/refuse` gets a plain 403 instead of switching. */
async function startWsOrigin(): Promise<WsOrigin> {
  const upgrades: IncomingMessage[] = [];
  const received: number[] = [];
  const server = createServer((_req, res) => {
    res.writeHead(426, { upgrade: "websocket", "content-length": "0" });
    res.end();
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(req);
    socket.on("error", () => {});
    if (req.url === "/refuse") {
      socket.end(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nnot for you\n",
      );
      return;
    }
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"]}${WS_GUID}`)
      .digest("base64");
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\nX-Origin: ws\r\n\r\nhello from origin\n`,
    );
    const i = received.push(0) - 1;
    const echo = (c: Buffer) => {
      received[i]! += c.length;
      socket.write(c);
    };
    if (head.length > 0) echo(head);
    socket.on("data", echo);
    socket.on("end", () => socket.end());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    server,
    port: (server.address() as AddressInfo).port,
    upgrades,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

function handshake(host: string, port: number, path: string, extra = ""): string {
  return (
    `GET http://${host}:${port}${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
    `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\n${extra}\r\n`
  );
}

/** A client connection that collects everything it reads. */
class Client {
  readonly socket: Socket;
  data = Buffer.alloc(0);
  closed = false;
  #waiters: (() => void)[] = [];
  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (c: Buffer) => {
      this.data = Buffer.concat([this.data, c]);
      this.#wake();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.#wake();
    });
    this.socket.on("error", () => {});
  }
  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
  /** Wait until `pred` holds (or the connection closed), at most `ms`. */
  async until(pred: () => boolean, ms = 5000): Promise<void> {
    const t0 = Date.now();
    while (!pred() && !this.closed) {
      if (Date.now() - t0 > ms) throw new Error(`timed out; got ${this.text().slice(0, 300)}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  text(): string {
    return this.data.toString("latin1");
  }
  headEnd(): number {
    return this.text().indexOf("\r\n\r\n");
  }
}

describe("protocol upgrades (WebSocket)", () => {
  let h: Harness;
  let ws: WsOrigin;
  before(async () => {
    ws = await startWsOrigin();
    h = await startHarness(
      bundle({
        policies: [
          policy("http", "block", 'http.conn.hostname == "origin.test"', {
            name: "No sockets to origin.test",
          }),
          ALLOW_TEST_ORIGINS,
        ],
      }),
      // The request timeouts are far shorter than the relay's idle timeout: they bound the
      // handshake, not the upgraded connection.
      { upstreamIdleTimeoutMs: 1500, headersTimeoutMs: 300, requestTimeoutMs: 400 },
    );
  });
  after(async () => {
    await h.close();
    await ws.close();
  });

  test("101 from the origin switches the client; bytes flow both ways and are logged", async () => {
    const mark = logMark(h);
    const bytesBefore = await h.registry.getSingleMetricAsString("gatehouse_proxy_bytes_total");
    const c = new Client(h.port);
    // The handshake and the first frame in one write: bytes after the head reach the origin.
    c.socket.write(`${handshake("127.0.0.1", ws.port, "/ws")}early-bytes`);
    await c.until(() => c.headEnd() >= 0 && c.text().includes("early-bytes"));
    const text = c.text();
    const head = `${text.slice(0, c.headEnd() + 2).toLowerCase()}`;
    assert.match(head, /^http\/1\.1 101 /);
    assert.match(head, /\r\nconnection: upgrade\r\n/);
    assert.match(head, /\r\nupgrade: websocket\r\n/);
    assert.match(head, /\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk\+xoo=\r\n/);
    assert.match(head, /\r\nx-origin: ws\r\n/);
    assert.match(head, /\r\nvia: 1\.1 gatehouse-/);
    assert.ok(text.includes("hello from origin\n"), "the origin's first bytes arrive");

    // The origin saw the upgrade asked for again on its hop, with the client's WebSocket fields.
    const seen = ws.upgrades.at(-1)!;
    assert.equal(seen.url, "/ws");
    assert.equal(seen.headers.upgrade, "websocket");
    assert.match(String(seen.headers.connection), /upgrade/i);
    assert.equal(seen.headers["sec-websocket-key"], KEY);
    assert.match(String(seen.headers.via), /gatehouse-/);

    // A larger stream up, echoed down.
    const payload = Buffer.alloc(256 * 1024, 0x61);
    const wanted = c.data.length + payload.length;
    c.socket.write(payload);
    await c.until(() => c.data.length >= wanted);
    assert.equal(c.data.length, wanted);
    assert.equal(ws.received.at(-1), payload.length + "early-bytes".length);

    c.socket.end();
    await c.until(() => c.closed);
    // The record is written once both sides have closed: wait for it.
    const rec = await recordAfter(h, mark);
    assert.equal(rec.status, 101);
    assert.equal(rec.action, "allow");
    assert.equal(rec.method, "GET");
    assert.equal(rec.url, `http://127.0.0.1:${ws.port}/ws`);
    assert.ok(rec.bytesUp! >= payload.length, `bytesUp ${rec.bytesUp}`);
    assert.ok(rec.bytesDown! >= payload.length, `bytesDown ${rec.bytesDown}`);
    const bytesAfter = await h.registry.getSingleMetricAsString("gatehouse_proxy_bytes_total");
    const up = (s: string) => Number(/direction="up"} (\d+)/.exec(s)?.[1] ?? 0);
    assert.ok(up(bytesAfter) - up(bytesBefore) >= payload.length);
    assert.equal(
      (await h.registry.getSingleMetric("gatehouse_proxy_active_tunnels")!.get()).values[0]!.value,
      0,
    );
  });

  test("a busy upgraded connection outlives the request timeouts", async () => {
    const mark = logMark(h);
    const c = new Client(h.port);
    c.socket.write(handshake("127.0.0.1", ws.port, "/ws"));
    await c.until(() => c.text().includes("hello from origin"));
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const want = c.data.length + 5;
      c.socket.write(`ping${i}`);
      await c.until(() => c.data.length >= want);
      assert.ok(!c.closed, `closed after ${(i + 1) * 200} ms`);
    }
    c.socket.destroy();
    await recordAfter(h, mark); // written once both sides closed; later tests read the newest
  });

  test("a blocked host gets 403 and the origin never sees an upgrade", async () => {
    const mark = logMark(h);
    const n = ws.upgrades.length;
    const c = new Client(h.port);
    c.socket.write(handshake("origin.test", ws.port, "/ws", "Accept: text/html\r\n"));
    await c.until(() => c.closed);
    assert.match(c.text(), /^HTTP\/1\.1 403 /);
    assert.match(c.text(), /No sockets to origin\.test/);
    assert.match(c.text(), /\r\nconnection: close\r\n/i);
    // No 101 status line (the block page's request id and time may contain the digits "101").
    assert.doesNotMatch(c.text(), /^HTTP\/1\.1 101/m);
    assert.equal(ws.upgrades.length, n);
    await recordAfter(h, mark);
    const rec = h.log.peekNewest(5).find((r) => r.host === "origin.test")!;
    assert.equal(rec.action, "block");
    assert.equal(rec.status, 403);
  });

  test("an origin that refuses the upgrade: its answer is relayed and the connection closes", async () => {
    const mark = logMark(h);
    const c = new Client(h.port);
    c.socket.write(handshake("127.0.0.1", ws.port, "/refuse"));
    await c.until(() => c.closed);
    assert.match(c.text(), /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(c.text(), /\r\n\r\nnot for you\n$/);
    assert.equal((await recordAfter(h, mark)).status, 403);
  });

  test("an idle upgraded connection is closed after the idle timeout", async () => {
    const mark = logMark(h);
    const c = new Client(h.port);
    c.socket.write(handshake("127.0.0.1", ws.port, "/ws"));
    await c.until(() => c.text().includes("hello from origin"));
    const t0 = Date.now();
    await c.until(() => c.closed, 5000);
    assert.ok(c.closed);
    assert.ok(Date.now() - t0 >= 1000, "not before the idle timeout");
    assert.equal((await recordAfter(h, mark)).reason, "upstream_timeout");
  });

  test("an upgrade request with a body or a bad Upgrade value is refused", async () => {
    const mark = logMark(h);
    for (const extra of ["Content-Length: 5\r\n", ""]) {
      const c = new Client(h.port);
      const req =
        extra === ""
          ? handshake("127.0.0.1", ws.port, "/ws").replace("Upgrade: websocket", "Upgrade: a b")
          : handshake("127.0.0.1", ws.port, "/ws", extra);
      c.socket.write(extra === "" ? req : `${req}hello`);
      await c.until(() => c.closed);
      assert.match(c.text(), /^HTTP\/1\.1 400 /);
    }
    await recordAfter(h, mark, 2); // both refusals are logged before the next test reads the log
  });

  test("an unreachable origin gets 502 and nothing is upgraded", async () => {
    const mark = logMark(h);
    const closedPort = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, "127.0.0.1", () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const c = new Client(h.port);
    c.socket.write(handshake("127.0.0.1", closedPort, "/ws"));
    await c.until(() => c.closed);
    assert.match(c.text(), /^HTTP\/1\.1 502 /);
    assert.equal((await recordAfter(h, mark)).reason, "connect_failed");
  });

  test("an upgrade after a keep-alive request on the same connection is answered in order", async () => {
    const mark = logMark(h);
    const c = new Client(h.port);
    // A plain request to the same origin (its 426 has a body), then the handshake, in one write.
    c.socket.write(
      `GET http://127.0.0.1:${ws.port}/plain HTTP/1.1\r\nHost: 127.0.0.1:${ws.port}\r\n\r\n` +
        handshake("127.0.0.1", ws.port, "/ws"),
    );
    await c.until(() => c.text().includes("hello from origin"));
    const text = c.text();
    assert.match(text, /^HTTP\/1\.1 426 /);
    const second = text.indexOf("HTTP/1.1 101 ");
    assert.ok(second > 0, "the 101 follows the first response");
    c.socket.write("ping");
    await c.until(() => c.text().endsWith("ping"));
    c.socket.destroy();
    await recordAfter(h, mark, 2); // the 426's and the tunnel's, written once it closed
  });

  test("origin-form upgrade requests are not proxied", async () => {
    const c = new Client(h.port);
    c.socket.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    );
    await c.until(() => c.closed);
    assert.match(c.text(), /^HTTP\/1\.1 400 /);
  });
});
