// Uploads through the proxy (issue 13): the origin's response timeout runs from the request's
// last byte, not from its head, so an upload longer than that timeout goes through; while a
// body goes up, a stall on either side ends the exchange after the idle limit, and the answer
// names who stalled (408 for the client, 504 for the origin).

import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Harness, startHarness } from "./proxy-harness.ts";

/** Send a head, then `parts` pieces of the body `gapMs` apart; resolve with all the answer. */
function slowUpload(
  port: number,
  head: string,
  parts: Buffer[],
  gapMs: number,
): Promise<{ text: string; socket: Socket }> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("error", () => {});
    let text = "";
    s.on("data", (c: Buffer) => {
      text += c.toString("latin1");
    });
    s.on("close", () => resolve({ text, socket: s }));
    s.write(head);
    let i = 0;
    const next = () => {
      if (s.destroyed || i >= parts.length) return;
      s.write(parts[i++]!);
      setTimeout(next, gapMs);
    };
    setTimeout(next, gapMs);
  });
}

describe("uploads", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(undefined, {
      // Far shorter than the upload below takes: it must not run while the body goes up.
      upstreamResponseTimeoutMs: 300,
      upstreamIdleTimeoutMs: 3000,
    });
  });
  after(() => h.close());

  test("an upload that takes longer than the response timeout is answered", async () => {
    const parts = Array.from({ length: 15 }, (_, i) => Buffer.alloc(1024, 97 + i));
    const total = parts.length * 1024;
    const r = await slowUpload(
      h.port,
      `POST http://origin.test:${h.origin.port}/up HTTP/1.1\r\nHost: origin.test\r\n` +
        `Content-Length: ${total}\r\nConnection: close\r\n\r\n`,
      parts,
      100,
    );
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.ok(r.text.endsWith(`"bodyLength":${total}}`), r.text.slice(-80));
    assert.deepEqual(h.origin.seen.at(-1)!.body, Buffer.concat(parts));
  });

  test("the same upload chunked is answered too", async () => {
    const parts = Array.from({ length: 10 }, () =>
      Buffer.from("400\r\n" + "x".repeat(1024) + "\r\n"),
    );
    parts.push(Buffer.from("0\r\n\r\n"));
    const r = await slowUpload(
      h.port,
      `POST http://origin.test:${h.origin.port}/upc HTTP/1.1\r\nHost: origin.test\r\n` +
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
      parts,
      100,
    );
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.equal(h.origin.seen.at(-1)!.body.length, 10 * 1024);
  });
});

describe("stalled uploads", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(undefined, {
      upstreamResponseTimeoutMs: 300,
      upstreamIdleTimeoutMs: 500,
    });
  });
  after(() => h.close());

  test("a client that stops sending its body gets 408 after the idle limit", async () => {
    let originSaw = -1;
    const origin = createServer((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.length;
      });
      req.on("close", () => {
        originSaw = n;
      });
      req.on("end", () => res.end("complete"));
    });
    origin.listen(0, "127.0.0.1");
    await once(origin, "listening");
    const port = (origin.address() as AddressInfo).port;
    try {
      const s = connect(h.port, "127.0.0.1");
      s.on("error", () => {});
      s.write(
        `POST http://origin.test:${port}/stall HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 10000\r\n\r\n` +
          "x".repeat(4000),
      );
      let text = "";
      s.on("data", (c: Buffer) => {
        text += c.toString("latin1");
      });
      await once(s, "close");
      assert.match(text, /^HTTP\/1\.1 408 /);
      assert.match(text, /\r\nconnection: close\r\n/);
      const rec = h.log.peekNewest(1)[0]!;
      assert.equal(rec.reason, "request_timeout");
      // The origin never got a complete request.
      for (let i = 0; i < 50 && originSaw < 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(originSaw, 4000);
    } finally {
      origin.close();
    }
  });

  test("an origin that stops reading the body gets 504 after the idle limit", async () => {
    const held: Socket[] = [];
    const deaf = createNetServer((sock) => {
      sock.on("error", () => {});
      sock.pause(); // never reads: the proxy's writes back up
      held.push(sock);
    });
    deaf.listen(0, "127.0.0.1");
    await once(deaf, "listening");
    const port = (deaf.address() as AddressInfo).port;
    try {
      const total = 64 * 1024 * 1024;
      const s = connect(h.port, "127.0.0.1");
      s.on("error", () => {});
      let text = "";
      const answered = new Promise<void>((resolve) => {
        s.on("data", (c: Buffer) => {
          text += c.toString("latin1");
          if (text.includes("\r\n\r\n")) resolve();
        });
      });
      s.write(
        `POST http://origin.test:${port}/deaf HTTP/1.1\r\nHost: origin.test\r\nContent-Length: ${total}\r\n\r\n`,
      );
      const chunk = Buffer.alloc(256 * 1024, 120);
      let sent = 0;
      const pump = () => {
        while (sent < total && !s.destroyed) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once("drain", pump);
        }
      };
      pump();
      // (The client's own unsent bytes keep its socket open: it only reads the answer.)
      await answered;
      s.destroy();
      assert.match(text, /^HTTP\/1\.1 504 /);
      assert.equal(h.log.peekNewest(1)[0]!.reason, "upstream_timeout");
      assert.ok(sent < total, "the client was held back, not drained into memory");
    } finally {
      for (const x of held) x.destroy();
      deaf.close();
    }
  });
});
