// A small bundle as control publishes it (with its content hash): the local location
// 127.0.0.0/8 and one policy blocking bad.example. For tests of bundles kept on disk. And a
// bundle with one large domain list blocked, for tests of applying large bundles.
import { BUNDLE_SCHEMA_VERSION, bundleHash, type ConfigBundle } from "@gatehouse/contract";

export async function hashedBundle(
  version: number,
  upstream = "udp://192.0.2.53:53",
): Promise<ConfigBundle> {
  const b: ConfigBundle = {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    version,
    resolver: { upstreams: [{ address: upstream }], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
    lists: [],
    policies: [
      {
        id: "p",
        name: "Block bad",
        type: "dns",
        enabled: true,
        precedence: 1,
        expression: 'dns.fqdn == "bad.example"',
        action: "block",
      },
    ],
  };
  b.hash = await bundleHash(b);
  return b;
}

/** Version 2: one domain list `big` of `names` names (n0.blocked.example …), blocked. */
export function bigListBundle(names: number, over: Partial<ConfigBundle> = {}): ConfigBundle {
  return {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    version: 2,
    resolver: { upstreams: [{ address: "udp://127.0.0.1:9" }], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
    lists: [
      {
        id: "big",
        name: "big",
        type: "domain",
        items: Array.from({ length: names }, (_, i) => `n${i}.blocked.example`),
      },
    ],
    policies: [
      {
        id: "p",
        name: "Block the big list",
        type: "dns",
        enabled: true,
        precedence: 1,
        expression: "dns.fqdn in $big",
        action: "block",
      },
    ],
    ...over,
  };
}
