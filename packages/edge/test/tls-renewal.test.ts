// A renewed certificate (an ACME renewal under `gatehouse up`) goes to the running DoT and DoH
// listeners with edge.setCertificate: the next connection sees it, without a restart; a drain and
// resume reopens them with it too.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "node:tls";
import { startEdge } from "../src/main.ts";
import { ensureSelfSigned } from "../src/tls-material.ts";

function fingerprintAt(address: string, alpn: string): Promise<string> {
  const i = address.lastIndexOf(":");
  return new Promise((res, rej) => {
    const s = connect(
      {
        host: address.slice(0, i),
        port: Number(address.slice(i + 1)),
        rejectUnauthorized: false,
        ALPNProtocols: [alpn],
      },
      () => {
        res(s.getPeerX509Certificate()!.fingerprint256);
        s.destroy();
      },
    );
    s.on("error", rej);
  });
}

test("setCertificate: new DoT and DoH connections get the renewed certificate, also after a resume", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gh-tls-renewal-"));
  try {
    const first = await ensureSelfSigned({ dir: join(dir, "a"), names: ["a.example"], ips: [] });
    const second = await ensureSelfSigned({ dir: join(dir, "b"), names: ["b.example"], ips: [] });
    const edge = await startEdge({
      config: {
        resolver: { upstreams: [] },
        locations: [],
        lists: [],
        policies: [],
        edge: {
          dns: { dot: ["127.0.0.1:0"], doh: ["127.0.0.1:0"] },
          tls: { certFile: first.certFile, keyFile: first.keyFile },
          dataDir: dir,
        },
      },
      log: () => {},
    });
    try {
      const dot = edge.addresses.dns.dot[0]!;
      const doh = edge.addresses.dns.doh[0]!;
      const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
      assert.equal(await fingerprintAt(dot, "dot"), fp(first.cert));
      assert.equal(await fingerprintAt(doh, "h2"), fp(first.cert));
      edge.setCertificate(second.cert, second.key);
      assert.equal(await fingerprintAt(dot, "dot"), fp(second.cert));
      assert.equal(await fingerprintAt(doh, "h2"), fp(second.cert));
      await edge.drain();
      await edge.resume();
      assert.equal(await fingerprintAt(edge.addresses.dns.dot[0]!, "dot"), fp(second.cert));
    } finally {
      await edge.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
