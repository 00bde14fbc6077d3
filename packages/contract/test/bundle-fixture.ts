import type { ConfigBundle } from "@gatehouse/contract";

/** A small valid bundle (a domain list and a policy blocking it), with `over` replacing members. */
export function bundle(over: Partial<ConfigBundle> = {}): ConfigBundle {
  return {
    schemaVersion: 1,
    version: 1,
    resolver: { upstreams: [{ address: "udp://127.0.0.1:53" }] },
    locations: [{ id: "home", name: "Home", networks: ["127.0.0.0/8", "::1/128"] }],
    lists: [{ id: "l1", name: "ads", type: "domain", items: ["ads.example"] }],
    policies: [
      {
        id: "p1",
        name: "Block ads",
        type: "dns",
        enabled: true,
        precedence: 10,
        expression: "any(dns.domains[*] in $ads)",
        action: "block",
      },
    ],
    ...over,
  };
}
