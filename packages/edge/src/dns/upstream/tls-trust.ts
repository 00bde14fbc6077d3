// Which certificate authorities a DoT/DoH upstream's certificate must chain to: the system roots
// by default, or the PEM certificates of the upstream's `ca` (text) / `caFile` (edge-local path)
// for a resolver with a private CA. Built once per config (a bad PEM refuses the config with a
// message naming the upstream); per-connection code only passes the prepared context along.
// There is no switch to skip verification: RFC 8310 §5 (the Strict Privacy profile) fails closed.

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SecureContext } from "node:tls";
import type { Upstream } from "@gatehouse/contract";
import { tls } from "../../net/node-tls.ts";

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The upstream's trust anchors as a TLS context, or undefined for the system roots. */
export function upstreamSecureContext(u: Upstream): SecureContext | undefined {
  const where = `upstream "${u.address}"`;
  if (u.ca !== undefined && u.caFile !== undefined)
    throw new Error(`${where}: give ca (PEM text) or caFile (a path), not both`);
  let pem: string;
  if (u.caFile === undefined) {
    if (u.ca === undefined) return undefined;
    pem = u.ca;
  } else {
    try {
      pem = readFileSync(u.caFile, "utf8");
    } catch (e) {
      throw new Error(`${where}: cannot read caFile: ${(e as Error).message}`, { cause: e });
    }
  }
  const source = u.caFile !== undefined ? `caFile ${u.caFile}` : "ca";
  const certs = pem.match(PEM_CERT);
  // node:tls ignores text that is not a certificate, which would leave the upstream trusting
  // nothing (every query failing) with no hint why: refuse such a config here instead.
  if (!certs) throw new Error(`${where}: ${source} holds no PEM certificate`);
  certs.forEach((c, i) => {
    try {
      new X509Certificate(c);
    } catch (e) {
      throw new Error(
        `${where}: ${source}: certificate ${i + 1} is not valid: ${(e as Error).message}`,
        { cause: e },
      );
    }
  });
  return tls().createSecureContext({ ca: certs });
}
