// Protocol corners of the proxy (issue 13): an HTTP/1.0 CONNECT without Host, IPv6 zone ids and
// IPv4-embedding IPv6 literals in targets, TRACE/OPTIONS with Max-Forwards, and header names
// with an underscore where a framing field's hyphen should be.

import assert from "node:assert/strict";
import type { Server } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  bundle,
  type Harness,
  policy,
  rawExchange,
  startEchoServer,
  startHarness,
} from "./proxy-harness.ts";

describe("proxy protocol corners", () => {
  let h: Harness;
  let echo: Server;
  let echoPort: number;
  before(async () => {
    ({ server: echo, port: echoPort } = await startEchoServer());
    h = await startHarness(
      bundle({
        proxy: { connectPorts: [echoPort, 443] },
        policies: [
          // Lifts the private-address guard for loopback literals: without it a zone id would
          // only ever reach the guard's 403.
          policy("net", "allow", "net.dst.ip in {127.0.0.1 ::1}", {
            id: "lo",
            name: "loopback",
            settings: { allowPrivateDestinations: ["127.0.0.1", "::1"] },
          }),
        ],
      }),
    );
  });
  after(async () => {
    echo.close();
    await h.close();
  });

  test("an HTTP/1.0 CONNECT without Host is tunnelled (openssl s_client -proxy)", async () => {
    const r = await rawExchange(
      h.port,
      `CONNECT 127.0.0.1:${echoPort} HTTP/1.0\r\n\r\nhello over the tunnel\n`,
      500,
    );
    assert.match(r.text, /^HTTP\/1\.1 200 Connection Established\r\n\r\nhello over the tunnel\n$/);
    // HTTP/1.1 still needs one (RFC 9112 §3.2).
    const r11 = await rawExchange(h.port, `CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\n\r\n`);
    assert.match(r11.text, /^HTTP\/1\.1 400 /);
    assert.match(r11.text, /missing Host/);
  });

  test("an HTTP/1.0 absolute-form request without Host is forwarded with Host from the target", async () => {
    const r = await rawExchange(
      h.port,
      `GET http://127.0.0.1:${h.origin.port}/ten HTTP/1.0\r\n\r\n`,
      2000,
    );
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.equal(h.origin.seen.at(-1)!.headers.host, `127.0.0.1:${h.origin.port}`);
  });

  test("IPv6 zone ids in a target are 400, not an error", async () => {
    for (const host of ["[::1%25lo]", "[fe80::1%25eth0]", "[::1%lo]"]) {
      const get = await rawExchange(
        h.port,
        `GET http://${host}:${h.origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      assert.match(get.text, /^HTTP\/1\.1 400 /, host);
      assert.match(get.text, /invalid host or port/, host);
      const c = await rawExchange(h.port, `CONNECT ${host}:443 HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.match(c.text, /^HTTP\/1\.1 400 /, host);
    }
    assert.equal(h.log.peekNewest(1)[0]!.reason, "bad_target");
  });

  test("IPv6 literals that embed a loopback IPv4 address are refused like 127.0.0.1", async () => {
    // The allow policy opts in to 127.0.0.1 and ::1, not these spellings: the guard must see
    // them as loopback (403) and dial nothing.
    for (const host of ["[::7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[::ffff:0:7f00:1]"]) {
      const get = await rawExchange(
        h.port,
        `GET http://${host}:${h.origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      assert.match(get.text, /^HTTP\/1\.1 403 /, host);
      assert.equal(h.log.peekNewest(1)[0]!.reason, "private_target", host);
      const c = await rawExchange(h.port, `CONNECT ${host}:443 HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.match(c.text, /^HTTP\/1\.1 403 /, host);
    }
  });

  test("TRACE with Max-Forwards: 0 is answered by the proxy with the request, credentials left out", async () => {
    const seen = h.origin.seen.length;
    const r = await rawExchange(
      h.port,
      Buffer.from(
        `TRACE http://127.0.0.1:${h.origin.port}/t HTTP/1.1\r\nHost: a.test\r\nMax-Forwards: 0\r\n` +
          "Authorization: Bearer x\r\nCookie: s=1\r\n" +
          "X-Trace: \xe9t\xe9\r\n\r\n",
        "latin1",
      ),
    );
    const [head, body] = r.text.split("\r\n\r\n", 2) as [string, string];
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.match(head, /\r\ncontent-type: message\/http\r\n/);
    assert.equal(
      r.text.slice(head.length + 4),
      `TRACE http://127.0.0.1:${h.origin.port}/t HTTP/1.1\r\nHost: a.test\r\nMax-Forwards: 0\r\n` +
        "X-Trace: \xe9t\xe9\r\n\r\n",
    );
    assert.ok(body !== undefined);
    assert.equal(h.origin.seen.length, seen, "nothing reached the origin");
    const rec = h.log.peekNewest(1)[0]!;
    assert.equal(rec.status, 200);
    assert.equal(rec.action, "allow");
    assert.equal(rec.reason, "max_forwards");
  });

  test("OPTIONS with Max-Forwards: 0 gets the proxy's 200; above 0 it goes on decremented", async () => {
    const seen = h.origin.seen.length;
    const o = await rawExchange(
      h.port,
      `OPTIONS http://127.0.0.1:${h.origin.port}/o HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n`,
    );
    assert.match(o.text, /^HTTP\/1\.1 200 /);
    assert.match(o.text, /\r\ncontent-length: 0\r\n/);
    assert.equal(h.origin.seen.length, seen);
    for (const [method, sent, expected] of [
      ["OPTIONS", "1", "0"],
      ["TRACE", "3", "2"],
      ["TRACE", "99999", "255"],
      ["GET", "0", "0"], // other methods: not ours to act on, passed on as received
    ] as const) {
      const r = await rawExchange(
        h.port,
        `${method} http://127.0.0.1:${h.origin.port}/mf HTTP/1.1\r\nHost: a\r\nMax-Forwards: ${sent}\r\n\r\n`,
        1000,
      );
      assert.match(r.text, /^HTTP\/1\.1 200 /, `${method} ${sent}`);
      assert.equal(h.origin.seen.at(-1)!.headers["max-forwards"], expected, `${method} ${sent}`);
    }
    const bad = await rawExchange(
      h.port,
      `TRACE http://127.0.0.1:${h.origin.port}/ HTTP/1.1\r\nHost: a\r\nMax-Forwards: -1\r\n\r\n`,
    );
    assert.match(bad.text, /^HTTP\/1\.1 400 /);
  });

  test("underscore look-alikes of framing fields are refused; other underscore names pass", async () => {
    const seen = h.origin.seen.length;
    for (const field of [
      "Transfer_Encoding: chunked",
      "Content_Length: 5",
      "content_length: 0",
      "Proxy_Connection: keep-alive",
      "Keep_Alive: timeout=5",
    ]) {
      const r = await rawExchange(
        h.port,
        `POST http://127.0.0.1:${h.origin.port}/u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n${field}\r\n\r\nhello` +
          `GET http://127.0.0.1:${h.origin.port}/canary HTTP/1.1\r\nHost: a\r\n\r\n`,
      );
      assert.match(r.text, /^HTTP\/1\.1 400 /, field);
      assert.ok(r.closed, field);
      assert.equal(r.text.match(/HTTP\/1\.1 /g)!.length, 1, `${field}: the canary was not read`);
    }
    assert.equal(h.origin.seen.length, seen, "nothing reached the origin");
    const ok = await rawExchange(
      h.port,
      `GET http://127.0.0.1:${h.origin.port}/x HTTP/1.1\r\nHost: a\r\nX_Api_Key: k\r\n\r\n`,
      1000,
    );
    assert.match(ok.text, /^HTTP\/1\.1 200 /);
    const raw = h.origin.seen.at(-1)!.rawHeaders;
    assert.equal(raw[raw.indexOf("X_Api_Key") + 1], "k");
  });
});
