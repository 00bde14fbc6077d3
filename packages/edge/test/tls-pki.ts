// A throwaway PKI for TLS inspection tests and benchmarks: a root CA and an intermediate under
// it (what control signs for an edge: pathLen 0), made fresh per call with @peculiar/x509.

import { createPrivateKey, type KeyObject, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { type LeafIssuer, LeafMinter } from "../src/tls/leaf-minter.ts";

x509.cryptoProvider.set(webcrypto as Crypto);
const P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function keyObject(k: CryptoKey): Promise<KeyObject> {
  return createPrivateKey({
    key: Buffer.from(await webcrypto.subtle.exportKey("pkcs8", k)),
    format: "der",
    type: "pkcs8",
  });
}

/** Signs an edge's CSR as control would (pathLen 0), for `days` days from `from`. */
export async function signCsr(
  pki: TestPki,
  csrPem: string,
  opts: { days?: number; from?: number } = {},
): Promise<{ certificate: string; rootCa: string; serialNumber: string; notAfter: string }> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const root = new x509.X509Certificate(pki.root);
  const from = opts.from ?? Date.now();
  const notAfter = new Date(from + (opts.days ?? 30) * 86_400_000);
  const serial = `6${webcrypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "")}`;
  const publicKey = await csr.publicKey.export(P256, ["verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: "CN=Signed Intermediate",
    issuer: root.subject,
    notBefore: new Date(from - 60_000),
    notAfter,
    publicKey,
    signingKey: pki.rootKey.toCryptoKey(P256, false, ["sign"]) as CryptoKey,
    signingAlgorithm: P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return {
    certificate: `${cert.toString("pem")}\n`,
    rootCa: pki.root,
    serialNumber: serial,
    notAfter: notAfter.toISOString(),
  };
}

export interface TestPki {
  /** The root's certificate, PEM: what clients trust. */
  readonly root: string;
  readonly rootKey: KeyObject;
  /** An intermediate under the root, ready for LeafMinter.setIssuer. */
  readonly issuer: LeafIssuer;
}

export async function testPki(opts: { intermediateDays?: number } = {}): Promise<TestPki> {
  const rk = await keyPair();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=Test Root",
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 365 * 86_400_000),
    keys: rk,
    signingAlgorithm: P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rk.publicKey),
    ],
  });
  const ik = await keyPair();
  const serial = `7${webcrypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "")}`;
  const inter = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: "CN=Test Intermediate, O=Example",
    issuer: root.subject,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + (opts.intermediateDays ?? 30) * 86_400_000),
    publicKey: ik.publicKey,
    signingKey: rk.privateKey,
    signingAlgorithm: P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(ik.publicKey),
    ],
  });
  return {
    root: `${root.toString("pem")}\n`,
    rootKey: await keyObject(rk.privateKey),
    issuer: { certPem: `${inter.toString("pem")}\n`, key: await keyObject(ik.privateKey), serial },
  };
}

/**
 * What a test origin serves for `name`: a leaf under `pki`'s intermediate, with the chain (leaf
 * then intermediate) and the key in PEM. Clients trust it through `pki.root`.
 */
export async function originCert(
  pki: TestPki,
  name: string,
): Promise<{ readonly cert: string; readonly key: string }> {
  const minter = new LeafMinter();
  minter.setIssuer(pki.issuer);
  const leaf = await minter.leaf(name);
  return { cert: leaf.certPem + leaf.issuerPem, key: leaf.keyPem };
}
