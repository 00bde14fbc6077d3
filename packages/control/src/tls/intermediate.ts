// Signing an edge's intermediate CA. The edge generates its key pair and sends a PKCS#10 CSR
// (POST /edge/tls/intermediate); control checks the CSR's own signature and key type, and signs
// a CA certificate under the organisation's root that can sign leaves only (pathLenConstraint
// 0), valid for 30 days at most and never beyond the root. Subject and extensions are control's,
// not the CSR's: an edge asks for a key to be certified, nothing else. Each one issued is
// recorded, so a decommissioned edge's intermediates can be listed as revoked in bundles.

import { createPublicKey } from "node:crypto";
import { GatehouseError } from "@gatehouse/contract";
import type * as x509 from "@peculiar/x509";
import type { Db } from "../context.ts";
import { BACKDATE_MS, loadX509, pemOf, type RootCaStore, randomSerial } from "./root-ca.ts";

export const MAX_INTERMEDIATE_VALIDITY_MS = 30 * 86_400_000;
/** CSRs are a few hundred bytes; this bounds what is parsed. */
export const MAX_CSR_LENGTH = 8192;

export interface IssuedIntermediate {
  readonly certificate: string;
  readonly rootCa: string;
  readonly serialNumber: string;
  readonly notAfter: string;
}

function badCsr(message: string): GatehouseError {
  return new GatehouseError("GH_ERR_VALIDATION", message, { path: "/csr" });
}

async function csrKey(csrPem: string): Promise<CryptoKey> {
  const { Pkcs10CertificateRequest } = await loadX509();
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(csrPem);
  } catch (e) {
    throw badCsr(`csr does not parse as a PEM PKCS#10 request: ${(e as Error).message}`);
  }
  const spki = Buffer.from(csr.publicKey.rawData);
  const details = createPublicKey({ key: spki, format: "der", type: "spki" });
  if (
    details.asymmetricKeyType !== "ec" ||
    details.asymmetricKeyDetails?.namedCurve !== "prime256v1"
  )
    throw badCsr("an edge intermediate's key must be ECDSA P-256");
  // Proof of possession: the CSR is signed by the key it asks to certify.
  if (!(await csr.verify())) throw badCsr("csr signature does not verify");
  return csr.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
}

export async function signIntermediate(
  db: Db,
  roots: RootCaStore,
  edge: { id: string; accountId: string; name: string },
  csrPem: string,
  validityMs: number = MAX_INTERMEDIATE_VALIDITY_MS,
): Promise<IssuedIntermediate> {
  const x509 = await loadX509();
  const publicKey = await csrKey(csrPem);
  const root = await roots.signer(edge.accountId);
  const now = Date.now();
  const notAfter = new Date(
    Math.min(
      now + Math.min(validityMs, MAX_INTERMEDIATE_VALIDITY_MS),
      root.cert.notAfter.getTime(),
    ),
  );
  const rootSki = root.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const org = root.cert.subjectName.getField("O")[0] ?? edge.accountId;
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ CN: [`Gatehouse edge ${edge.name} intermediate`] }, { O: [org] }],
    issuer: root.cert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    publicKey,
    signingKey: root.key,
    signingAlgorithm: root.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ...(rootSki ? [new x509.AuthorityKeyIdentifierExtension(rootSki.keyId)] : []),
    ],
  });
  const certificate = pemOf(cert);
  await db
    .insertInto("edge_intermediates")
    .values({
      serial,
      account_id: edge.accountId,
      edge_id: edge.id,
      cert_pem: certificate,
      not_after: notAfter,
    })
    .execute();
  return {
    certificate,
    rootCa: root.certPem,
    serialNumber: serial,
    notAfter: notAfter.toISOString(),
  };
}

/** Revokes every intermediate of an edge (decommissioning); returns how many. */
export async function revokeIntermediates(db: Db, edgeId: string): Promise<number> {
  const r = await db
    .updateTable("edge_intermediates")
    .set({ revoked_at: new Date() })
    .where("edge_id", "=", edgeId)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Serials of revoked intermediates not yet expired (what a bundle lists). */
export async function revokedSerials(db: Db, accountId: string): Promise<string[]> {
  const rows = await db
    .selectFrom("edge_intermediates")
    .select("serial")
    .where("account_id", "=", accountId)
    .where("revoked_at", "is not", null)
    .where("not_after", ">", new Date())
    .orderBy("serial")
    .limit(100_000)
    .execute();
  return rows.map((r) => r.serial);
}
