// An inspected HTTP/2 client that keeps its connection open after the proxy closed the session:
// the proxy's side is cut after closeGraceMs and counted, as an HTTP/1.1 client's is (cutAfter).
// Before, node:http2 ended the socket and waited for the client's side: a client that had
// started an upload, been answered 504 and kept quiet held the socket (its descriptor, its
// connection slot, the CONNECT's exchange) for as long as it liked.

import assert from "node:assert/strict";
import { createSecureServer, connect as h2connect } from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { startInspectingProxy, tlsThrough } from "./inspection-client.ts";
import { originCert, testPki } from "./tls-pki.ts";

test("a stalled h2 upload's connection is cut after the grace once its session closed", async () => {
  const NAME = "stall.test";
  const gatehouse = await testPki();
  const originPki = await testPki();
  const origin = createSecureServer(
    { ...(await originCert(originPki, NAME)), allowHTTP1: true },
    (req, res) => {
      req.resume();
      req.on("end", () => res.end("origin"));
    },
  );
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  const port = (origin.address() as AddressInfo).port;
  const edge = await startInspectingProxy({
    origins: { [NAME]: port },
    originCa: originPki.root,
    pki: gatehouse,
    limits: {
      idleTimeoutMs: 300,
      headersTimeoutMs: 300,
      upstreamResponseTimeoutMs: 600,
      closeGraceMs: 300,
    },
  });
  const cut = async () => {
    const m = /gatehouse_proxy_connections_destroyed_total\{reason="close_grace"\} (\d+)/.exec(
      await edge.registry.metrics(),
    );
    return Number(m?.[1] ?? 0);
  };
  const s = await tlsThrough(edge.port, NAME, port, { ca: gatehouse.root, ALPNProtocols: ["h2"] });
  const session = h2connect(`https://${NAME}:${port}`, { createConnection: () => s });
  session.on("error", () => {});
  try {
    const before = await cut();
    // An upload of 100,000 bytes that stops after 1,000: the origin waits for the rest, the
    // proxy answers 504 after upstreamResponseTimeoutMs, and the client sends nothing more.
    const st = session.request({ ":method": "POST", ":path": "/up", "content-length": "100000" });
    st.on("error", () => {});
    const status = new Promise<number>((ok) => st.on("response", (h) => ok(Number(h[":status"]))));
    st.write(Buffer.alloc(1000));
    assert.equal(await status, 504);
    // The session closes at the idle timeout once the stream is answered; the client keeps its
    // side open, so its socket is cut closeGraceMs later (polled: at most 10 s).
    let after = before;
    for (let i = 0; i < 400 && after === before; i++) {
      after = await cut();
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(after, before + 1, "cut once, and counted");
  } finally {
    session.destroy();
    await edge.proxy.close();
    origin.close();
  }
});
