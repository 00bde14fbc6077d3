// What a device needs to join a location: the addresses Gatehouse serves on (told to control by
// whoever started the listeners — `gatehouse up` — as ServingEndpoints), the location's DoH
// token and DoT label, the certificate, and setup steps per platform. The dashboard's Connect
// page and `gatehouse connect` both show this answer.

import {
  type ConnectInfoView,
  type EdgeEndpoints,
  isLoopbackHost as isLoopback,
  type Location,
} from "@gatehouse/contract";

/** Where the listeners a device uses are, as whoever opened them knows it. */
export interface ServingEndpoints {
  /** "loopback": this machine only; "lan": the local network too. */
  readonly scope: "loopback" | "lan";
  /** The name (or address) devices use for DoH and DoT; the certificate covers it. */
  readonly host: string;
  /** Plain DNS over UDP and TCP, "ip:port" each, the address devices should use first. */
  readonly dns: readonly string[];
  /** Ports of the DoH, DoT and proxy listeners on `host`'s address, when open. */
  readonly dohPort?: number;
  readonly dotPort?: number;
  readonly proxyPort?: number;
  /**
   * Whose listeners these are: an edge that reported them (a standalone control) rather than
   * the `gatehouse up` this control runs in; the loopback advice names it.
   */
  readonly edge?: { readonly id: string; readonly name: string };
  /** The dashboard as a device on the network reaches it. */
  readonly dashboardUrl?: string;
  readonly certificate?: {
    readonly source: "files" | "acme" | "self-signed";
    readonly pem: string;
    readonly sha256: string;
    readonly subject: string;
    readonly notAfter: string;
    readonly names: readonly string[];
  };
}

/** Called per request: the answer follows a renewed certificate or a re-opened listener. */
export type ServingEndpointsSource = () => ServingEndpoints | undefined;

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function withPort(host: string, port: number, usual: number): string {
  return port === usual ? hostForUrl(host) : `${hostForUrl(host)}:${port}`;
}

function splitAddress(a: string): { address: string; port: number } {
  const [, address, port] = /^\[?([^\]]+?)\]?:(\d+)$/.exec(a) ?? [];
  return address !== undefined ? { address, port: Number(port) } : { address: a, port: 53 };
}

/**
 * What an edge reported, as the Connect answer's input. Devices are told, in this order: the
 * edge's public name; else a listener address that is not loopback (DoT and DoH first, as the
 * certificate must cover the name); else a loopback address, with the warning saying so.
 */
export function servingOfEdge(
  edge: { readonly id: string; readonly name: string },
  r: EdgeEndpoints,
): ServingEndpoints {
  const all = [...r.dns.dot, ...r.dns.doh, ...r.dns.udp, ...r.dns.tcp, ...r.proxy];
  const hosts = all.map((a) => splitAddress(a).address);
  const lan = hosts.find((h) => !isLoopback(h));
  // Devices are given the LAN addresses first; loopback ones only when there is nothing else.
  const lanFirst = (list: readonly string[]) => {
    const out = list.filter((l) => !isLoopback(splitAddress(l).address));
    return out.length ? out : [...list];
  };
  const portOf = (list: readonly string[]) => {
    const first = lanFirst(list)[0];
    return first === undefined ? undefined : splitAddress(first).port;
  };
  const dohPort = portOf(r.dns.doh);
  const dotPort = portOf(r.dns.dot);
  const proxyPort = portOf(r.proxy);
  const c = r.certificate;
  return {
    edge: { id: edge.id, name: edge.name },
    scope: lan === undefined ? "loopback" : "lan",
    host: r.publicName ?? lan ?? hosts[0] ?? "127.0.0.1",
    dns: lanFirst(r.dns.udp.length ? r.dns.udp : r.dns.tcp),
    ...(dohPort !== undefined ? { dohPort } : {}),
    ...(dotPort !== undefined ? { dotPort } : {}),
    ...(proxyPort !== undefined ? { proxyPort } : {}),
    ...(c
      ? {
          certificate: {
            // An edge reads its certificate from files (or made a self-signed one).
            source: c.selfSigned ? "self-signed" : "files",
            pem: c.pem,
            sha256: c.sha256,
            subject: c.subject,
            notAfter: c.notAfter,
            names: c.names,
          },
        }
      : {}),
  };
}

/** One edge's entry in a Connect answer's `edges`. */
export function connectEdge(
  info: ConnectInfoView,
  e: {
    readonly id: string;
    readonly name: string;
    readonly status: string;
    readonly stale: boolean;
  },
): NonNullable<ConnectInfoView["edges"]>[number] {
  return {
    id: e.id,
    name: e.name,
    status: e.status,
    stale: e.stale,
    scope: info.scope,
    dns: info.dns,
    ...(info.doh ? { doh: info.doh } : {}),
    ...(info.dot ? { dot: info.dot } : {}),
    ...(info.proxy ? { proxy: info.proxy } : {}),
    ...(info.certificate
      ? {
          certificate: {
            sha256: info.certificate.sha256,
            notAfter: info.certificate.notAfter,
            names: info.certificate.names,
          },
        }
      : {}),
    warnings: [
      ...(e.stale ? [`Edge "${e.name}" has missed its last heartbeats: it may be down.`] : []),
      ...(e.status !== "active" ? [`Edge "${e.name}" is ${e.status}.`] : []),
      ...info.warnings,
    ],
  };
}

