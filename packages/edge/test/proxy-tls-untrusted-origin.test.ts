// The untrusted-origin certificate action (proxy.untrustedOriginCert, and an HTTP allow
// policy's settings.untrustedOriginCert): an inspected origin whose certificate does not verify
// is blocked with a page that says why (default), passed through untouched (the client sees the
// origin's own certificate; the edge checked it before the client's handshake), or inspected
// anyway with the verdict logged. Origins on loopback: one with an expired certificate from
// their own test CA, one self-signed, one valid.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { generate } from "selfsigned";
import { LeafMinter } from "../src/tls/leaf-minter.ts";
import {
  getOver,
  type InspectingProxy,
  startInspectingProxy,
  tlsThrough,
} from "./inspection-client.ts";
import { policy, until } from "./proxy-harness.ts";
import { type TestPki, testPki } from "./tls-pki.ts";

interface TestOrigin {
  server: Server;
  port: number;
  /** SHA-256 fingerprint of the certificate it serves. */
  fingerprint: string;
}

async function origin(cert: string, key: string): Promise<TestOrigin> {
  const server = createServer({ cert, key }, (req, res) => res.end(`origin says ${req.url}`));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { server, port, fingerprint: new X509Certificate(cert).fingerprint256 };
}

describe("untrusted origin certificates: block, pass through, inspect", () => {
  let gatehouse: TestPki;
  let originPki: TestPki;
  const origins: Record<string, TestOrigin> = {};
  const edges: Record<"block" | "pass_through" | "inspect", InspectingProxy> = {} as never;

  before(async () => {
    gatehouse = await testPki();
    originPki = await testPki();
    const good = new LeafMinter();
    good.setIssuer(originPki.issuer);
    const past = new LeafMinter({ now: () => Date.now() - 30 * 86_400_000 });
    past.setIssuer(originPki.issuer);
    for (const [name, m] of [
      ["good.test", good],
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
    const ports = Object.fromEntries(Object.entries(origins).map(([n, o]) => [n, o.port]));
    for (const action of ["block", "pass_through", "inspect"] as const) {
      edges[action] = await startInspectingProxy({
        origins: ports,
        originCa: originPki.root,
        pki: gatehouse,
        // The default (block) edge also has a policy that passes one origin through.
        policies:
          action === "block"
            ? [
                policy("http", "allow", 'http.request.host == "selfsigned.test"', {
                  name: "Legacy appliance",
                  settings: { untrustedOriginCert: "pass_through" },
                }),
              ]
            : [],
        ...(action === "block" ? {} : { proxy: { untrustedOriginCert: action } }),
      });
    }
  });
  after(async () => {
    for (const e of Object.values(edges)) await e?.proxy.close();
    for (const o of Object.values(origins)) o.server.close();
  });

  /** GET through `edge`, the TLS inside verified against `ca` (or not verified at all). */
  async function get(edge: InspectingProxy, name: string, ca: string | undefined) {
    const o = origins[name]!;
    const s = await tlsThrough(
      edge.port,
      name,
      o.port,
      ca ? { ca } : { rejectUnauthorized: false },
    );
    const served = s.getPeerCertificate().fingerprint256;
    const text = await getOver(s, `${name}:${o.port}`, "/hello");
    return { served, status: Number(text.slice(9, 12)), text };
  }

  it("block (the default): 502 and a block page that says why, over the inspected connection", async () => {
    const e = edges.block;
    const r = await get(e, "expired.test", gatehouse.root);
    assert.equal(r.status, 502);
    assert.match(r.text, /has expired/);
    assert.match(r.text, /CERT_HAS_EXPIRED/);
    await until(
      () => e.log.peekNewest(5).some((x) => x.reason === "origin_cert_invalid"),
      "record",
    );
    // A valid origin is inspected and served as usual.
    const ok = await get(e, "good.test", gatehouse.root);
    assert.equal(ok.status, 200);
    assert.notEqual(ok.served, origins["good.test"]!.fingerprint);
  });

  it("pass_through: the client sees the origin's own certificate; the tunnel is logged with the verdict", async () => {
    const e = edges.pass_through;
    const mark = e.log.pushed;
    const r = await get(e, "expired.test", undefined);
    assert.equal(r.served, origins["expired.test"]!.fingerprint, "untouched TLS");
    assert.equal(r.status, 200);
    assert.match(r.text, /origin says \/hello/);
    await until(() => e.log.pushed > mark, "record");
    const rec = e.log.peekNewest(1)[0]!;
    assert.equal(rec.kind, "net");
    assert.equal(rec.inspected, undefined);
    assert.equal(rec.originCert, "CERT_HAS_EXPIRED");
    assert.equal(rec.reason, "origin_cert_passed_through");
    // A second CONNECT uses the cached verdict; a valid origin is still inspected.
    await get(e, "expired.test", undefined);
    const ok = await get(e, "good.test", gatehouse.root);
    assert.equal(ok.status, 200);
    assert.notEqual(ok.served, origins["good.test"]!.fingerprint);
    const m = await e.registry.metrics();
    assert.match(
      m,
      /gatehouse_proxy_origin_cert_probes_total\{result="probed",verdict="invalid"\} 1\n/,
    );
    assert.match(
      m,
      /gatehouse_proxy_origin_cert_probes_total\{result="cached",verdict="invalid"\} 1\n/,
    );
    assert.match(
      m,
      /gatehouse_proxy_origin_cert_probes_total\{result="probed",verdict="valid"\} 1\n/,
    );
  });

  it("inspect: inspected anyway, the origin's answer served under our certificate, the verdict logged", async () => {
    const e = edges.inspect;
    const mark = e.log.pushed;
    const r = await get(e, "selfsigned.test", gatehouse.root);
    assert.equal(r.status, 200);
    assert.match(r.text, /origin says \/hello/);
    await until(() => e.log.pushed >= mark + 2, "records");
    const http = e.log.peekNewest(2).find((x) => x.kind === "http")!;
    assert.equal(http.inspected, true);
    assert.equal(http.action, "allow");
    assert.equal(http.originCert, "DEPTH_ZERO_SELF_SIGNED_CERT");
    assert.match(
      await e.registry.metrics(),
      /gatehouse_proxy_origin_cert_errors_total\{reason="DEPTH_ZERO_SELF_SIGNED_CERT"\} 1/,
    );
    // A valid origin's verdict is "valid" on the same edge.
    const ok = await get(e, "good.test", gatehouse.root);
    assert.equal(ok.status, 200);
    await until(() => e.log.peekNewest(1)[0]?.originCert !== undefined, "record");
  });

  it("an HTTP allow policy's untrustedOriginCert overrides the organisation's block", async () => {
    const e = edges.block;
    const r = await get(e, "selfsigned.test", undefined);
    assert.equal(r.served, origins["selfsigned.test"]!.fingerprint, "passed through by the policy");
    assert.equal(r.status, 200);
    const expired = await get(e, "expired.test", gatehouse.root);
    assert.equal(expired.status, 502, "other origins are still blocked");
  });
});
