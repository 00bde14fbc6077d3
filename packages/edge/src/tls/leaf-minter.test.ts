// Leaf minting: certificates OpenSSL accepts under root → intermediate (a real handshake with
// the root as the only trust anchor), SAN per name or IP, ≤ 7 days and never past the
// intermediate, random serials; one mint for concurrent requests; bounded LRU; a new or revoked
// intermediate empties the caches; names that cannot be certified are refused.

import assert from "node:assert/strict";
import { randomBytes, X509Certificate } from "node:crypto";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { describe, it } from "node:test";
import { connect, createServer, TLSSocket } from "node:tls";
import { Registry } from "prom-client";
import { testPki as pki } from "../../test/tls-pki.ts";
import {
  LEAF_VALIDITY_MS,
  LeafMinter,
  LeafUnavailable,
  TICKET_KEY_BYTES,
  TICKET_KEY_ROTATION_MS,
} from "./leaf-minter.ts";

/** Handshake against a server whose contexts come from the minter; the root is the only CA. */
async function handshake(
  minter: LeafMinter,
  root: string,
  servername: string,
): Promise<{ authorized: boolean; error?: string; cert: X509Certificate }> {
  const server = createServer({
    SNICallback: (name, cb) =>
      minter.secureContext(name).then(
        (ctx) => cb(null, ctx),
        (e: Error) => cb(e),
      ),
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    return await new Promise((resolve, reject) => {
      const s = connect({
        port: (server.address() as AddressInfo).port,
        host: "127.0.0.1",
        servername,
        ca: root,
        rejectUnauthorized: false,
      });
      s.once("secureConnect", () => {
        const out = {
          authorized: s.authorized,
          ...(s.authorizationError ? { error: String(s.authorizationError) } : {}),
          cert: s.getPeerX509Certificate()!,
        };
        s.destroy();
        resolve(out);
      });
      s.once("error", reject);
    });
  } finally {
    server.close();
  }
}

/**
 * Clients of a server that wraps each accepted socket in a TLSSocket on the minter's context,
 * as the proxy does for an inspected CONNECT: what each handshake negotiated.
 */
async function proxyLikeHandshakes(
  minter: LeafMinter,
  root: string,
  clients: { ecdhCurve?: string; reuse?: boolean; minter?: LeafMinter; before?: () => void }[],
): Promise<{ group: string | undefined; reused: boolean; cipher: string }[]> {
  /** The minter serving the client connecting now (`minter` unless it names another). */
  let serving = minter;
  const server = createNetServer((raw) => {
    void serving.secureContext("www.example.com").then((secureContext) => {
      const tls = new TLSSocket(raw, { isServer: true, secureContext });
      tls.on("error", () => tls.destroy());
      tls.on("data", () => tls.end());
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const out: { group: string | undefined; reused: boolean; cipher: string }[] = [];
  let session: Buffer | undefined;
  try {
    for (const c of clients) {
      serving = c.minter ?? minter;
      c.before?.();
      out.push(
        await new Promise((resolve, reject) => {
          const s = connect({
            port: (server.address() as AddressInfo).port,
            host: "127.0.0.1",
            servername: "www.example.com",
            ca: root,
            ...(c.ecdhCurve === undefined ? {} : { ecdhCurve: c.ecdhCurve }),
            ...(c.reuse === true && session !== undefined ? { session } : {}),
          });
          let group: string | undefined;
          let reused = false;
          let cipher = "";
          s.on("session", (t: Buffer) => {
            session = t;
          });
          s.once("secureConnect", () => {
            const info = s.getEphemeralKeyInfo();
            group = info !== null && "name" in info ? String(info.name) : undefined;
            reused = s.isSessionReused();
            cipher = s.getCipher().name;
            s.write("x"); // the server answers by closing, after its session tickets
          });
          s.on("data", () => {});
          s.once("close", () => resolve({ group, reused, cipher }));
          s.once("error", reject);
        }),
      );
    }
  } finally {
    server.close();
  }
  return out;
}

describe("leaf minter", () => {
  it("mints leaves OpenSSL verifies under the root, with the name in the SAN", async () => {
    const { root, issuer } = await pki();
    const minter = new LeafMinter();
    minter.setIssuer(issuer);
    const r = await handshake(minter, root, "www.example.com");
    assert.equal(r.authorized, true, r.error);
    assert.equal(r.cert.subjectAltName, "DNS:www.example.com");
    assert.equal(r.cert.checkHost("www.example.com"), "www.example.com");
    assert.equal(r.cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal(r.cert.ca, false);
    const inter = new X509Certificate(issuer.certPem);
    assert.ok(r.cert.checkIssued(inter));
    assert.ok(r.cert.verify(inter.publicKey));
    const days = (Date.parse(r.cert.validTo) - Date.now()) / 86_400_000;
    assert.ok(days <= 7 && days > 6.9, `${days} days`);
    // Served with the intermediate: the client needs only the root.
    const leaf = await minter.leaf("www.example.com");
    assert.equal(leaf.issuerPem, issuer.certPem);
  });

  it("certifies IP addresses as iPAddress names, and long names without a CN", async () => {
    const { root, issuer } = await pki();
    const minter = new LeafMinter();
    minter.setIssuer(issuer);
    const v4 = new X509Certificate((await minter.leaf("127.0.0.1")).certPem);
    assert.equal(v4.subjectAltName, "IP Address:127.0.0.1");
    assert.equal(v4.checkIP("127.0.0.1"), "127.0.0.1");
    const v6 = new X509Certificate((await minter.leaf("2001:db8::1")).certPem);
    assert.equal(v6.checkIP("2001:db8::1"), "2001:db8::1");
    const long = `${"a".repeat(60)}.${"b".repeat(60)}.example`;
    const l = new X509Certificate((await minter.leaf(long)).certPem);
    assert.ok(!l.subject, `subject ${l.subject}`); // empty: the name is in the critical SAN
    assert.equal(l.checkHost(long), long);
    const r = await handshake(minter, root, long);
    assert.equal(r.authorized, true, r.error);
  });

  it("never outlives the intermediate; serials are random", async () => {
    const { issuer } = await pki({ intermediateDays: 2 });
    const minter = new LeafMinter();
    minter.setIssuer(issuer);
    const a = new X509Certificate((await minter.leaf("a.example")).certPem);
    const b = new X509Certificate((await minter.leaf("b.example")).certPem);
    assert.equal(a.validTo, new X509Certificate(issuer.certPem).validTo);
    assert.notEqual(a.serialNumber, b.serialNumber);
    assert.equal(a.serialNumber.length, 32);
    assert.ok(LEAF_VALIDITY_MS <= 7 * 86_400_000);
  });

  it("mints once for concurrent requests for one name, and counts hits, misses and mints", async () => {
    const { issuer } = await pki();
    const registry = new Registry();
    const minter = new LeafMinter({ registry });
    minter.setIssuer(issuer);
    const all = await Promise.all(Array.from({ length: 20 }, () => minter.leaf("same.example")));
    assert.ok(all.every((l) => l === all[0]));
    await minter.leaf("same.example");
    const text = await registry.metrics();
    assert.match(text, /gatehouse_proxy_tls_leaf_mints_total\{result="ok"\} 1\n/);
    assert.match(text, /gatehouse_proxy_tls_leaf_lookups_total\{result="miss"\} 20\n/);
    assert.match(text, /gatehouse_proxy_tls_leaf_lookups_total\{result="hit"\} 1\n/);
    assert.match(text, /gatehouse_proxy_tls_leaf_mint_seconds_count 1\n/);
    assert.match(text, /gatehouse_proxy_tls_leaf_cache_entries\{cache="leaf"\} 1\n/);
  });

  it("keeps at most maxLeaves, evicting the least recently used", async () => {
    const { issuer } = await pki();
    const minter = new LeafMinter({ maxLeaves: 3 });
    minter.setIssuer(issuer);
    const a = await minter.leaf("a.example");
    await minter.leaf("b.example");
    await minter.leaf("c.example");
    assert.equal(await minter.leaf("a.example"), a); // a is now the newest
    await minter.leaf("d.example"); // evicts b
    assert.equal(minter.leafCount, 3);
    assert.equal(await minter.leaf("a.example"), a);
    const c = await minter.leaf("c.example");
    assert.notEqual(await minter.leaf("b.example"), undefined);
    assert.equal(await minter.leaf("c.example"), c);
  });

  it("a new intermediate replaces the leaves; a revoked one stops minting", async () => {
    const first = await pki();
    const second = await pki();
    const minter = new LeafMinter();
    minter.setIssuer(first.issuer);
    const a = await minter.leaf("a.example");
    minter.setIssuer(second.issuer);
    const b = await minter.leaf("a.example");
    assert.notEqual(a, b);
    assert.equal(b.issuerSerial, second.issuer.serial);
    const r = await handshake(minter, second.root, "a.example");
    assert.equal(r.authorized, true, r.error);
    assert.equal(minter.revoke(new Set([first.issuer.serial])), false);
    assert.equal(minter.revoke(new Set([second.issuer.serial])), true);
    await assert.rejects(minter.leaf("a.example"), (e: Error) => {
      assert.ok(e instanceof LeafUnavailable);
      assert.equal(e.reason, "no_issuer");
      return true;
    });
  });

  it("picks X25519 over the hybrid ML-KEM group, still serves a hybrid-only client, and resumes sessions", async () => {
    const { root, issuer } = await pki();
    const minter = new LeafMinter();
    minter.setIssuer(issuer);
    const [both, hybridOnly, first, again] = await proxyLikeHandshakes(minter, root, [
      {}, // Node's default offer: X25519MLKEM768 and X25519 key shares
      { ecdhCurve: "X25519MLKEM768" },
      {},
      { reuse: true },
    ]);
    assert.equal(both?.group, "X25519");
    // Node's client asks for TLS_AES_256_GCM_SHA384 first; our order gives AES-128-GCM.
    assert.equal(both?.cipher, "TLS_AES_128_GCM_SHA256");
    assert.equal(hybridOnly?.group, "X25519MLKEM768");
    assert.equal(first?.reused, false);
    // The context's session tickets let a returning client skip the full handshake.
    assert.equal(again?.reused, true);
  });

  it("encrypts tickets with its ticket keys: they resume on a rebuilt context and on another minter with the same keys", async () => {
    const { root, issuer } = await pki();
    let now = Date.now();
    const minter = new LeafMinter({ now: () => now });
    minter.setIssuer(issuer);
    const other = new LeafMinter();
    other.setIssuer(issuer);
    const [first, rebuilt, elsewhere] = await proxyLikeHandshakes(minter, root, [
      {},
      // The minter's own keys outlive its contexts (dropped here by a second setIssuer).
      { reuse: true, before: () => minter.setIssuer(issuer) },
      // Another minter (another worker) with keys of its own: no resumption.
      { reuse: true, minter: other },
    ]);
    assert.equal(first?.reused, false);
    assert.equal(rebuilt?.reused, true);
    assert.equal(elsewhere?.reused, false);
    // Given one set of keys (as the workers' primary hands them out), either resumes the other's.
    const keys = randomBytes(TICKET_KEY_BYTES);
    minter.setTicketKeys(keys);
    other.setTicketKeys(keys);
    const [a, b, c] = await proxyLikeHandshakes(minter, root, [
      {},
      { reuse: true, minter: other },
      { reuse: true },
    ]);
    assert.deepEqual([a?.reused, b?.reused, c?.reused], [false, true, true]);
    assert.throws(() => minter.setTicketKeys(Buffer.alloc(32)), RangeError);
    // A minter on its own keys replaces them after TICKET_KEY_ROTATION_MS.
    const own = new LeafMinter({ now: () => now });
    own.setIssuer(issuer);
    const rotated = await proxyLikeHandshakes(own, root, [
      {},
      { reuse: true },
      { reuse: true, before: () => (now += TICKET_KEY_ROTATION_MS) },
    ]);
    assert.deepEqual(
      rotated.map((r) => r.reused),
      [false, true, false],
    );
  });

  it("refuses names that cannot be certified", async () => {
    const { issuer } = await pki();
    const minter = new LeafMinter();
    minter.setIssuer(issuer);
    for (const bad of ["", "a b.example", "x".repeat(300), "Upper.example", "a..b", "fe80::1%eth0"])
      await assert.rejects(minter.leaf(bad), (e: Error) => e instanceof LeafUnavailable);
  });
});
