// TLS inspection end to end, with curl as the client (`curl --cacert <gatehouse root> -x
// http://edge https://origin/...`) and TLS origins on loopback with their own test CA, trusted
// by the edge through the organisation's origin CAs (proxy.originCas): an HTTP policy on the
// path blocks https://…/setup.exe with 403 and the block page over HTTPS; an allowed large body
// arrives intact; a do_not_inspect host shows the origin's own certificate; an expired or
// self-signed origin gets a block page that says why; the query log says what happened.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { ConfigBundle } from "@gatehouse/contract";
import { Registry } from "prom-client";
import { generate } from "selfsigned";
import type { RunningProxy } from "../src/proxy/index.ts";
import { startProxy } from "../src/proxy/index.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { LeafMinter } from "../src/tls/leaf-minter.ts";
import { bundle, policy, StaticResolver, until } from "./proxy-harness.ts";
import { type TestPki, testPki } from "./tls-pki.ts";

const run = promisify(execFile);
const BIG = Buffer.alloc(5 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 2654435761) >>> 24;
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

async function origin(cert: string, key: string): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert, key }, (req, res) => {
    if (req.url === "/big") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(BIG);
    } else res.end(`origin says ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

describe("TLS inspection (curl through the proxy)", () => {
  let dir: string;
  let gatehouse: TestPki;
  let originPki: TestPki;
  let proxy: RunningProxy;
  let log: QueryLog;
  let registry: Registry;
  const origins: Record<string, { server: Server; port: number }> = {};
  let gatehouseRoot: string;
  let originRoot: string;
  let curlMissing = false;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-inspect-"));
    gatehouse = await testPki();
    originPki = await testPki();
    gatehouseRoot = join(dir, "gatehouse-root.pem");
    originRoot = join(dir, "origin-root.pem");
    await writeFile(gatehouseRoot, gatehouse.root);
    await writeFile(originRoot, originPki.root);
    // Origin certificates from the origins' own CA: valid ones, and one expired a month ago.
    const good = new LeafMinter();
    good.setIssuer(originPki.issuer);
    const past = new LeafMinter({ now: () => Date.now() - 30 * 86_400_000 });
    past.setIssuer(originPki.issuer);
    for (const [name, m] of [
      ["tls.test", good],
      ["pinned.test", good],
      ["expired.test", past],
    ] as const) {
      const leaf = await m.leaf(name);
      origins[name] = await origin(leaf.certPem + leaf.issuerPem, leaf.keyPem);
    }
    const self = await generate([{ name: "commonName", value: "selfsigned.test" }], {
      keySize: 2048,
      extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "selfsigned.test" }] }],
    });
    origins["selfsigned.test"] = await origin(self.cert, self.private);

    const names = Object.keys(origins);
    const b: ConfigBundle = bundle({
      locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"], tlsInspection: true }],
      proxy: {
        connectPorts: Object.values(origins).map((o) => o.port),
        originCas: [originPki.root],
      },
      policies: [
        policy("http", "block", 'http.request.uri.path matches "[.](exe|msi)$"', {
          name: "No installers",
          settings: { blockReason: "installers are not allowed" },
        }),
        policy("http", "do_not_inspect", 'http.request.host == "pinned.test"', {
          name: "Pinned app",
        }),
        policy("net", "allow", `net.connect.host in {${names.map((n) => `"${n}"`).join(" ")}}`, {
          name: "Test origins",
          settings: { allowPrivateDestinations: ["127.0.0.1/32"] },
        }),
      ],
    });
    const snapshot = compileSnapshot(b);
    log = new QueryLog(1000);
    registry = new Registry();
    const minter = new LeafMinter({ registry });
    minter.setIssuer(gatehouse.issuer);
    proxy = await startProxy({
      listen: ["127.0.0.1:0"],
      getSnapshot: () => snapshot,
      resolver: new StaticResolver(Object.fromEntries(names.map((n) => [n, ["127.0.0.1"]]))),
      log,
      registry,
      minter,
    });
    try {
      await run("curl", ["--version"]);
    } catch {
      curlMissing = true;
    }
  });
  after(async () => {
    await proxy?.close();
    for (const o of Object.values(origins)) o.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** curl through the proxy; status, body and exit code (curl's, 0 when TLS verified). */
  async function curl(
    name: string,
    path: string,
    ca = gatehouseRoot,
  ): Promise<{ code: number; status: string; body: Buffer }> {
    const out = join(dir, `body-${Math.random().toString(36).slice(2)}`);
    const url = `https://${name}:${origins[name]!.port}${path}`;
    try {
      const r = await run(
        "curl",
        [
          "-sS",
          "--max-time",
          "20",
          "--cacert",
          ca,
          "-x",
          `http://127.0.0.1:${proxy.addresses[0]!.port}`,
          "-o",
          out,
          "-w",
          "%{http_code}",
          "-H",
          "accept: text/html",
          url,
        ],
        { maxBuffer: 1 << 20 },
      );
      const { readFile } = await import("node:fs/promises");
      return { code: 0, status: r.stdout, body: await readFile(out) };
    } catch (e) {
      return { code: (e as { code: number }).code, status: "", body: Buffer.alloc(0) };
    }
  }

  it("blocks https://…/setup.exe by its path: 403 and the block page, over HTTPS", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const mark = log.pushed;
    const r = await curl("tls.test", "/downloads/setup.exe");
    assert.equal(r.code, 0, "curl verified the minted certificate against the Gatehouse root");
    assert.equal(r.status, "403");
    assert.match(String(r.body), /No installers/);
    assert.match(String(r.body), /installers are not allowed/);
    await until(() => log.pushed >= mark + 2, "records");
    const recs = log.peekNewest(2);
    const http = recs.find((x) => x.kind === "http")!;
    assert.equal(http.action, "block");
    assert.equal(http.inspected, true);
    assert.equal(http.url, `https://tls.test:${origins["tls.test"]!.port}/downloads/setup.exe`);
    assert.match(http.tlsVersion ?? "", /^TLSv1\.[23]$/);
    assert.equal(http.alpn, "http/1.1");
    const tunnel = recs.find((x) => x.kind === "net")!;
    assert.equal(tunnel.inspected, true);
  });

  it("lets an allowed request through with the body intact (5 MiB, hashed both ways)", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const mark = log.pushed;
    const r = await curl("tls.test", "/big");
    assert.equal(r.code, 0);
    assert.equal(r.status, "200");
    assert.equal(sha(r.body), sha(BIG));
    await until(() => log.pushed >= mark + 2, "records");
    const http = log.peekNewest(2).find((x) => x.kind === "http")!;
    assert.equal(http.originCert, "valid");
    assert.equal(http.action, "allow");
    // The origin's certificate is not what the client sees: its own CA does not verify us.
    const mine = await curl("tls.test", "/hello", originRoot);
    // curl: 60 (peer certificate cannot be authenticated) or 35 (handshake failed), by version.
    assert.ok([35, 60].includes(mine.code), `curl exit ${mine.code}`);
  });

  it("a do_not_inspect host shows the origin's own certificate", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const r = await curl("pinned.test", "/hello", originRoot);
    assert.equal(r.code, 0, "verified against the origin's CA: untouched TLS");
    assert.equal(String(r.body), "origin says /hello");
    const viaGatehouse = await curl("pinned.test", "/hello");
    assert.ok([35, 60].includes(viaGatehouse.code), `curl exit ${viaGatehouse.code}`);
  });

  it("an expired or self-signed origin gets a block page that says why", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const expired = await curl("expired.test", "/x");
    assert.equal(expired.code, 0);
    assert.equal(expired.status, "502");
    assert.match(String(expired.body), /expired/);
    assert.match(String(expired.body), /CERT_HAS_EXPIRED/);
    const self = await curl("selfsigned.test", "/x");
    assert.equal(self.status, "502");
    assert.match(String(self.body), /self-signed/);
    await until(
      () => log.peekNewest(10).some((x) => x.originCert === "DEPTH_ZERO_SELF_SIGNED_CERT"),
      "record",
    );
    const metrics = await registry.metrics();
    assert.match(
      metrics,
      /gatehouse_proxy_origin_cert_errors_total\{reason="CERT_HAS_EXPIRED"\} 1/,
    );
    assert.match(metrics, /gatehouse_proxy_tls_handshakes_total\{result="ok"\} \d+/);
  });
});
