// Hostile bytes at the proxy's listener: random and mutated requests, split at random points,
// on their own connections. The proxy must answer each with an HTTP response or close, never
// crash, never send the origin anything its strict parser refuses, and keep serving a
// well-behaved client throughout.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { sendInParts, splitAt } from "./fuzz-io.ts";
import { type Harness, parseResponses, rawExchange, startHarness } from "./proxy-harness.ts";

let h: Harness;
before(async () => {
  h = await startHarness(undefined, { headersTimeoutMs: 1000 });
});
after(() => h.close());

const TEMPLATES = [
  "GET http://origin.test:PORT/a HTTP/1.1\r\nHost: origin.test\r\n\r\n",
  "POST http://origin.test:PORT/b HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 5\r\n\r\nhello",
  "POST http://origin.test:PORT/c HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n",
  "GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
];

test("random and mutated requests never crash the proxy or reach the origin malformed", async () => {
  const port = String(h.origin.port);
  const mutated = fc
    .tuple(
      fc.constantFrom(...TEMPLATES),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 3 }),
    )
    .map(([t, edits, cuts]) => {
      const b = Buffer.from(t.replace("PORT", port), "latin1");
      for (const [at, byte] of edits) b[at % b.length] = byte;
      return splitAt(b, cuts);
    });
  const random = fc.uint8Array({ minLength: 1, maxLength: 200 }).map((u) => [Buffer.from(u)]);
  await fc.assert(
    fc.asyncProperty(fc.oneof(mutated, random), async (parts) => {
      const socket = connect(h.proxy.addresses[0]!.port, "127.0.0.1");
      const text = (await sendInParts(socket, parts)).toString("latin1");
      // Whatever came back is a sequence of HTTP responses (possibly a CONNECT's 200 and a
      // tunnel's bytes after it, which this check leaves alone).
      if (text !== "" && !text.startsWith("HTTP/1.1 200 Connection Established")) {
        assert.match(text, /^HTTP\/1\.1 [1-5][0-9]{2} /, JSON.stringify(text.slice(0, 80)));
      }
      return true;
    }),
    { numRuns: 300, seed: 20261123 },
  );
  assert.equal(h.origin.parseErrors, 0, `origin parse errors: ${h.origin.parseErrorCodes.join()}`);
  // Still serving.
  const ok = await rawExchange(
    h.port,
    `GET http://origin.test:${port}/after HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
    2000,
  );
  assert.equal(parseResponses(ok.text).responses[0]?.headers.get("x-origin-path"), "/after");
});
