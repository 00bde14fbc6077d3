// TLS inspection's trust chain on control: the root CA generated on first start (ECDSA P-256,
// 10 years, a Gatehouse subject), served without a credential as PEM and DER, its key stored
// encrypted and never returned; an admin's import checked (a CA, its own key); edges' CSRs
// signed into intermediates (pathLen 0, ≤ 30 days, chaining to the root); a decommissioned
// edge's intermediate listed as revoked in the bundle and never renewed.

import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync, webcrypto, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import { decryptKey, loadOrCreateKek } from "../src/tls/root-ca.ts";
import { call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);
x509.cryptoProvider.set(webcrypto as Crypto);

const P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

async function csrFor(
  keys: CryptoKeyPair,
  alg: EcdsaParams | RsaHashedKeyGenParams = P256,
): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "CN=edge",
    keys,
    signingAlgorithm: alg,
  });
  return csr.toString("pem");
}

async function selfSigned(ca: boolean): Promise<{ cert: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(P256, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "0a",
    name: "CN=Imported Root, O=Example",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 365 * 86_400_000),
    keys,
    signingAlgorithm: P256,
    extensions: ca ? [new x509.BasicConstraintsExtension(true, undefined, true)] : [],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })
    .export({ format: "pem", type: "pkcs8" })
    .toString();
  return { cert: cert.toString("pem"), key };
}

