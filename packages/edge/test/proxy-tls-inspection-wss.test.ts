// WebSocket over TLS (wss) through an inspected connection: the client CONNECTs, the proxy
// decrypts (a leaf under the test Gatehouse CA), the upgrade request inside runs the upgrade
// pipeline as ws:// does (HTTP policies on the decrypted path, a 403 block page over HTTPS),
// and on the origin's 101 the frames are relayed both ways. The origin is a loopback TLS
// WebSocket server with its own test CA, trusted through the organisation's origin CAs.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { TLSSocket } from "node:tls";
import type { QueryLog } from "../src/telemetry/query-log.ts";
import { type InspectingProxy, startInspectingProxy, tlsThrough } from "./inspection-client.ts";
import { policy, until } from "./proxy-harness.ts";
import { originCert, type TestPki, testPki } from "./tls-pki.ts";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** One WebSocket frame (FIN, opcode, payload under 126 bytes), masked when a client sends it. */
function frame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  assert.ok(payload.length < 126);
  const head = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}

/** Frames in `buf` (short payloads only), unmasked; what is left over. */
function readFrames(buf: Buffer): { frames: { opcode: number; payload: Buffer }[]; rest: Buffer } {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let i = 0;
  while (buf.length - i >= 2) {
    const len = buf[i + 1]! & 0x7f;
    const masked = (buf[i + 1]! & 0x80) !== 0;
    const size = 2 + (masked ? 4 : 0) + len;
    if (buf.length - i < size) break;
    const mask = masked ? buf.subarray(i + 2, i + 6) : undefined;
    const raw = buf.subarray(i + size - len, i + size);
    const payload = mask ? Buffer.from(raw.map((b, j) => b ^ mask[j % 4]!)) : Buffer.from(raw);
    frames.push({ opcode: buf[i]! & 0x0f, payload });
    i += size;
  }
  return { frames, rest: buf.subarray(i) };
}

/** A TLS WebSocket origin: 101 on any path, then every text frame echoed back upper-cased. */
async function wssOrigin(cert: string, key: string): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert, key }, (_req, res) => {
    res.writeHead(426, { upgrade: "websocket", "content-length": "0" });
    res.end();
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket) => {
    socket.on("error", () => {});
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"]}${WS_GUID}`)
      .digest("base64");
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\nX-Seen-Path: ${req.url}\r\n\r\n`,
    );
    let buf: Buffer = Buffer.alloc(0);
    socket.on("data", (c: Buffer) => {
      const r = readFrames(Buffer.concat([buf, c]));
      buf = r.rest;
      for (const f of r.frames) {
        if (f.opcode === 8) socket.end(frame(8, Buffer.alloc(0), false));
        else socket.write(frame(1, Buffer.from(f.payload.toString().toUpperCase()), false));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

describe("TLS inspection: WebSocket over TLS (wss)", () => {
  let gatehouse: TestPki;
  let edge: InspectingProxy;
  let log: QueryLog;
  let ws: { server: Server; port: number };
  const NAME = "chat.test";

  before(async () => {
    gatehouse = await testPki();
    const originPki = await testPki();
    const served = await originCert(originPki, NAME);
    ws = await wssOrigin(served.cert, served.key);
    edge = await startInspectingProxy({
      origins: { [NAME]: ws.port },
      originCa: originPki.root,
      pki: gatehouse,
      policies: [
        policy("http", "block", 'http.request.uri.path == "/forbidden"', {
          name: "No forbidden chat",
          settings: { blockReason: "this room is closed" },
        }),
      ],
    });
    log = edge.log;
  });
  after(async () => {
    await edge?.proxy.close();
    ws?.server.close();
  });

  /** CONNECT, then TLS to the proxy's leaf for NAME (verified against the Gatehouse root). */
  const tunnel = () => tlsThrough(edge.port, NAME, ws.port, { ca: gatehouse.root });

  /** Send the WebSocket handshake for `path`; read until the head (and `more`) arrived. */
  async function handshake(tls: TLSSocket, path: string) {
    let data: Buffer = Buffer.alloc(0);
    let closed = false;
    tls.on("data", (c: Buffer) => {
      data = Buffer.concat([data, c]);
    });
    tls.on("close", () => {
      closed = true;
    });
    tls.on("error", () => {});
    tls.write(
      `GET ${path} HTTP/1.1\r\nHost: ${NAME}:${ws.port}\r\nConnection: Upgrade\r\n` +
        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    await until(() => closed || data.includes("\r\n\r\n"), "response head");
    const end = data.indexOf("\r\n\r\n");
    return {
      head: data.subarray(0, end).toString("latin1"),
      after: () => data.subarray(end + 4),
      closed: () => closed,
    };
  }

  it("relays frames both ways after the origin's 101, logged as inspected", async () => {
    const mark = log.pushed;
    const tls = await tunnel();
    const r = await handshake(tls, "/room/1");
    assert.match(r.head, /^HTTP\/1\.1 101 /);
    assert.match(r.head, /\r\nupgrade: websocket/i);
    assert.match(r.head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
    assert.match(r.head, /\r\nx-seen-path: \/room\/1/i);
    for (const word of ["hello", "over", "wss"]) {
      tls.write(frame(1, Buffer.from(word), true));
    }
    await until(() => readFrames(r.after()).frames.length >= 3, "echoed frames");
    const got = readFrames(r.after()).frames.map((f) => f.payload.toString());
    assert.deepEqual(got, ["HELLO", "OVER", "WSS"]);
    tls.write(frame(8, Buffer.alloc(0), true));
    await until(() => r.closed(), "close after the close frame");
    await until(() => log.pushed >= mark + 2, "records");
    const recs = log.peekNewest(2);
    const up = recs.find((x) => x.kind === "http")!;
    assert.equal(up.status, 101);
    assert.equal(up.inspected, true);
    assert.equal(up.originCert, "valid");
    assert.equal(up.url, `https://${NAME}:${ws.port}/room/1`);
    assert.ok((up.bytesUp ?? 0) > 0 && (up.bytesDown ?? 0) > 0, JSON.stringify(up));
  });

  it("a blocked path gets 403 and the block page over HTTPS; nothing is upgraded", async () => {
    const tls = await tunnel();
    const r = await handshake(tls, "/forbidden");
    assert.match(r.head, /^HTTP\/1\.1 403 /);
    await until(() => r.closed(), "closed after the answer");
    assert.match(r.after().toString(), /this room is closed/);
  });
});
