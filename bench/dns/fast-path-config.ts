// What the in-process cached-path benches (fast-path.ts, cached-udp.ts) serve: a zone of
// `host<i>.bench.test` names for the fake upstream, and an edge config with the DNS benchmark's
// five policies and a generated blocklist, no per-source rate limit (one load generator), one
// loopback location.

import type { EdgeConfigFile } from "@gatehouse/contract";
import { a } from "../../packages/edge/test/dns-helpers.ts";

/** The fake upstream's zone: `names` A records, an hour's TTL. */
export function benchZone(names: number): Map<string, { answers: ReturnType<typeof a>[] }> {
  const zone = new Map<string, { answers: ReturnType<typeof a>[] }>();
  for (let i = 0; i < names; i++) {
    const name = `host${i}.bench.test`;
    zone.set(`${name}/1`, { answers: [a(name, `10.${(i >> 8) & 255}.${i & 255}.1`, 3600)] });
  }
  return zone;
}

/** The edge config: upstream `address`, a `blocklist`-name list and the five policies. */
export function fastPathConfig(address: string, blocklist: number): EdgeConfigFile {
  const items: string[] = [];
  for (let i = 0; i < blocklist; i++) items.push(`ad${i}.tracker${i % 997}.example`);
  const policies: [string, string, string][] = [
    ["ads", "any(dns.domains[*] in $ads)", "block"],
    ["social", 'any(dns.domains[*] in {"social.example" "video.example"})', "block"],
    ["nx", 'dns.fqdn == "blocked.bench.test"', "block"],
    ["types", 'dns.query_rtype == "ANY"', "block"],
    ["safe", 'any(dns.domains[*] == "google.com")', "safesearch"],
  ];
  return {
    resolver: {
      upstreams: [{ address }],
      rateLimit: false,
      // The fake upstream's answers are unsigned (a config key older trees ignore).
      ...({ dnssec: { validate: false } } as object),
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
    lists: [{ id: "ads", name: "ads", type: "domain", items }],
    policies: policies.map(([id, expression, action], i) => ({
      id,
      name: id,
      type: "dns",
      enabled: true,
      precedence: i + 1,
      expression,
      action: action as "block",
    })),
  };
}
