// The certificate `gatehouse up` presents on DoT, DoH and the dashboard's HTTPS listeners: from
// files (--tls-cert/--tls-key or `tls:` in the config), else a self-signed one kept in the data
// directory and made again when it no longer covers the addresses served or nears its end.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type CertificateSummary, ensureSelfSigned, summarizeCertificate } from "@gatehouse/edge";

export interface ServingCertificate {
  readonly source: "files" | "acme" | "self-signed";
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  readonly summary: CertificateSummary;
}

/** A certificate and key read from files, checked to parse and to belong together. */
export async function certificateFromFiles(
  certFile: string,
  keyFile: string,
  source: "files" | "acme" = "files",
): Promise<ServingCertificate> {
  const [cert, key] = await Promise.all([
    readFile(certFile, "utf8"),
    readFile(keyFile, "utf8"),
  ]).catch((e: Error) => {
    throw new Error(`cannot read the TLS certificate or key: ${e.message}`, { cause: e });
  });
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (e) {
    throw new Error(`${certFile} holds no PEM certificate (${(e as Error).message})`, { cause: e });
  }
  let matches: boolean;
  try {
    matches = x.checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw new Error(`${keyFile} holds no PEM private key (${(e as Error).message})`, { cause: e });
  }
  if (!matches) throw new Error(`${keyFile} is not the key of the certificate in ${certFile}`);
  return { source, certFile, keyFile, cert, key, summary: summarizeCertificate(cert) };
}

/** The self-signed certificate in `dir` for these names and addresses (made when needed). */
export async function selfSignedCertificate(opts: {
  dir: string;
  names: readonly string[];
  ips: readonly string[];
  log: (line: string) => void;
}): Promise<ServingCertificate> {
  const got = await ensureSelfSigned(opts);
  return {
    source: "self-signed",
    certFile: got.certFile,
    keyFile: got.keyFile,
    cert: got.cert,
    key: got.key,
    summary: summarizeCertificate(got.cert),
  };
}