/** The Connect answer for one location. */
export function connectInfo(
  loc: Pick<Location, "id" | "name" | "networks" | "dohToken" | "dotLabel">,
  s: ServingEndpoints,
  apiPrefix: string,
): ConnectInfoView {
  const dns = s.dns.map(splitAddress);
  const isName = !IPV4.test(s.host) && !s.host.includes(":");
  const doh =
    s.dohPort !== undefined
      ? {
          url: `https://${withPort(s.host, s.dohPort, 443)}/dns-query${loc.dohToken ? `/${loc.dohToken}` : ""}`,
          host: s.host,
          port: s.dohPort,
        }
      : undefined;
  // A DoT label selects the location by the TLS server name, which needs a DNS name.
  const dot =
    s.dotPort !== undefined
      ? {
          hostname: loc.dotLabel && isName ? `${loc.dotLabel}.${s.host}` : s.host,
          address: dns[0]?.address ?? s.host,
          port: s.dotPort,
        }
      : undefined;
  const proxyHost = dns[0]?.address ?? s.host;
  const proxy =
    s.proxyPort !== undefined
      ? {
          address: `${hostForUrl(proxyHost)}:${s.proxyPort}`,
          pacUrl: `http://${hostForUrl(proxyHost)}:${s.proxyPort}/proxy.pac`,
        }
      : undefined;
  const base = `${apiPrefix}/locations/${encodeURIComponent(loc.id)}/connect`;
  const warnings: string[] = [];
  if (s.scope === "loopback")
    warnings.push(
      s.edge
        ? `Edge "${s.edge.name}" listens on loopback only (${s.host}): devices elsewhere cannot reach it. Give it LAN listeners: \`gatehouse edge --dns 0.0.0.0:53 …\` or the \`edge:\` section of its --local file (dns.udp/tcp/dot/doh, proxy.http), or \`gatehouse up --listen lan\` when \`up\` runs it.`
        : "Gatehouse listens on this machine only: start it with `gatehouse up --listen lan` so other devices can reach it.",
    );
  const odd = dns.find((d) => d.port !== 53);
  if (odd)
    warnings.push(
      `Plain DNS is on port ${odd.port}: phones, computers and routers only ask port 53. Free port 53 or use DoH/DoT.`,
    );
  if (dot && dot.port !== 853)
    warnings.push(
      `DoT is on port ${dot.port}: Android and most systems only use port 853; pick it with --dot ADDR:853.`,
    );
  if (s.certificate?.source === "self-signed")
    warnings.push(
      `The certificate is self-signed (SHA-256 ${s.certificate.sha256}): a device must be told to trust it (the Apple profile carries it) — or give ${s.edge ? `edge "${s.edge.name}" a certificate (edge.tls in its --local file)` : "Gatehouse a certificate (--tls-cert/--tls-key or ACME)"}.`,
    );
  if (dot && !isName)
    warnings.push(
      s.edge
        ? `DoT and DoH use an IP address: Android's Private DNS needs a host name (give edge "${s.edge.name}" --public-name NAME and a certificate for it).`
        : "DoT and DoH use an IP address: Android's Private DNS needs a host name (start with --hostname NAME and a certificate for it).",
    );
  if (!loc.networks.length)
    warnings.push(
      "This location has no networks: only its DoH URL identifies clients; plain DNS and the proxy refuse them.",
    );
  return {
    location: { id: loc.id, name: loc.name },
    scope: s.scope,
    networks: [...loc.networks],
    dns,
    ...(doh ? { doh } : {}),
    ...(dot ? { dot } : {}),
    ...(proxy ? { proxy } : {}),
    ...(s.dashboardUrl ? { dashboardUrl: s.dashboardUrl } : {}),
    ...(s.edge ? { servedBy: { id: s.edge.id, name: s.edge.name } } : {}),
    ...(s.certificate
      ? { certificate: { ...s.certificate, names: [...s.certificate.names] } }
      : {}),
    profiles: {
      ...(doh ? { doh: `${base}/apple-profile?transport=doh` } : {}),
      ...(dot ? { dot: `${base}/apple-profile?transport=dot` } : {}),
    },
    warnings,
    guides: guides({ dns, doh, dot, proxy, certificate: s.certificate }),
  };
}

