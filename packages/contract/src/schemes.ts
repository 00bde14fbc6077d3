// The gateway schemes: which fields a DNS, HTTP or network policy may read, and their types
// (rules-language spec §5 and Decision 5: ports, sizes and status codes are Int, addresses are Ip,
// every field optional). The edge fills these fields; control and the dashboard validate
// expressions against them. Field names follow Cloudflare Gateway so policies port over.

import type { SchemeDefinition } from "@gatehouse/rules";

/** The policy types Gatehouse evaluates, one scheme each. */
const POLICY_TYPES = ["dns", "http", "net"] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

/** Identity and device-posture selectors, shared by every policy type (spec §5.5). */
const identityFields = {
  "identity.email": "Bytes",
  "identity.name": "Bytes",
  "identity.groups.id": "Array<Bytes>",
  "identity.groups.name": "Array<Bytes>",
  "identity.groups.email": "Array<Bytes>",
  "device_posture.checks.passed": "Array<Bytes>",
  "device_posture.checks.failed": "Array<Bytes>",
} as const;

/** Gateway docs also write `identity.groups[*].name` (Decision 4). */
const identityAliases = {
  "identity.groups[*].name": "identity.groups.name[*]",
  "identity.groups[*].id": "identity.groups.id[*]",
  "identity.groups[*].email": "identity.groups.email[*]",
} as const;

/** DNS policy fields (spec §5.2). */
const dnsFields = {
  "dns.fqdn": "Bytes",
  "dns.domains": "Array<Bytes>",
  "dns.query_rtype": "Bytes",
  "dns.query_class": "Bytes",
  "dns.location": "Bytes",
  "dns.location_name": "Bytes",
  "dns.src_ip": "Ip",
  "dns.src_port": "Int",
  "dns.doh_subdomain": "Bytes",
  "dns.transport": "Bytes",
  "dns.content_category": "Array<Int>",
  "dns.security_category": "Array<Int>",
  "app.ids": "Array<Int>",
  // Response phase: known only once an answer exists (spec §5.7 item 3).
  "dns.resolved_ips": "Array<Ip>",
  "dns.response.cname": "Array<Bytes>",
  "dns.response.mx": "Array<Bytes>",
  "dns.response.ptr": "Array<Bytes>",
  "dns.response.txt": "Array<Bytes>",
  "dns.response.rcode": "Bytes",
  ...identityFields,
} as const;

/** Fields whose presence in an expression makes a DNS policy a response-phase policy. */
export const DNS_RESPONSE_FIELDS: ReadonlySet<string> = new Set([
  "dns.resolved_ips",
  "dns.response.cname",
  "dns.response.mx",
  "dns.response.ptr",
  "dns.response.txt",
  "dns.response.rcode",
]);

/** HTTP policy fields (spec §5.3). `http.request.host` is the API-era name of the host. */
const httpFields = {
  "http.conn.hostname": "Bytes",
  "http.conn.domains": "Array<Bytes>",
  "http.conn.src_ip": "Ip",
  "http.conn.dst_ip": "Ip",
  "http.conn.dst_port": "Int",
  "http.request.uri": "Bytes",
  "http.request.uri.path": "Bytes",
  "http.request.uri.query": "Bytes",
  "http.request.uri.path_and_query": "Bytes",
  "http.request.method": "Bytes",
  "http.request.headers": "Map<Array<Bytes>>",
  "http.request.headers.names": "Array<Bytes>",
  "http.request.version": "Bytes",
  "http.response.status_code": "Int",
  "http.request.uri.content_category": "Array<Int>",
  "http.conn.content_category": "Array<Int>",
  "app.ids": "Array<Int>",
  "dns.location": "Bytes",
  ...identityFields,
} as const;

/** Network (layer 4) policy fields (spec §5.4), plus what a CONNECT proxy learns. */
const netFields = {
  "net.src.ip": "Ip",
  "net.src.port": "Int",
  "net.dst.ip": "Ip",
  "net.dst.port": "Int",
  "net.protocol": "Bytes",
  "net.sni.host": "Bytes",
  "net.sni.domains": "Array<Bytes>",
  /** Host named in the CONNECT request's authority (before resolution). */
  "net.connect.host": "Bytes",
  "net.connect.domains": "Array<Bytes>",
  /** True when the TLS SNI names another host than the CONNECT authority. */
  "net.sni.mismatch": "Bool",
  "net.fqdn.content_category": "Array<Int>",
  "app.ids": "Array<Int>",
  "dns.location": "Bytes",
  ...identityFields,
} as const;

const dnsScheme: SchemeDefinition = { fields: dnsFields, aliases: identityAliases };
const httpScheme: SchemeDefinition = {
  fields: httpFields,
  aliases: {
    ...identityAliases,
    "http.request.host": "http.conn.hostname",
    "http.request.domains": "http.conn.domains",
  },
};
const netScheme: SchemeDefinition = { fields: netFields, aliases: identityAliases };

export const SCHEMES: Readonly<Record<PolicyType, SchemeDefinition>> = {
  dns: dnsScheme,
  http: httpScheme,
  net: netScheme,
};

/**
 * The parent domains of a name, itself first: "a.b.example.com" → ["a.b.example.com",
 * "b.example.com", "example.com", "com"]. This is what `dns.domains`, `http.conn.domains` and
 * `net.sni.domains` hold, so `any(dns.domains[*] in $list)` matches a listed name and its
 * subdomains (Decision 8). Lowercases and strips one trailing dot.
 */
export function domainsOf(name: string): string[] {
  let n = name.toLowerCase();
  if (n.endsWith(".")) n = n.slice(0, -1);
  if (n.length === 0) return [];
  const out = [n];
  let i = n.indexOf(".");
  while (i !== -1 && i + 1 < n.length) {
    out.push(n.slice(i + 1));
    i = n.indexOf(".", i + 1);
  }
  return out;
}

/**
 * Names hosts files map for the machine itself (`127.0.0.1 localhost` …): never blocklist
 * entries. Control's list uploads and the edge's list files both skip them.
 */
export const HOSTS_SELF_NAMES: ReadonlySet<string> = new Set([
  "localhost",
  "localhost.localdomain",
  "local",
  "broadcasthost",
  "ip6-localhost",
  "ip6-loopback",
  "ip6-localnet",
  "ip6-mcastprefix",
  "ip6-allnodes",
  "ip6-allrouters",
  "ip6-allhosts",
  "0.0.0.0",
]);
