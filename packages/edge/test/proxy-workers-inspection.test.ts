// TLS inspection with `--workers`: the primary has the intermediate CA (its sync client gets it
// signed) and hands it to every worker (WorkersHandle.setIssuer, over IPC); until then workers
// tunnel untouched. Connections spread over both workers by SO_REUSEPORT, so several of them
// must all show a leaf minted under the test root and a block page for a blocked path.

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { startEdgeWorkers } from "../src/workers.ts";
import { a, startFakeUpstream } from "./dns-helpers.ts";
import { policy } from "./proxy-harness.ts";
import { originCert, testPki } from "./tls-pki.ts";

/** GET `path` from tls.test through the proxy's CONNECT, verified against `ca`: status line. */
async function get(proxy: string, port: number, path: string, ca: string): Promise<string> {
  const [host, p] = [proxy.slice(0, proxy.lastIndexOf(":")), Number(proxy.split(":").pop())];
  const raw = await new Promise<Socket>((resolve, reject) => {
    const req = httpRequest({ host, port: p, method: "CONNECT", path: `tls.test:${port}` });
    req.once("connect", (res, socket) =>
      res.statusCode === 200 ? resolve(socket) : reject(new Error(`CONNECT ${res.statusCode}`)),
    );
    req.once("error", reject);
    req.end();
  });
  const tls = tlsConnect({ socket: raw, servername: "tls.test", ca, ALPNProtocols: ["http/1.1"] });
  await new Promise<void>((resolve, reject) => {
    tls.once("secureConnect", resolve);
    tls.once("error", reject);
  });
  tls.write(`GET ${path} HTTP/1.1\r\nhost: tls.test:${port}\r\nconnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const c of tls) chunks.push(c as Buffer);
  return String(Buffer.concat(chunks)).split("\r\n")[0]!;
}

test("workers inspect TLS once the primary hands them the intermediate", {
  timeout: 60_000,
}, async () => {
  const gatehouse = await testPki();
  const originPki = await testPki();
  const origin = createServer(await originCert(originPki, "tls.test"), (_q, r) => r.end("origin"));
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  const port = (origin.address() as AddressInfo).port;
  const up = await startFakeUpstream(
    new Map([["tls.test/1", { answers: [a("tls.test", "127.0.0.1")] }]]),
  );
  const h = await startEdgeWorkers({
    config: {
      resolver: {
        upstreams: [{ address: up.address }],
        dnssec: { validate: false },
        rateLimit: false,
      },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"], tlsInspection: true }],
      lists: [],
      proxy: { connectPorts: [port], originCas: [originPki.root] },
      policies: [
        policy("http", "block", 'http.request.uri.path matches "[.](exe|msi)$"'),
        policy("net", "allow", 'net.connect.host == "tls.test"', {
          settings: { allowPrivateDestinations: ["127.0.0.1/32"] },
        }),
      ],
      edge: { proxy: { http: ["127.0.0.1:0"] }, workers: 2 },
    },
  });
  try {
    if (h.mode !== "cluster") throw new Error("expected cluster mode");
    const proxy = h.addresses.proxy.http[0]!;
    // No intermediate yet: tunnelled, the origin's own certificate.
    assert.match(await get(proxy, port, "/setup.exe", originPki.root), /^HTTP\/1.1 200/);
    await h.setIssuer({
      certPem: gatehouse.issuer.certPem,
      keyPem: String(gatehouse.issuer.key.export({ format: "pem", type: "pkcs8" })),
      serial: gatehouse.issuer.serial,
    });
    for (let i = 0; i < 8; i++) {
      assert.match(await get(proxy, port, "/setup.exe", gatehouse.root), /^HTTP\/1.1 403/);
      assert.match(await get(proxy, port, "/page", gatehouse.root), /^HTTP\/1.1 200/);
    }
    // Withdrawn (revoked): tunnelled again.
    await h.setIssuer(undefined);
    assert.match(await get(proxy, port, "/setup.exe", originPki.root), /^HTTP\/1.1 200/);
  } finally {
    await h.close();
    await up.close();
    origin.close();
  }
});
