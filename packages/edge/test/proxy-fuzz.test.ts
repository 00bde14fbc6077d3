// Hostile bytes at the proxy's listener: random and mutated requests, split at random points,
// on their own connections. The proxy must answer each with an HTTP response or close, never
// crash, never send the origin anything its strict parser refuses, and keep serving a
// well-behaved client throughout.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { type Harness, parseResponses, rawExchange, startHarness } from "./proxy-harness.ts";

let h: Harness;
before(async () => {
  h = await startHarness(undefined, { headersTimeoutMs: 1000 });
});
after(() => h.close());

/** Send `parts` with a pause between them; resolve with what came back once the proxy closes. */
function sendInParts(port: number, parts: Buffer[]): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(), 3000);
    s.on("data", (d: Buffer) => got.push(d));
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got).toString("latin1"));
    });
    let i = 0;
    const next = () => {
      if (i < parts.length && !s.destroyed) {
        s.write(parts[i++]!);
        setTimeout(next, 1);
      } else if (!s.destroyed) s.end();
    };
    next();
  });
}

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
      const points = [...new Set(cuts.map((c) => c % b.length))].sort((x, y) => x - y);
      const parts: Buffer[] = [];
      let from = 0;
      for (const p of points) {
        parts.push(b.subarray(from, p));
        from = p;
      }
      parts.push(b.subarray(from));
      return parts.filter((p) => p.length > 0);
    });
  const random = fc.uint8Array({ minLength: 1, maxLength: 200 }).map((u) => [Buffer.from(u)]);
  await fc.assert(
    fc.asyncProperty(fc.oneof(mutated, random), async (parts) => {
      const text = await sendInParts(h.proxy.addresses[0]!.port, parts);
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
