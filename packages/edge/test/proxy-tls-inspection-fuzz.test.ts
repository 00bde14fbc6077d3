// Hostile bytes on the decrypted side of an inspected connection, as proxy-fuzz.test.ts does for
// the plain listener: through a CONNECT and a TLS handshake on our leaf, HTTP/1.1 requests
// mutated and split at random points, and HTTP/2 sessions whose frames after the preface are
// random (valid frame headers with random types, flags, stream ids and payloads, or plain
// noise). The edge answers with HTTP (h1) or ends the session (h2), never crashes, never sends
// the origin anything its parser refuses, and keeps serving well-behaved clients of both kinds.

import assert from "node:assert/strict";
import { createSecureServer, connect as h2connect } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { sendInParts, splitAt } from "./fuzz-io.ts";
import {
  getOver,
  type InspectingProxy,
  startInspectingProxy,
  tlsThrough,
} from "./inspection-client.ts";
import { originCert, type TestPki, testPki } from "./tls-pki.ts";

const NAME = "fuzz.test";
let gatehouse: TestPki;
let edge: InspectingProxy;
let origin: ReturnType<typeof createSecureServer>;
let port = 0;
/** Requests the origin's parsers refused (HTTP/1.1 clientError, h2 session errors). */
const refusedAtOrigin: string[] = [];

before(async () => {
  gatehouse = await testPki();
  const originPki = await testPki();
  const served = await originCert(originPki, NAME);
  origin = createSecureServer({ ...served, allowHTTP1: true }, (req, res) => {
    req.resume();
    req.on("end", () => res.end(`origin ${req.url}`));
  });
  // Parser refusals only (HPE_*): a connection the edge closes unused ("socket hang up", a
  // cancelled request) is not a malformed request.
  origin.on("clientError", (e: Error & { code?: string }) => {
    if (e.code?.startsWith("HPE_")) refusedAtOrigin.push(`h1 ${e.code} ${e.message}`);
  });
  origin.on("sessionError", (e) => refusedAtOrigin.push(`h2 ${(e as Error).message}`));
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  port = (origin.address() as AddressInfo).port;
  edge = await startInspectingProxy({
    origins: { [NAME]: port },
    originCa: originPki.root,
    pki: gatehouse,
    limits: { headersTimeoutMs: 1000, idleTimeoutMs: 1000 },
  });
});
after(async () => {
  await edge?.proxy.close();
  origin?.close();
});

const tls = (alpn: string) =>
  tlsThrough(edge.port, NAME, port, { ca: gatehouse.root, ALPNProtocols: [alpn] });

async function stillServing(): Promise<void> {
  const h1 = await getOver(await tls("http/1.1"), `${NAME}:${port}`, "/after-h1");
  assert.match(h1, /^HTTP\/1\.1 200 [\s\S]*origin \/after-h1\r\n/);
  const s = await tls("h2");
  const session = h2connect(`https://${NAME}:${port}`, { createConnection: () => s });
  const body = await new Promise<string>((resolve, reject) => {
    const st = session.request({ ":path": "/after-h2" });
    let text = "";
    st.setEncoding("utf8");
    st.on("data", (c: string) => {
      text += c;
    });
    st.on("end", () => resolve(text));
    st.on("error", reject);
  });
  session.close();
  assert.equal(body, "origin /after-h2");
}

const H1_TEMPLATES = [
  "GET /a HTTP/1.1\r\nHost: HOST\r\n\r\n",
  "POST /b HTTP/1.1\r\nHost: HOST\r\nContent-Length: 5\r\n\r\nhello",
  "POST /c HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "GET /ws HTTP/1.1\r\nHost: HOST\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
  "GET /d HTTP/1.1\r\nHost: HOST\r\nConnection: keep-alive\r\n\r\nGET /e HTTP/1.1\r\nHost: HOST\r\n\r\n",
];

test("HTTP/1.1 on an inspected connection: mutated and random requests", async () => {
  const host = `${NAME}:${port}`;
  const mutated = fc
    .tuple(
      fc.constantFrom(...H1_TEMPLATES),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 3 }),
    )
    .map(([t, edits, cuts]) => {
      const b = Buffer.from(t.replaceAll("HOST", host), "latin1");
      for (const [at, byte] of edits) b[at % b.length] = byte;
      return splitAt(b, cuts);
    });
  const random = fc.uint8Array({ minLength: 1, maxLength: 200 }).map((u) => [Buffer.from(u)]);
  await fc.assert(
    fc.asyncProperty(fc.oneof(mutated, random), async (parts) => {
      const text = (await sendInParts(await tls("http/1.1"), parts)).toString("latin1");
      // An HTTP answer, or a close (a 101 relay is left alone).
      if (text !== "")
        assert.match(text, /^HTTP\/1\.1 [1-5][0-9]{2} /, JSON.stringify(text.slice(0, 80)));
      return true;
    }),
    { numRuns: 150, seed: 20261207 },
  );
  assert.deepEqual(refusedAtOrigin, []);
  await stillServing();
});

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** An empty SETTINGS frame: what a client sends right after the preface. */
const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

test("HTTP/2 on an inspected connection: random frames after the preface", async () => {
  const frame = fc
    .tuple(
      fc.integer({ min: 0, max: 12 }),
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(0, 1, 3, 5, 2 ** 31 - 1, fc.sample(fc.nat(), 1)[0]!),
      fc.uint8Array({ maxLength: 64 }),
    )
    .map(([type, flags, stream, payload]) => {
      const h = Buffer.alloc(9);
      h.writeUIntBE(payload.length, 0, 3);
      h[3] = type;
      h[4] = flags;
      h.writeUInt32BE(stream >>> 0, 5);
      return Buffer.concat([h, Buffer.from(payload)]);
    });
  const framed = fc
    .tuple(fc.array(frame, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 3 }))
    .map(([frames, cuts]) => splitAt(Buffer.concat([PREFACE, SETTINGS, ...frames]), cuts));
  const noise = fc
    .uint8Array({ minLength: 1, maxLength: 200 })
    .map((u) => [Buffer.concat([PREFACE, Buffer.from(u)])]);
  await fc.assert(
    fc.asyncProperty(fc.oneof(framed, noise), async (parts) => {
      const got = await sendInParts(await tls("h2"), parts);
      // Whatever the edge said is h2 frames (SETTINGS first), never HTTP/1.1 text.
      if (got.length >= 9) assert.equal(got[3], 4, "the server's first frame is SETTINGS");
      return true;
    }),
    { numRuns: 150, seed: 20261207 },
  );
  assert.deepEqual(refusedAtOrigin, []);
  await stillServing();
});