describe("TLS inspection: root CA and edge intermediates", () => {
  let t: TestApp;
  let dir: string;
  const kek = Buffer.alloc(32, 7);
  const api = (method: string, url: string, body?: unknown, token: string | undefined = t.token) =>
    call(t.app, token, method as "GET", `/api/v1${url}`, body);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-tls-ca-"));
    t = await openTestApp("pglite", { caKek: kek, intermediateValidityMs: 90 * 86_400_000 });
  });
  after(async () => {
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("generates the root on first start and serves it without a credential, PEM and DER", async () => {
    const pem = await api("GET", "/tls/ca.pem", undefined, undefined);
    assert.equal(pem.statusCode, 200, pem.body);
    assert.match(String(pem.headers["content-type"]), /^application\/x-pem-file/);
    assert.doesNotMatch(pem.body, /PRIVATE KEY/);
    const root = new X509Certificate(pem.body);
    assert.ok(root.ca);
    assert.match(root.subject, /CN=Gatehouse default Root CA/);
    assert.match(root.subject, /O=default/);
    assert.equal(root.publicKey.asymmetricKeyType, "ec");
    assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.ok(root.verify(root.publicKey), "self-signed");
    const years = (Date.parse(root.validTo) - Date.parse(root.validFrom)) / (365.25 * 86_400_000);
    assert.ok(years > 9.99 && years < 10.01, `${years} years`);
    const der = await api("GET", "/tls/ca.der", undefined, undefined);
    assert.equal(der.statusCode, 200);
    assert.deepEqual(der.rawPayload, root.raw);
    const view = await api("GET", "/tls/ca");
    assert.equal(view.statusCode, 200, view.body);
    assert.equal(view.json().source, "generated");
    assert.equal(view.json().sha256Fingerprint, root.fingerprint256);
    assert.doesNotMatch(view.body, /PRIVATE KEY/);
    assert.equal(
      (await api("GET", "/tls/ca.pem?account=acc_nope", undefined, undefined)).statusCode,
      404,
    );
  });

  it("stores the key encrypted under the KEK, never in the clear, never exported", async () => {
    const row = await t.app.gatehouse.db
      .selectFrom("tls_root_cas")
      .selectAll()
      .where("account_id", "=", t.app.gatehouse.systemAccountId)
      .executeTakeFirstOrThrow();
    assert.doesNotMatch(row.key_enc, /PRIVATE KEY/);
    assert.doesNotMatch(Buffer.from(row.key_enc, "base64").toString("latin1"), /PRIVATE KEY/);
    const key = createPrivateKey(decryptKey(kek, row.key_enc));
    assert.equal(key.asymmetricKeyType, "ec");
    assert.throws(() => decryptKey(Buffer.alloc(32, 8), row.key_enc), /key-encryption key/);
    const exported = await api("GET", "/config/export");
    assert.equal(exported.statusCode, 200);
    assert.doesNotMatch(exported.body, /PRIVATE KEY|key_enc/);
  });

  it("creates the KEK file readable by its owner only, and reuses it", async () => {
    const file = join(dir, "ca-kek");
    const a = await loadOrCreateKek(file);
    assert.equal(a.length, 32);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await loadOrCreateKek(file), a);
    assert.deepEqual(await readFile(file), a);
  });

  it("signs an edge's CSR into an intermediate: pathLen 0, ≤ 30 days, chaining to the root", async () => {
    const join = (await api("POST", "/edges/join-tokens")).json().joinToken;
    const enrolled = await api("POST", "/edge/enroll", { joinToken: join, name: "e1" }, undefined);
    assert.equal(enrolled.statusCode, 201, enrolled.body);
    const cred = enrolled.json().credential as string;
    const keys = (await webcrypto.subtle.generateKey(P256, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const r = await api("POST", "/edge/tls/intermediate", { csr: await csrFor(keys) }, cred);
    assert.equal(r.statusCode, 200, r.body);
    const root = new X509Certificate((await api("GET", "/tls/ca.pem", undefined, undefined)).body);
    const inter = new X509Certificate(r.json().certificate);
    assert.equal(r.json().rootCa, root.toString());
    assert.ok(inter.verify(root.publicKey), "signed by the root");
    assert.ok(inter.checkIssued(root));
    assert.ok(inter.ca);
    const parsed = new x509.X509Certificate(r.json().certificate);
    assert.equal(parsed.getExtension(x509.BasicConstraintsExtension)?.pathLength, 0);
    // Asked for 90 days: capped at 30.
    const days = (Date.parse(inter.validTo) - Date.now()) / 86_400_000;
    assert.ok(days <= 30 && days > 29.9, `${days} days`);
    const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey));
    assert.deepEqual(inter.publicKey.export({ format: "der", type: "spki" }), spki);
    assert.equal(r.json().serialNumber, inter.serialNumber.toLowerCase());

    // Not ECDSA P-256, or a CSR whose signature does not verify: refused.
    const rsa = (await webcrypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const bad = await api(
      "POST",
      "/edge/tls/intermediate",
      {
        csr: await csrFor(rsa, {
          name: "RSASSA-PKCS1-v1_5",
          hash: "SHA-256",
        } as unknown as RsaHashedKeyGenParams),
      },
      cred,
    );
    assert.equal(bad.statusCode, 422, bad.body);
    assert.match(bad.json().error.message, /P-256/);
    const good = await csrFor(keys);
    const der = Buffer.from(good.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    der[der.length - 5]! ^= 0xff; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    const t2 = await api("POST", "/edge/tls/intermediate", { csr: tampered }, cred);
    assert.equal(t2.statusCode, 422, t2.body);
    assert.equal(
      (await api("POST", "/edge/tls/intermediate", { csr: "x".repeat(60) }, cred)).statusCode,
      422,
    );

    // A location that inspects: the bundle carries the root, no revoked intermediate yet.
    const loc = await api("POST", "/locations", { name: "lan", tlsInspection: true });
    assert.equal(loc.statusCode, 201, loc.body);
    assert.equal(loc.json().tlsInspection, true);
    await api("POST", "/config/publish", { force: true });
    let bundle = (await api("GET", "/edge/config?after=0", undefined, cred)).json();
    assert.equal(bundle.tls.rootCa, root.toString());
    assert.deepEqual(bundle.tls.revokedIntermediates, []);
    assert.equal(bundle.locations[0].tlsInspection, true);

    // Decommissioned: its intermediate is revoked (in the next bundle) and never renewed.
    const edgeId = enrolled.json().edgeId as string;
    assert.equal((await api("DELETE", `/edges/${edgeId}`)).statusCode, 200);
    const renew = await api("POST", "/edge/tls/intermediate", { csr: await csrFor(keys) }, cred);
    assert.equal(renew.statusCode, 410, renew.body);
    await api("POST", "/config/publish", { force: true });
    const join2 = (await api("POST", "/edges/join-tokens")).json().joinToken;
    const other = (
      await api("POST", "/edge/enroll", { joinToken: join2, name: "e2" }, undefined)
    ).json();
    bundle = (await api("GET", "/edge/config?after=0", undefined, other.credential)).json();
    assert.deepEqual(bundle.tls.revokedIntermediates, [r.json().serialNumber]);
  });

  it("imports an admin's root only when it is a CA and the key is its own; the key is never shown", async () => {
    const notCa = await selfSigned(false);
    const a = await selfSigned(true);
    const b = await selfSigned(true);
    let r = await api("PUT", "/tls/ca", { certificate: notCa.cert, privateKey: notCa.key });
    assert.equal(r.statusCode, 422, r.body);
    assert.match(r.json().error.message, /not a CA/);
    r = await api("PUT", "/tls/ca", { certificate: a.cert, privateKey: b.key });
    assert.equal(r.statusCode, 422, r.body);
    assert.equal(r.json().error.details.path, "/privateKey");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    });
    r = await api("PUT", "/tls/ca", { certificate: a.cert, privateKey: rsa });
    assert.equal(r.statusCode, 422, r.body);
    // Editors may not replace it.
    const editor = (await api("POST", "/tokens", { name: "ed", role: "editor" })).json().token;
    r = await api("PUT", "/tls/ca", { certificate: a.cert, privateKey: a.key }, editor);
    assert.equal(r.statusCode, 403);
    r = await api("PUT", "/tls/ca", { certificate: a.cert, privateKey: a.key });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().source, "imported");
    assert.doesNotMatch(r.body, /PRIVATE KEY/);
    const served = await api("GET", "/tls/ca.pem", undefined, undefined);
    assert.equal(
      new X509Certificate(served.body).fingerprint256,
      new X509Certificate(a.cert).fingerprint256,
    );
    const audit = await api("GET", "/audit");
    assert.doesNotMatch(audit.body, /PRIVATE KEY/);
    assert.match(audit.body, /tls-ca/);
  });
});
