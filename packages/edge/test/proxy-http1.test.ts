// The proxy's own HTTP/1.1 engine on the wire: response framing chosen per client (chunked for
// HTTP/1.1, close-delimited for HTTP/1.0), origins that frame oddly, and the origin pool
// (reuse, a kept-alive connection the origin closed, the per-origin limit with its queue).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Harness, parseResponses, rawExchange, startHarness } from "./proxy-harness.ts";

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

describe("HTTP/1.1 engine", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(undefined, { upstreamConnectionsPerOrigin: 2 });
  });
  after(() => h.close());

  test("a body of unknown length is chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0", async () => {
    const origin = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first part, ");
      setTimeout(() => res.end("second part"), 10);
    });
    const port = await listen(origin);
    try {
      const url = `http://origin.test:${port}/stream`;
      const r11 = await rawExchange(
        h.port,
        `GET ${url} HTTP/1.1\r\nHost: origin.test\r\n\r\nGET ${url} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
        2000,
      );
      const { responses, rest } = parseResponses(r11.text);
      assert.equal(rest, "");
      assert.equal(responses.length, 2, "the connection carried on after the chunked body");
      for (const r of responses) {
        assert.equal(r.headers.get("transfer-encoding"), "chunked");
        assert.equal(r.body, "first part, second part");
      }
      const r10 = await rawExchange(
        h.port,
        `GET ${url} HTTP/1.0\r\nHost: origin.test\r\n\r\n`,
        2000,
      );
      assert.ok(r10.closed);
      const head = r10.text.slice(0, r10.text.indexOf("\r\n\r\n"));
      assert.doesNotMatch(head, /transfer-encoding/i);
      assert.match(head, /connection: close/i);
      assert.ok(r10.text.endsWith("\r\n\r\nfirst part, second part"));
    } finally {
      origin.close();
    }
  });

  test("a large Content-Length upload flows with backpressure both sides, intact", async () => {
    const total = 24 * 1024 * 1024;
    let got = 0;
    const hash = createHash("sha256");
    const origin = createServer((req, res) => {
      req.on("data", (c: Buffer) => {
        got += c.length;
        hash.update(c);
        // A slow reader: the proxy must hold back, not buffer the upload.
        req.pause();
        setTimeout(() => req.resume(), 1);
      });
      req.on("end", () => res.end(`${got} ${hash.digest("hex")}`));
    });
    const port = await listen(origin);
    try {
      const body = Buffer.alloc(total);
      for (let i = 0; i < total; i++) body[i] = (i * 7 + (i >> 12)) & 0xff;
      const want = createHash("sha256").update(body).digest("hex");
      const r = await rawExchange(
        h.port,
        Buffer.concat([
          Buffer.from(
            `PUT http://origin.test:${port}/up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: ${total}\r\nConnection: close\r\n\r\n`,
          ),
          body,
        ]),
        10_000,
      );
      assert.equal(parseResponses(r.text).responses[0]?.body, `${total} ${want}`);
    } finally {
      origin.close();
    }
  });

  test("HTTP/1.0 keep-alive is honoured when the length is known", async () => {
    const url = `http://origin.test:${h.origin.port}/a`;
    const r = await rawExchange(
      h.port,
      `GET ${url} HTTP/1.0\r\nHost: origin.test\r\nConnection: keep-alive\r\n\r\nGET ${url} HTTP/1.0\r\nHost: origin.test\r\n\r\n`,
      2000,
    );
    const { responses } = parseResponses(r.text);
    assert.deepEqual(
      responses.map((x) => x.headers.get("connection")),
      ["keep-alive", "close"],
    );
    assert.ok(r.closed);
    // Old clients say it to their proxy with Proxy-Connection (curl -0 -x does).
    const old = await rawExchange(
      h.port,
      `GET ${url} HTTP/1.0\r\nHost: origin.test\r\nProxy-Connection: Keep-Alive\r\n\r\nGET ${url} HTTP/1.0\r\nHost: origin.test\r\n\r\n`,
      2000,
    );
    assert.equal(parseResponses(old.text).responses.length, 2);
    const seen = h.origin.seen.at(-1)!;
    assert.equal(seen.headers["proxy-connection"], undefined, "stripped toward the origin");
  });

  test("origins that frame a response two ways, or not at all, get 502", async () => {
    const raw = createNetServer((s: Socket) => {
      s.on("error", () => {}); // the proxy resets exchanges it abandons
      s.on("data", (d: Buffer) => {
        const path = d.toString("latin1").split(" ")[1];
        if (path === "/both") {
          s.end(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
          );
        } else if (path === "/badchunk") {
          s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
          setTimeout(() => s.end("zz\r\n"), 50);
        } else if (path === "/badnow") {
          s.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        } else s.end("HTTP/1.1 200 OK\nContent-Length: 0\n\n");
      });
    });
    const port = await listen(raw);
    try {
      // (A body already broken when its head arrives is a 502 as well: nothing went out yet.)
      for (const path of ["/both", "/bare-lf", "/badnow"]) {
        const r = await rawExchange(
          h.port,
          `GET http://origin.test:${port}${path} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
          2000,
        );
        assert.equal(parseResponses(r.text).responses[0]?.status, 502, path);
        assert.equal(h.log.peekNewest(1)[0]!.reason, "upstream_failed");
      }
      // A body that turns bad after its head went out: the client's response is cut off.
      const r = await rawExchange(
        h.port,
        `GET http://origin.test:${port}/badchunk HTTP/1.1\r\nHost: origin.test\r\n\r\n`,
        2000,
      );
      assert.ok(r.closed);
      assert.match(r.text, /^HTTP\/1\.1 200/);
      assert.ok(r.text.endsWith("\r\n\r\n3\r\nabc\r\n"), "cut off, never a clean end");
    } finally {
      raw.close();
    }
  });

  test("origin connections are reused, and one the origin closed while idle is replaced", async () => {
    let connections = 0;
    let closedByOrigin!: () => void;
    const originClosed = new Promise<void>((r) => {
      closedByOrigin = r;
    });
    const origin = createServer((req, res) => {
      res.end(req.url);
    });
    origin.on("connection", (sock: Socket) => {
      connections++;
      sock.on("close", closedByOrigin);
    });
    origin.keepAliveTimeout = 100;
    const port = await listen(origin);
    try {
      const get = async (path: string) => {
        const r = await rawExchange(
          h.port,
          `GET http://origin.test:${port}${path} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
          2000,
        );
        return parseResponses(r.text).responses[0]!;
      };
      assert.equal((await get("/1")).body, "/1");
      assert.equal((await get("/2")).body, "/2");
      assert.equal(connections, 1, "the second request reused the pooled connection");
      const metrics = await h.registry.getSingleMetricAsString(
        "gatehouse_proxy_upstream_connections",
      );
      assert.match(metrics, /gatehouse_proxy_upstream_connections\{state="idle"\} [1-9]/);
      assert.match(metrics, /gatehouse_proxy_upstream_connections\{state="queued"\} 0/);
      // The origin closes its idle connection; the pool notices (or retries) and answers.
      await originClosed;
      assert.equal((await get("/3")).body, "/3");
      assert.equal(connections, 2);
    } finally {
      origin.close();
    }
  });

  test("at most upstreamConnectionsPerOrigin connections; the rest wait their turn", async () => {
    let open = 0;
    let most = 0;
    const origin = createServer((req, res) => {
      setTimeout(() => res.end(req.url), 50);
    });
    origin.on("connection", (s: Socket) => {
      open++;
      most = Math.max(most, open);
      s.on("close", () => open--);
    });
    const port = await listen(origin);
    try {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          rawExchange(
            h.port,
            `GET http://origin.test:${port}/q${i} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
            3000,
          ),
        ),
      );
      results.forEach((r, i) => {
        assert.equal(parseResponses(r.text).responses[0]?.body, `/q${i}`);
      });
      assert.equal(most, 2);
    } finally {
      origin.close();
      origin.closeAllConnections();
    }
  });
});
