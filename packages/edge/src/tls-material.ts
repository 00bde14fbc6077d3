// Certificates for DoT and DoH: the files named in `edge.tls`, or — for development — a
// self-signed certificate generated once into the data directory and reused afterwards (its path
// is printed so a client can be told to trust it).

import { X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Worker } from "node:worker_threads";

/**
 * A self-signed certificate from selfsigned, made on a thread of its own (tls/selfsigned-worker.ts):
 * the library and the ASN.1 libraries under it (about 4 MB of V8 heap, 10 MB of RSS) load
 * there and are gone with the thread, so a process that made its certificate once does not hold
 * them for good (docs/benchmarks.md, "gatehouse up").
 */
function generateSelfSigned(
  ...[attrs, options]: Parameters<typeof import("selfsigned").generate>
): Promise<{ cert: string; private: string }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./tls/selfsigned-worker.ts", import.meta.url), {
      workerData: { attrs, options },
    });
    let answered = false;
    w.once(
      "message",
      (m: { ok: true; cert: string; private: string } | { ok: false; message: string }) => {
        answered = true;
        if (m.ok) resolve({ cert: m.cert, private: m.private });
        else reject(new Error(`making a self-signed certificate: ${m.message}`));
      },
    );
    w.once("error", reject);
    w.once("exit", (code) => {
      if (!answered)
        reject(new Error(`the self-signed certificate's thread exited (${code}) without one`));
    });
  });
}

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly generated: boolean;
}

export async function loadTlsMaterial(opts: {
  tls?: { certFile: string; keyFile: string };
  dataDir: string;
  log?: (line: string) => void;
}): Promise<TlsMaterial> {
  if (opts.tls) {
    const [cert, key] = await Promise.all([
      readFile(opts.tls.certFile, "utf8"),
      readFile(opts.tls.keyFile, "utf8"),
    ]).catch((e: Error) => {
      throw new Error(`edge.tls: cannot read certificate or key: ${e.message}`, { cause: e });
    });
    return { cert, key, certFile: opts.tls.certFile, generated: false };
  }
  const certFile = join(opts.dataDir, "edge-selfsigned-cert.pem");
  const keyFile = join(opts.dataDir, "edge-selfsigned-key.pem");
  try {
    const [cert, key] = await Promise.all([readFile(certFile, "utf8"), readFile(keyFile, "utf8")]);
    return { cert, key, certFile, generated: false };
  } catch {
    // Not generated yet.
  }
  await mkdir(opts.dataDir, { recursive: true });
  const pems = await generateSelfSigned([{ name: "commonName", value: "gatehouse-edge.local" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 825 * 86_400_000),
    extensions: [
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 2, value: "*.dot.localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await writeFile(certFile, pems.cert);
  (opts.log ?? ((l) => console.error(l)))(
    `gatehouse edge: generated a self-signed certificate for DoT/DoH: ${certFile}`,
  );
  return { cert: pems.cert, key: pems.private, certFile, generated: true };
}

/** What a banner or a Connect page says about a certificate. */
export interface CertificateSummary {
  /** SHA-256 of the DER certificate, upper-case hex pairs joined by ":" (as browsers show it). */
  readonly sha256: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notAfter: string;
  /** DNS names and IP addresses it is valid for. */
  readonly names: string[];
  readonly selfSigned: boolean;
}

export function summarizeCertificate(pem: string): CertificateSummary {
  const x = new X509Certificate(pem);
  const names = (x.subjectAltName ?? "")
    .split(/,\s*/)
    .map((n) => /^(?:DNS|IP Address):(.+)$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined);
  return {
    sha256: x.fingerprint256,
    subject: x.subject.replace(/\n/g, ", "),
    issuer: x.issuer.replace(/\n/g, ", "),
    notAfter: new Date(x.validTo).toISOString(),
    names,
    selfSigned: x.subject === x.issuer && x.verify(x.publicKey),
  };
}

/** True when the certificate is valid for every name and address and for `minDays` more. */
export function certificateCovers(
  pem: string,
  want: { names: readonly string[]; ips: readonly string[] },
  minDays = 30,
): boolean {
  const x = new X509Certificate(pem);
  if (new Date(x.validTo).getTime() < Date.now() + minDays * 86_400_000) return false;
  return (
    want.names.every((n) => x.checkHost(n) !== undefined) &&
    want.ips.every((ip) => x.checkIP(ip) !== undefined)
  );
}

/**
 * A self-signed certificate in `dir` (cert.pem, key.pem) for these names and addresses: the one
 * there when it covers them all and is valid for 30 days more, else a new one (825 days). The
 * first name is the subject's common name.
 */
export async function ensureSelfSigned(opts: {
  dir: string;
  names: readonly string[];
  ips: readonly string[];
  log?: (line: string) => void;
}): Promise<{ certFile: string; keyFile: string; cert: string; key: string; generated: boolean }> {
  const certFile = join(opts.dir, "cert.pem");
  const keyFile = join(opts.dir, "key.pem");
  try {
    const [cert, key] = await Promise.all([readFile(certFile, "utf8"), readFile(keyFile, "utf8")]);
    if (certificateCovers(cert, opts) && summarizeCertificate(cert).selfSigned)
      return { certFile, keyFile, cert, key, generated: false };
  } catch {
    // Not there yet (or unreadable): make one.
  }
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const pems = await generateSelfSigned(
    [{ name: "commonName", value: opts.names[0] ?? "gatehouse" }],
    {
      keySize: 2048,
      algorithm: "sha256",
      notAfterDate: new Date(Date.now() + 825 * 86_400_000),
      extensions: [
        { name: "basicConstraints", cA: false, critical: true },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
        { name: "extKeyUsage", serverAuth: true },
        {
          name: "subjectAltName",
          altNames: [
            ...opts.names.map((value) => ({ type: 2 as const, value })),
            ...opts.ips.map((ip) => ({ type: 7 as const, ip })),
          ],
        },
      ],
    },
  );
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await writeFile(certFile, pems.cert);
  opts.log?.(
    `generated a self-signed certificate for ${[...opts.names, ...opts.ips].join(", ")}: ${certFile}`,
  );
  return { certFile, keyFile, cert: pems.cert, key: pems.private, generated: true };
}
