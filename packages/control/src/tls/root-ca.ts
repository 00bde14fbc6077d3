// The organisation's root CA for TLS inspection. One per account, in `tls_root_cas`: generated
// on first use (ECDSA P-256, 10 years) or imported by an admin (PUT /tls/ca). The private key is
// stored encrypted (AES-256-GCM) under a key-encryption key (KEK) that never enters the
// database: a 32-byte file in control's data directory (mode 0600, created on first start) or
// GATEHOUSE_CA_KEK (base64), so a database dump alone does not yield the key. Replicas sharing
// one PostgreSQL need the same KEK. The key leaves this module only as a CryptoKey for signing
// edges' intermediates (intermediate.ts); no route or export returns it.

import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  webcrypto,
} from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { GatehouseError } from "@gatehouse/contract";
import type * as x509 from "@peculiar/x509";
import type { Db } from "../context.ts";

/**
 * @peculiar/x509 (with asn1js, tsyringe and reflect-metadata under it: about 4 MB of V8 heap)
 * loads when a root or an intermediate is first made, parsed or checked, not with control:
 * `gatehouse up` without TLS inspection never holds it (docs/benchmarks.md, "gatehouse up").
 */
let x509Module: Promise<typeof x509> | undefined;
export function loadX509(): Promise<typeof x509> {
  x509Module ??= import("@peculiar/x509").then((m) => {
    m.cryptoProvider.set(webcrypto as Crypto);
    return m;
  });
  return x509Module;
}

const P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const ROOT_VALIDITY_MS = 10 * 365.25 * 86_400_000;
/** Clock skew between control, edges and clients: certificates start this much in the past. */
export const BACKDATE_MS = 60 * 60_000;
const KEK_BYTES = 32;

/** A random positive serial of 16 bytes (RFC 5280 §4.1.2.2: ≤ 20 octets, positive). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b.readUInt8(0) & 0x7f) | 0x01;
  return b.toString("hex");
}

/** Reads the KEK file, or creates it (0600) when it does not exist yet. */
export async function loadOrCreateKek(file: string): Promise<Buffer> {
  try {
    const b = await readFile(file);
    if (b.length !== KEK_BYTES)
      throw new Error(`${file}: a CA key-encryption key is ${KEK_BYTES} bytes, found ${b.length}`);
    return b;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const kek = randomBytes(KEK_BYTES);
  await mkdir(dirname(file), { recursive: true });
  // "wx": never overwrite a KEK another process created meanwhile (it would orphan the key).
  try {
    await writeFile(file, kek, { mode: 0o600, flag: "wx" });
    return kek;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return loadOrCreateKek(file);
    throw e;
  }
}

/** The KEK from GATEHOUSE_CA_KEK (base64 of 32 bytes), or undefined when unset. */
export function kekFromEnv(value: string | undefined): Buffer | undefined {
  if (value === undefined || value === "") return undefined;
  const b = Buffer.from(value, "base64");
  if (b.length !== KEK_BYTES)
    throw new Error(`GATEHOUSE_CA_KEK must be base64 of ${KEK_BYTES} bytes, got ${b.length}`);
  return b;
}

export function encryptKey(kek: Buffer, pem: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", kek, iv);
  const ct = Buffer.concat([c.update(pem, "utf8"), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), ct]).toString("base64");
}

export function decryptKey(kek: Buffer, enc: string): string {
  const b = Buffer.from(enc, "base64");
  const d = createDecipheriv("aes-256-gcm", kek, b.subarray(0, 12));
  d.setAuthTag(b.subarray(12, 28));
  try {
    return Buffer.concat([d.update(b.subarray(28)), d.final()]).toString("utf8");
  } catch {
    throw new GatehouseError(
      "GH_ERR_INTERNAL",
      "the root CA key does not decrypt with this control's key-encryption key (ca-kek file or GATEHOUSE_CA_KEK): every replica needs the same one",
    );
  }
}

