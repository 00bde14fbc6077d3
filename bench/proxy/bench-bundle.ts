// The config the proxy benchmark runs Gatehouse with: ten HTTP policies (none matching the
// benchmark URL, so every request evaluates all ten), a network policy allowing the loopback
// origin, and CONNECT allowed to the tunnel sink's port. Shared by gatehouse-proxy.ts (the proxy
// alone) and run.ts (the whole edge with workers). With `inspect` (run.ts --inspect): the
// loopback location inspects TLS, the HTTPS origin's port is a CONNECT port, its CA trusted for
// origins, and its name allowed to the loopback address.

import type { ConfigBundle, Policy } from "@gatehouse/contract";

const HTTP_RULES = [
  'http.conn.hostname in {"ads.example" "tracker.example"}',
  'any(http.conn.domains[*] in {"gambling.example" "casino.example"})',
  'http.request.uri.path matches "^/admin"',
  'http.request.method == "DELETE" and http.conn.hostname == "api.example"',
  'http.request.uri.query contains "token="',
  'any(http.request.headers["user-agent"][*] contains "sqlmap")',
  "http.conn.dst_port == 8081",
  'http.request.uri.path contains "/wp-login"',
  'identity.email == "blocked@example.com"',
  'http.request.uri.path_and_query matches "[.](exe|msi)$"',
];

const policies: Policy[] = HTTP_RULES.map((expression, i) => ({
  id: `bench-${i}`,
  name: `Bench rule ${i}`,
  type: "http",
  enabled: true,
  precedence: i + 1,
  expression,
  action: "block",
}));
policies.push({
  id: "bench-origin",
  name: "Benchmark origin on loopback",
  type: "net",
  enabled: true,
  precedence: 1,
  expression: "net.dst.ip == 127.0.0.1",
  action: "allow",
  settings: { allowPrivateDestinations: ["127.0.0.1"] },
});

/** The HTTPS origin an inspected run reaches by name (resolved to 127.0.0.1). */
export interface BenchInspect {
  readonly host: string;
  readonly port: number;
  /** PEM of the CA that issued the origin's certificate. */
  readonly originCa: string;
}

export function benchBundle(connectPort: number, inspect?: BenchInspect): ConfigBundle {
  if (inspect === undefined) {
    return {
      schemaVersion: 1,
      version: 1,
      resolver: { upstreams: [] },
      locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies,
      proxy: { connectPorts: [connectPort] },
    };
  }
  return {
    schemaVersion: 1,
    version: 1,
    resolver: { upstreams: [] },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"], tlsInspection: true }],
    lists: [],
    policies: [
      ...policies,
      {
        id: "bench-tls-origin",
        name: "Benchmark HTTPS origin on loopback",
        type: "net",
        enabled: true,
        precedence: 2,
        expression: `net.connect.host == "${inspect.host}"`,
        action: "allow",
        settings: { allowPrivateDestinations: ["127.0.0.1"] },
      },
    ],
    proxy: { connectPorts: [connectPort, inspect.port], originCas: [inspect.originCa] },
  };
}
