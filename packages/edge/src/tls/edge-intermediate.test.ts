// The edge's intermediate CA: asked for only when a bundle inspects, kept on disk (key 0600) and
// reused after a restart, renewed at two thirds of its validity or when control's root changes,
// dropped when control lists it as revoked; a renewal swaps the minter's issuer without
// cutting a TLS connection that is already up.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, createServer } from "node:tls";
import { signCsr, type TestPki, testPki } from "../../test/tls-pki.ts";
import { EdgeIntermediate } from "./edge-intermediate.ts";
import { LeafMinter, serialKey } from "./leaf-minter.ts";

describe("edge intermediate CA", () => {
  let dir: string;
  let pki: TestPki;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-edge-inter-"));
    pki = await testPki();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  function setup(now: () => number, dataDir = dir, days = 30) {
    const csrs: string[] = [];
    const lines: string[] = [];
    const minter = new LeafMinter({ now });
    const inter = new EdgeIntermediate({
      dataDir,
      minter,
      now,
      log: (l) => lines.push(l),
      request: async (csr) => {
        csrs.push(csr);
        return signCsr(pki, csr, { days, from: now() });
      },
    });
    return { csrs, lines, minter, inter };
  }

  it("asks control only when a bundle inspects, then serves leaves that chain to the root", async () => {
    let t = Date.now();
    const { csrs, minter, inter } = setup(() => t);
    await inter.onBundle(undefined);
    assert.equal(csrs.length, 0);
    assert.equal(minter.issuerSerial, undefined);
    await inter.onBundle({ rootCa: pki.root, revokedIntermediates: [] });
    assert.equal(csrs.length, 1);
    assert.equal(minter.issuerSerial, inter.serial);
    assert.equal((await stat(join(dir, "tls-intermediate-key.pem"))).mode & 0o777, 0o600);
    // The same bundle again, a day later: nothing to do.
    t += 86_400_000;
    await inter.onBundle({ rootCa: pki.root, revokedIntermediates: [] });
    assert.equal(csrs.length, 1);
    inter.stop();

    // A restart reads it from disk.
    const again = setup(() => t);
    await again.inter.onBundle({ rootCa: pki.root, revokedIntermediates: [] });
    assert.equal(again.csrs.length, 0);
    assert.equal(again.inter.serial, inter.serial);
    again.inter.stop();
    void minter;
  });

  it("renews at two thirds of the validity without cutting a connection that is up", async () => {
    // Signed 21 days ago (of 30): due for renewal now, still valid.
    let t = Date.now() - 21 * 86_400_000;
    const own = await mkdtemp(join(dir, "renew-"));
    const { csrs, minter, inter } = setup(() => t, own);
    await inter.onBundle({ rootCa: pki.root, revokedIntermediates: [] });
    const first = inter.serial;
    t = Date.now();
    const server = createServer(
      {
        SNICallback: (name, cb) =>
          minter.secureContext(name).then(
            (c) => cb(null, c),
            (e: Error) => cb(e),
          ),
      },
      (s) => s.pipe(s),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const sockets: ReturnType<typeof connect>[] = [];
    const open = (name: string) =>
      new Promise<{ s: ReturnType<typeof connect>; cert: X509Certificate }>((resolve, reject) => {
        const s = connect({ port, host: "127.0.0.1", servername: name, ca: pki.root });
        sockets.push(s);
        s.once("secureConnect", () => resolve({ s, cert: s.getPeerX509Certificate()! }));
        s.once("error", reject);
      });
    try {
      const { s: long, cert: longCert } = await open("download.example");
      const issuerBefore = longCert.issuer;
      const n = csrs.length;
      // 21 days of 30: past two thirds → a new intermediate.
      await inter.onBundle({ rootCa: pki.root, revokedIntermediates: [] });
      assert.equal(csrs.length, n + 1);
      assert.notEqual(inter.serial, first);
      assert.equal(minter.issuerSerial, inter.serial);
      // The connection made before the rotation still carries data.
      const echoed = await new Promise<string>((resolve) => {
        long.once("data", (d) => resolve(String(d)));
        long.write("still here");
      });
      assert.equal(echoed, "still here");
      long.destroy();
      const { s: fresh, cert: freshCert } = await open("download.example");
      assert.equal(fresh.authorized, true);
      assert.equal(freshCert.issuer, issuerBefore); // same subject name…
      // …but issued by the new intermediate.
      const now = new X509Certificate(await readFile(join(own, "tls-intermediate.pem"), "utf8"));
      assert.equal(freshCert.checkIssued(now), true);
      assert.equal(longCert.checkIssued(now), false);
      assert.equal(serialKey(now.serialNumber), inter.serial);
      fresh.destroy();
    } finally {
      for (const x of sockets) x.destroy();
      server.close();
      inter.stop();
    }
  });

  it("a new root means a new intermediate; a revoked one stops inspection", async () => {
    const t = Date.now();
    const { csrs, lines, minter, inter } = setup(() => t);
    await inter.onBundle({ rootCa: pki.root, revokedIntermediates: [] });
    const n = csrs.length;
    const other = await testPki();
    const oldPki = pki;
    pki = other;
    await inter.onBundle({ rootCa: other.root, revokedIntermediates: [] });
    assert.equal(csrs.length, n + 1);
    const serial = inter.serial!;
    // Control revokes it (decommissioned, say) and refuses to sign another.
    const refusing = new EdgeIntermediate({
      dataDir: dir,
      minter,
      now: () => t,
      log: (l) => lines.push(l),
      request: async () => {
        throw new Error("control answered 410 GH_ERR_EDGE_DECOMMISSIONED");
      },
    });
    await refusing.onBundle({ rootCa: other.root, revokedIntermediates: [serial] });
    assert.equal(minter.issuerSerial, undefined);
    assert.ok(lines.some((l) => /revoked/.test(l)));
    assert.ok(lines.some((l) => /could not get an intermediate CA signed/.test(l)));
    refusing.stop();
    inter.stop();
    pki = oldPki;
  });
});