export interface RootCa {
  readonly accountId: string;
  readonly certPem: string;
  readonly cert: x509.X509Certificate;
  readonly source: "generated" | "imported";
}

export interface RootCaSigner extends RootCa {
  readonly key: CryptoKey;
  readonly algorithm: EcdsaParams | RsaHashedImportParams;
}

/** PEM text as files carry it: ending in a newline (the library's omits it). */
export function pemOf(cert: x509.X509Certificate): string {
  return `${cert.toString("pem")}\n`;
}

function fingerprint(cert: x509.X509Certificate): string {
  return createHash("sha256")
    .update(new Uint8Array(cert.rawData))
    .digest("hex")
    .toUpperCase()
    .replace(/(..)(?=.)/g, "$1:");
}

/** The API's view of a root (contract TlsCaView). */
export function rootView(r: RootCa) {
  return {
    subject: r.cert.subject,
    serialNumber: r.cert.serialNumber.toLowerCase(),
    notBefore: r.cert.notBefore.toISOString(),
    notAfter: r.cert.notAfter.toISOString(),
    sha256Fingerprint: fingerprint(r.cert),
    source: r.source,
    certificate: r.certPem,
  };
}

async function toRoot(row: {
  account_id: string;
  cert_pem: string;
  source: "generated" | "imported";
}): Promise<RootCa> {
  const { X509Certificate } = await loadX509();
  return {
    accountId: row.account_id,
    certPem: row.cert_pem,
    cert: new X509Certificate(row.cert_pem),
    source: row.source,
  };
}

/** Web Crypto parameters for signing with this key (ECDSA P-256/P-384, or RSA PKCS#1 v1.5). */
function signingParams(key: KeyObject): EcdsaParams | RsaHashedImportParams {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec") {
    if (d?.namedCurve === "prime256v1") return { ...P256 };
    if (d?.namedCurve === "secp384r1")
      return { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" } as EcdsaParams;
  }
  if (key.asymmetricKeyType === "rsa" && (d?.modulusLength ?? 0) >= 2048)
    return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  throw new GatehouseError(
    "GH_ERR_VALIDATION",
    "the root CA key must be ECDSA P-256 or P-384, or RSA of 2048 bits or more",
    { path: "/privateKey" },
  );
}

async function generateRoot(
  orgName: string,
): Promise<{ certPem: string; keyPem: string; cert: x509.X509Certificate }> {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(P256, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [
      { CN: [`Gatehouse ${orgName} Root CA`] },
      { O: [orgName] },
      { OU: ["Gatehouse TLS inspection"] },
    ],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ROOT_VALIDITY_MS),
    keys,
    signingAlgorithm: P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const keyPem = createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" })
    .export({ format: "pem", type: "pkcs8" })
    .toString();
  return { certPem: pemOf(cert), keyPem, cert };
}

export class RootCaStore {
  readonly #db: Db;
  readonly #kek: Buffer;
  /** Parsed roots by account; dropped when a root is replaced (by this process). */
  readonly #cache = new Map<string, RootCa>();

  constructor(db: Db, kek: Buffer) {
    this.#db = db;
    this.#kek = kek;
  }