function guides(x: {
  dns: { address: string; port: number }[];
  doh: ConnectInfoView["doh"];
  dot: ConnectInfoView["dot"];
  proxy: ConnectInfoView["proxy"];
  certificate: ServingEndpoints["certificate"];
}): ConnectInfoView["guides"] {
  const plain = x.dns.map((d) => d.address).join(", ") || "(no plain DNS listener)";
  const trust =
    x.certificate?.source === "self-signed"
      ? [
          `First trust Gatehouse's certificate (download it from the Connect page; SHA-256 ${x.certificate.sha256}).`,
        ]
      : [];
  const out: ConnectInfoView["guides"] = [];
  if (x.doh)
    out.push({
      id: "windows",
      title: "Windows 11 (DNS over HTTPS)",
      steps: [
        ...trust.map(
          (t) => `${t} Import it into "Trusted Root Certification Authorities" (certlm.msc).`,
        ),
        `Run in an administrator terminal: netsh dns add encryption server=${x.dns[0]?.address ?? x.doh.host} dohtemplate=${x.doh.url} autoupgrade=yes udpfallback=no`,
        "Settings → Network & internet → your connection → DNS server assignment → Edit → Manual.",
        `IPv4 on, Preferred DNS ${x.dns[0]?.address ?? x.doh.host}, DNS over HTTPS: On (manual template) with template ${x.doh.url}.`,
        "Save; the connection's details then show the server as Encrypted.",
      ],
    });
  if (x.doh || x.dot)
    out.push({
      id: "apple",
      title: "macOS, iOS and iPadOS (configuration profile)",
      steps: [
        "Download the profile (DoH or DoT) from the Connect page and open it on the device (AirDrop, mail or Safari).",
        "iOS/iPadOS: Settings → General → VPN & Device Management → the Gatehouse profile → Install. macOS: System Settings → Privacy & Security → Profiles → Install.",
        ...(x.certificate?.source === "self-signed"
          ? [
              "iOS/iPadOS: Settings → General → About → Certificate Trust Settings → turn on full trust for the Gatehouse certificate the profile installed.",
            ]
          : []),
        "Settings → General → VPN & Device Management → DNS shows Gatehouse as the encrypted DNS server.",
      ],
    });
  if (x.dot)
    out.push({
      id: "android",
      title: "Android 9 and later (Private DNS)",
      steps: [
        "Settings → Network & internet → Private DNS → Private DNS provider hostname.",
        `Enter ${x.dot.hostname} and save. Android connects to port 853 and checks the certificate, so the name must resolve to Gatehouse and the certificate must be one the phone trusts (ACME).`,
      ],
    });
  if (x.doh)
    out.push({
      id: "chromeos",
      title: "ChromeOS",
      steps: [
        ...trust.map(
          (t) =>
            `${t} Settings → Privacy and security → Security → Manage certificates → Authorities → Import.`,
        ),
        "Settings → Privacy and security → Security → Use secure DNS → With: Custom.",
        `Enter ${x.doh.url}`,
      ],
    });
  if (x.doh)
    out.push({
      id: "firefox",
      title: "Firefox (DNS over HTTPS)",
      steps: [
        ...trust.map(
          (t) =>
            `${t} Settings → Privacy & Security → Certificates → View Certificates → Authorities → Import.`,
        ),
        "Settings → Privacy & Security → DNS over HTTPS → Max Protection.",
        `Choose provider: Custom, and enter ${x.doh.url}`,
      ],
    });
  if (x.doh)
    out.push({
      id: "chrome",
      title: "Chrome and Edge (secure DNS)",
      steps: [
        ...trust.map(
          (t) =>
            `${t} Settings → Privacy and security → Security → Manage certificates → import it as a trusted authority.`,
        ),
        "Settings → Privacy and security → Security → Use secure DNS → Select DNS provider: Add custom DNS service provider.",
        `Enter ${x.doh.url}`,
      ],
    });
  if (x.dot)
    out.push({
      id: "linux",
      title: "Linux (systemd-resolved, DNS over TLS)",
      steps: [
        ...trust.map(
          (t) =>
            `${t} Copy it to /usr/local/share/ca-certificates/gatehouse.crt and run update-ca-certificates.`,
        ),
        "Create /etc/systemd/resolved.conf.d/gatehouse.conf with:",
        `[Resolve]\nDNS=${x.dot.address}${x.dot.port === 853 ? "" : `:${x.dot.port}`}#${x.dot.hostname}\nDNSOverTLS=yes`,
        "Run: sudo systemctl restart systemd-resolved; check with: resolvectl status",
      ],
    });
  out.push({
    id: "router",
    title: "Home router (every device on the network)",
    steps: [
      "Open the router's administration page → LAN or DHCP server settings.",
      `Set the DNS server handed out by DHCP (option 6) to ${plain}; leave the second DNS server empty, or devices will go around Gatehouse.`,
      "Save; devices pick it up when they renew their lease (reconnect to the network to hurry it).",
    ],
  });
  if (x.proxy)
    out.push({
      id: "proxy",
      title: "Web proxy (browsers and systems)",
      steps: [
        `Automatic configuration: give the PAC URL ${x.proxy.pacUrl} in the system's or browser's proxy settings ("Automatic proxy configuration URL").`,
        `Manual: HTTP and HTTPS proxy ${x.proxy.address}.`,
      ],
    });
  return out;
}
