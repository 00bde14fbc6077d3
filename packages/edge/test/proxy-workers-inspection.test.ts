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

/**
 * GET `path` from tls.test through the proxy's CONNECT, verified against `ca`: status line,
 * whether the handshake resumed `session`, and the session ticket the proxy issued.
 */
async function fetchTls(
  proxy: string,
  port: number,
  path: string,
  ca: string,
  session?: Buffer,
): Promise<{ status: string; resumed: boolean; session: Buffer | undefined }> {
  const [host, p] = [proxy.slice(0, proxy.lastIndexOf(":")), Number(proxy.split(":").pop())];
  const raw = await new Promise<Socket>((resolve, reject) => {
    const req = httpRequest({ host, port: p, method: "CONNECT", path: `tls.test:${port}` });
    req.once("connect", (res, socket) =>
      res.statusCode === 200 ? resolve(socket) : reject(new Error(`CONNECT ${res.statusCode}`)),
    );
    req.once("error", reject);
    req.end();
  });
  const tls = tlsConnect({
    socket: raw,
    servername: "tls.test",
    ca,
    ALPNProtocols: ["http/1.1"],
    ...(session === undefined ? {} : { session }),
  });
  let ticket: Buffer | undefined;
  tls.on("session", (s: Buffer) => {
    ticket ??= s;
  });
  await new Promise<void>((resolve, reject) => {
    tls.once("secureConnect", resolve);
    tls.once("error", reject);
  });
  const resumed = tls.isSessionReused();
  tls.write(`GET ${path} HTTP/1.1\r\nhost: tls.test:${port}\r\nconnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const c of tls) chunks.push(c as Buffer);
  const status = String(Buffer.concat(chunks)).split("\r\n")[0]!;
  return { status, resumed, session: ticket };
}

const get = async (proxy: string, port: number, path: string, ca: string) =>
  (await fetchTls(proxy, port, path, ca)).status;

test("workers inspect TLS once the primary hands them the intermediate, one ticket key set", {
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
    // One set of session-ticket keys for all workers: a ticket from one resumes on each of
    // them (connections alternate between the two workers); after the primary replaces the
    // keys, the old ticket no longer resumes and the new one does.
    const first = await fetchTls(proxy, port, "/page", gatehouse.root);
    assert.equal(first.resumed, false);
    const ticket = first.session;
    assert.ok(ticket, "the proxy issued a session ticket");
    for (let i = 0; i < 6; i++) {
      const r = await fetchTls(proxy, port, "/page", gatehouse.root, ticket);
      assert.match(r.status, /^HTTP\/1.1 200/);
      assert.equal(r.resumed, true, `connection ${i + 2} resumed the first one's ticket`);
    }
    await h.rotateTicketKeys();
    const stale = await fetchTls(proxy, port, "/page", gatehouse.root, ticket);
    assert.match(stale.status, /^HTTP\/1.1 200/);
    assert.equal(stale.resumed, false, "a ticket under replaced keys does not resume");
    assert.ok(stale.session);
    for (let i = 0; i < 4; i++)
      assert.equal((await fetchTls(proxy, port, "/", gatehouse.root, stale.session)).resumed, true);
    // Withdrawn (revoked): tunnelled again.
    await h.setIssuer(undefined);
    assert.match(await get(proxy, port, "/setup.exe", originPki.root), /^HTTP\/1.1 200/);
  } finally {
    await h.close();
    await up.close();
    origin.close();
  }
});
