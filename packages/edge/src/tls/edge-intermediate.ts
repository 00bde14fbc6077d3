// This edge's intermediate CA, which signs the leaves of inspected connections. The edge makes
// its own ECDSA P-256 key (it never leaves the data directory: `tls-intermediate-key.pem`, mode
// 0600) and asks control to certify it with a PKCS#10 CSR (POST /edge/tls/intermediate) when a
// bundle first says a location inspects, when control's root changes (a new `tls.rootCa`), and
// at two thirds of the certificate's validity, so a renewal has a third of it (ten days of the
// thirty) to succeed. A renewal swaps the minter's issuer: new handshakes get leaves under the
// new intermediate while connections already up keep theirs. An intermediate control lists as
// revoked is dropped at once (the edge stops inspecting until it has another).

import { createPrivateKey, type KeyObject, webcrypto, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { EdgeIntermediateIssued, TlsInspectionSettings } from "@gatehouse/contract";
import { writeFileAtomic } from "../sync/atomic-file.ts";
import { type LeafMinter, serialKey } from "./leaf-minter.ts";

const P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const RETRY_MIN_MS = 30_000;
const RETRY_MAX_MS = 3_600_000;
/** setTimeout's ceiling (about 24.8 days); longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * @peculiar/x509 (and asn1js, tsyringe, reflect-metadata under it) loads when a CSR is made, not
 * with the edge: an edge that never inspects TLS does not hold it (about 10 MB of RSS).
 */
let x509Module: Promise<typeof import("@peculiar/x509")> | undefined;
function loadX509(): Promise<typeof import("@peculiar/x509")> {
  x509Module ??= import("@peculiar/x509").then((m) => {
    m.cryptoProvider.set(webcrypto as Crypto);
    return m;
  });
  return x509Module;
}

export interface EdgeIntermediateOptions {
  readonly dataDir: string;
  readonly minter: LeafMinter;
  /** Send the CSR to control; resolves with what it signed. */
  readonly request: (csrPem: string) => Promise<EdgeIntermediateIssued>;
  readonly log: (line: string) => void;
  readonly now?: () => number;
}

interface Current {
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly key: KeyObject;
}

/** When to renew: two thirds into the certificate's validity. */
export function renewAt(cert: X509Certificate): number {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return from + ((to - from) * 2) / 3;
}

export class EdgeIntermediate {
  readonly #o: EdgeIntermediateOptions;
  readonly #now: () => number;
  readonly #keyFile: string;
  readonly #certFile: string;
  #current: Current | undefined;
  #loaded = false;
  #root: string | undefined;
  #revoked = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(opts: EdgeIntermediateOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#keyFile = join(opts.dataDir, "tls-intermediate-key.pem");
    this.#certFile = join(opts.dataDir, "tls-intermediate.pem");
  }

  /** The serial of the intermediate in use, lowercase hex. */
  get serial(): string | undefined {
    return this.#current ? serialKey(this.#current.cert.serialNumber) : undefined;
  }

  /** A bundle was applied: follow its root and revocations; no `tls` section leaves things be. */
  onBundle(tls: TlsInspectionSettings | undefined): Promise<void> {
    if (!tls || this.#stopped) return Promise.resolve();
    this.#root = tls.rootCa;
    this.#revoked = new Set(tls.revokedIntermediates.map(serialKey));
    if (this.#o.minter.revoke(this.#revoked)) {
      this.#o.log(
        `gatehouse edge: control revoked this edge's intermediate CA ${this.serial}; inspection stops until a new one is signed`,
      );
      this.#current = undefined;
    }
    return this.#check();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** One check at a time: the one running, then another if asked meanwhile. */
  #check(): Promise<void> {
    const run = (this.#running ?? Promise.resolve()).then(() => this.#ensure());
    this.#running = run.catch(() => {});
    return run;
  }

  /** Chains to the bundle's root, not revoked, not expired: may sign leaves. */
  #servable(c: Current | undefined): c is Current {
    if (!c || !this.#root) return false;
    const root = new X509Certificate(this.#root);
    return (
      c.cert.checkIssued(root) &&
      c.cert.verify(root.publicKey) &&
      !this.#revoked.has(serialKey(c.cert.serialNumber)) &&
      this.#now() < Date.parse(c.cert.validTo)
    );
  }

  /** Servable and not yet due for renewal. */
  #usable(c: Current | undefined): c is Current {
    return this.#servable(c) && this.#now() < renewAt(c.cert);
  }

  async #ensure(): Promise<void> {
    if (this.#stopped) return;
    if (!this.#loaded) {
      this.#loaded = true;
      this.#current = await this.#load();
    }
    let current = this.#current;
    if (!this.#usable(current)) {
      try {
        current = await this.#renew();
        this.#current = current;
        this.#failures = 0;
      } catch (e) {
        this.#failures++;
        const wait = Math.min(RETRY_MIN_MS * 2 ** (this.#failures - 1), RETRY_MAX_MS);
        this.#o.log(
          `gatehouse edge: could not get an intermediate CA signed (${(e as Error).message}); retrying in ${Math.round(wait / 1000)} s`,
        );
        // The one we have still serves until it expires (unless revoked or of another root).
        if (this.#servable(current)) this.#install(current);
        this.#schedule(wait);
        return;
      }
    }
    this.#install(current);
    this.#schedule(renewAt(current.cert) - this.#now());
  }

  #install(c: Current): void {
    const serial = serialKey(c.cert.serialNumber);
    if (this.#o.minter.issuerSerial === serial) return;
    this.#o.minter.setIssuer({ certPem: c.certPem, key: c.key, serial });
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#check(), Math.max(1000, Math.min(ms, MAX_TIMER_MS)));
    this.#timer.unref();
  }

  async #load(): Promise<Current | undefined> {
    try {
      const [keyPem, certPem] = await Promise.all([
        readFile(this.#keyFile, "utf8"),
        readFile(this.#certFile, "utf8"),
      ]);
      const cert = new X509Certificate(certPem);
      const key = createPrivateKey(keyPem);
      return cert.checkPrivateKey(key) ? { cert, certPem, key } : undefined;
    } catch {
      return undefined; // none yet, or unreadable: a new one is asked for
    }
  }

  async #renew(): Promise<Current> {
    const keys = (await webcrypto.subtle.generateKey(P256, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const x509 = await loadX509();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=gatehouse-edge",
      keys,
      signingAlgorithm: P256,
    });
    const issued = await this.#o.request(csr.toString("pem"));
    const key = createPrivateKey({
      key: Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
      format: "der",
      type: "pkcs8",
    });
    const cert = new X509Certificate(issued.certificate);
    if (!cert.checkPrivateKey(key)) throw new Error("control signed a different key");
    const root = new X509Certificate(issued.rootCa);
    if (!cert.checkIssued(root) || !cert.verify(root.publicKey))
      throw new Error("the signed intermediate does not chain to control's root");
    // Key first: a certificate on disk always has its key beside it.
    await writeFileAtomic(this.#keyFile, key.export({ format: "pem", type: "pkcs8" }).toString());
    await writeFileAtomic(this.#certFile, issued.certificate, 0o644);
    this.#root ??= issued.rootCa;
    this.#o.log(
      `gatehouse edge: intermediate CA ${serialKey(cert.serialNumber)} signed by control, valid until ${new Date(cert.validTo).toISOString()}`,
    );
    return { cert, certPem: issued.certificate, key };
  }
}
