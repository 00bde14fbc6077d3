// An Apple configuration profile (.mobileconfig, an XML property list) that sets a device's DNS
// to a location's DoH URL or DoT server (payload com.apple.dnsSettings.managed), with the
// certificate as a trusted root (com.apple.security.root) when it is not one the device already
// trusts. Unsigned: the device shows it as "Not Signed" and installs it after a confirmation.
// UUIDs are derived from the location and transport, so a newer download replaces the profile.

import { createHash, X509Certificate } from "node:crypto";
import type { ConnectInfoView } from "@gatehouse/contract";

type PlistValue = string | number | boolean | Buffer | PlistValue[] | { [k: string]: PlistValue };

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) =>
    c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : c === '"' ? "&quot;" : "&apos;",
  );
}

function plistValue(v: PlistValue, indent: string): string {
  if (typeof v === "string") return `${indent}<string>${escapeXml(v)}</string>`;
  if (typeof v === "number") return `${indent}<integer>${Math.trunc(v)}</integer>`;
  if (typeof v === "boolean") return `${indent}<${v}/>`;
  if (Buffer.isBuffer(v)) return `${indent}<data>${v.toString("base64")}</data>`;
  if (Array.isArray(v))
    return `${indent}<array>\n${v.map((x) => plistValue(x, `${indent}  `)).join("\n")}\n${indent}</array>`;
  return `${indent}<dict>\n${Object.entries(v)
    .map(([k, x]) => `${indent}  <key>${escapeXml(k)}</key>\n${plistValue(x, `${indent}  `)}`)
    .join("\n")}\n${indent}</dict>`;
}

/** A stable UUID (version 5 layout) from the given parts. */
function stableUuid(...parts: string[]): string {
  const h = createHash("sha256").update(parts.join("\0")).digest();
  h[6] = (h.readUInt8(6) & 0x0f) | 0x50;
  h[8] = (h.readUInt8(8) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex").toUpperCase();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

type ProfileTransport = "doh" | "dot";

/** The profile's XML text; undefined when the location has no listener for that transport. */
export function appleProfile(
  info: ConnectInfoView,
  transport: ProfileTransport,
): string | undefined {
  const id = `org.gatehouse.connect.${info.location.id}.${transport}`;
  let dns: { [k: string]: PlistValue };
  if (transport === "doh") {
    if (!info.doh) return undefined;
    dns = { DNSProtocol: "HTTPS", ServerURL: info.doh.url };
  } else {
    if (!info.dot) return undefined;
    dns = { DNSProtocol: "TLS", ServerName: info.dot.hostname };
  }
  // The address lets the device reach the server without resolving its name first.
  const addresses = info.dns.map((d) => d.address);
  if (addresses.length) dns["ServerAddresses"] = addresses;
  const what = transport === "doh" ? "DNS over HTTPS" : "DNS over TLS";
  const content: { [k: string]: PlistValue }[] = [
    {
      PayloadType: "com.apple.dnsSettings.managed",
      PayloadIdentifier: `${id}.dns`,
      PayloadUUID: stableUuid(id, "dns"),
      PayloadVersion: 1,
      PayloadDisplayName: `Gatehouse ${what}`,
      DNSSettings: dns,
    },
  ];
  if (info.certificate && info.certificate.source !== "acme") {
    const der = new X509Certificate(info.certificate.pem).raw;
    content.push({
      PayloadType: "com.apple.security.root",
      PayloadIdentifier: `${id}.certificate`,
      PayloadUUID: stableUuid(id, "certificate", info.certificate.sha256),
      PayloadVersion: 1,
      PayloadDisplayName: "Gatehouse certificate",
      PayloadCertificateFileName: "gatehouse.cer",
      PayloadContent: der,
    });
  }
  const profile: { [k: string]: PlistValue } = {
    PayloadType: "Configuration",
    PayloadVersion: 1,
    PayloadIdentifier: id,
    PayloadUUID: stableUuid(id),
    PayloadDisplayName: `Gatehouse: ${info.location.name} (${what})`,
    PayloadDescription: `Sends this device's DNS queries to Gatehouse (${info.location.name}) over ${what}.`,
    PayloadOrganization: "Gatehouse",
    PayloadScope: "System",
    PayloadRemovalDisallowed: false,
    PayloadContent: content,
  };
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
${plistValue(profile, "")}
</plist>
`;
}