  /** The account's root, generated and stored on first use. */
  async get(accountId: string): Promise<RootCa> {
    const cached = this.#cache.get(accountId);
    if (cached) return cached;
    let row = await this.#db
      .selectFrom("tls_root_cas")
      .select(["account_id", "cert_pem", "source"])
      .where("account_id", "=", accountId)
      .executeTakeFirst();
    if (!row) {
      const account = await this.#db
        .selectFrom("accounts")
        .select("name")
        .where("id", "=", accountId)
        .executeTakeFirst();
      if (!account) throw new GatehouseError("GH_ERR_NOT_FOUND", "no such account");
      const g = await generateRoot(account.name);
      // Two replicas (or two requests) generating at once: the first insert wins, both use it.
      await this.#db
        .insertInto("tls_root_cas")
        .values({
          account_id: accountId,
          cert_pem: g.certPem,
          key_enc: encryptKey(this.#kek, g.keyPem),
          source: "generated",
        })
        .onConflict((oc) => oc.column("account_id").doNothing())
        .execute();
      row = await this.#db
        .selectFrom("tls_root_cas")
        .select(["account_id", "cert_pem", "source"])
        .where("account_id", "=", accountId)
        .executeTakeFirstOrThrow();
    }
    const root = await toRoot(row);
    this.#cache.set(accountId, root);
    return root;
  }

  /** The root with its key, for signing an intermediate. */
  async signer(accountId: string): Promise<RootCaSigner> {
    const root = await this.get(accountId);
    const row = await this.#db
      .selectFrom("tls_root_cas")
      .select(["key_enc", "cert_pem"])
      .where("account_id", "=", accountId)
      .executeTakeFirstOrThrow();
    // Replaced by another replica since it was cached: start again from the stored one.
    if (row.cert_pem !== root.certPem) {
      this.#cache.delete(accountId);
      return this.signer(accountId);
    }
    const keyObject = createPrivateKey(decryptKey(this.#kek, row.key_enc));
    const algorithm = signingParams(keyObject);
    return {
      ...root,
      key: keyObject.toCryptoKey(algorithm, false, ["sign"]) as CryptoKey,
      algorithm,
    };
  }

  /**
   * Replace the account's root with an imported certificate and key (PEM). The certificate
   * must be a CA that may sign certificates, currently valid, and the key must be its key.
   */
  async import(accountId: string, certPem: string, keyPem: string): Promise<RootCa> {
    const { cert, key } = await checkImport(certPem, keyPem);
    const stored = pemOf(cert);
    await this.#db
      .insertInto("tls_root_cas")
      .values({
        account_id: accountId,
        cert_pem: stored,
        key_enc: encryptKey(this.#kek, key.export({ format: "pem", type: "pkcs8" }).toString()),
        source: "imported",
      })
      .onConflict((oc) =>
        oc.column("account_id").doUpdateSet({
          cert_pem: stored,
          key_enc: encryptKey(this.#kek, key.export({ format: "pem", type: "pkcs8" }).toString()),
          source: "imported",
          updated_at: new Date(),
        }),
      )
      .execute();
    this.#cache.delete(accountId);
    return this.get(accountId);
  }
}

/** Validates an imported root: one CA certificate, currently valid, and its own key. */
export async function checkImport(
  certPem: string,
  keyPem: string,
): Promise<{ cert: x509.X509Certificate; key: KeyObject }> {
  const x509 = await loadX509();
  const invalid = (message: string, path: string) =>
    new GatehouseError("GH_ERR_VALIDATION", message, { path });
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (blocks !== 1)
    throw invalid(
      `certificate must hold exactly one PEM certificate, found ${blocks}`,
      "/certificate",
    );
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (e) {
    throw invalid(`certificate does not parse: ${(e as Error).message}`, "/certificate");
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca)
    throw invalid("certificate is not a CA (basicConstraints cA is not set)", "/certificate");
  if (bc.pathLength !== undefined && bc.pathLength < 1)
    throw invalid(
      "the CA's pathLenConstraint forbids intermediates (edges sign leaves under their own intermediate)",
      "/certificate",
    );
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0)
    throw invalid("certificate's key usage does not include keyCertSign", "/certificate");
  const now = Date.now();
  if (cert.notBefore.getTime() > now || cert.notAfter.getTime() <= now)
    throw invalid(
      `certificate is not valid now (${cert.notBefore.toISOString()} – ${cert.notAfter.toISOString()})`,
      "/certificate",
    );
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw invalid(
      `privateKey does not parse (PEM, unencrypted): ${(e as Error).message}`,
      "/privateKey",
    );
  }
  signingParams(key);
  const fromKey = createPublicKey(key).export({ format: "der", type: "spki" });
  if (!fromKey.equals(Buffer.from(cert.publicKey.rawData)))
    throw invalid("privateKey is not the key of this certificate", "/privateKey");
  return { cert, key };
}
