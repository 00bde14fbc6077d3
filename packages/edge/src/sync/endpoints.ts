// What this edge serves, for its heartbeat (control's Connect page builds a location's addresses
// from it): the bound listeners per protocol — a wildcard bind (0.0.0.0, ::) given as this
// machine's addresses, since a device cannot be pointed at 0.0.0.0 —, the certificate on the DoT
// and DoH listeners (fingerprint, names, expiry, the PEM) and the configured public name.

import { X509Certificate } from "node:crypto";
import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import type { EdgeEndpoints } from "@gatehouse/contract";
import type { EdgeAddresses } from "../main.ts";
import { joinHostPort, splitHostPort } from "../net/host-port.ts";
import { type CertificateSummary, summarizeCertificate } from "../tls-material.ts";

/** Addresses per protocol in a report (the contract's limit): the rest are left out. */
export const MAX_REPORTED_ADDRESSES = 32;

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * The machine's addresses a wildcard bind serves: IPv4 ones for 0.0.0.0; IPv6 and IPv4 ones
 * for :: (dual-stack). Link-local IPv6 addresses are left out: they need a zone a device does
 * not know.
 */
function expandWildcard(host: string, port: number, ifaces: Interfaces): string[] | undefined {
  const v4 = host === "0.0.0.0";
  if (!v4 && host !== "::") return undefined;
  const out: string[] = [];
  for (const list of Object.values(ifaces))
    for (const i of list ?? []) {
      if (i.family === "IPv4") out.push(joinHostPort(i.address, port));
      else if (!v4 && !/^fe[89ab]/i.test(i.address)) out.push(joinHostPort(i.address, port));
    }
  // IPv6 after IPv4: a device is told the first.
  return out.sort((a, b) => Number(a.startsWith("[")) - Number(b.startsWith("[")));
}

function expand(list: readonly string[], ifaces: Interfaces): string[] {
  const out = new Set<string>();
  for (const a of list) {
    const { host, port } = splitHostPort(a);
    for (const x of expandWildcard(host, port, ifaces) ?? [a]) out.add(x);
  }
  return [...out].slice(0, MAX_REPORTED_ADDRESSES);
}

/**
 * Builds the report; the certificate's summary is computed once per certificate (a renewal
 * gives a new PEM string), not at every heartbeat.
 */
export class EndpointsReporter {
  readonly #publicName: string | undefined;
  #pem: string | undefined;
  #summary: (CertificateSummary & { readonly leafPem: string }) | undefined;

  constructor(publicName: string | undefined) {
    this.#publicName = publicName;
  }

  report(
    addresses: EdgeAddresses,
    certificatePem: string | undefined,
    ifaces: Interfaces = networkInterfaces(),
  ): EdgeEndpoints {
    const a = addresses;
    const secure = a.dns.dot.length > 0 || a.dns.doh.length > 0;
    if (certificatePem !== this.#pem) {
      this.#pem = certificatePem;
      // The leaf alone: a file may hold the chain too.
      this.#summary = certificatePem
        ? {
            ...summarizeCertificate(certificatePem),
            leafPem: new X509Certificate(certificatePem).toString(),
          }
        : undefined;
    }
    const c = secure ? this.#summary : undefined;
    return {
      ...(this.#publicName ? { publicName: this.#publicName } : {}),
      dns: {
        udp: expand(a.dns.udp, ifaces),
        tcp: expand(a.dns.tcp, ifaces),
        dot: expand(a.dns.dot, ifaces),
        doh: expand(a.dns.doh, ifaces),
      },
      proxy: expand(a.proxy.http, ifaces),
      ...(c
        ? {
            certificate: {
              sha256: c.sha256,
              subject: c.subject.slice(0, 1000),
              names: c.names.filter((n) => n.length <= 253).slice(0, 100),
              notAfter: c.notAfter,
              selfSigned: c.selfSigned,
              pem: c.leafPem,
            },
          }
        : {}),
    };
  }
}
