// The edge's /metrics carries the DNS counters after real queries, with bounded labels only.

import assert from "node:assert/strict";
import { test } from "node:test";
import { startEdge } from "../src/main.ts";
import { a, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

test("gatehouse_dns_* metrics on the edge's /metrics", async () => {
  const up = await startFakeUpstream(
    new Map([["m.example/1", { answers: [a("m.example", "192.0.2.9")] }]]),
  );
  const edge = await startEdge({
    config: {
      resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.1"] }],
      lists: [{ id: "l", name: "bad", type: "domain", items: ["bad.example"] }],
      policies: [
        {
          id: "p",
          name: "Bad",
          type: "dns",
          enabled: true,
          precedence: 1,
          expression: "any(dns.domains[*] in $bad)",
          action: "block",
        },
      ],
      edge: { dns: { udp: ["127.0.0.1:0"] }, metrics: "127.0.0.1:0" },
    },
    log: () => {},
  });
  try {
    const port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
    await udpQuery(port, "m.example");
    await udpQuery(port, "m.example");
    await udpQuery(port, "bad.example");
    const text = await (await fetch(`http://${edge.addresses.metrics}/metrics`)).text();
    assert.match(
      text,
      /gatehouse_dns_queries_total\{transport="udp",action="allow",rcode="NOERROR"\} [1-9]/,
    );
    assert.match(
      text,
      /gatehouse_dns_queries_total\{transport="udp",action="block",rcode="NOERROR"\} [1-9]/,
    );
    assert.match(text, /gatehouse_dns_cache_lookups_total\{result="hit"\} [1-9]/);
    assert.match(text, /gatehouse_dns_cache_lookups_total\{result="miss"\} [1-9]/);
    assert.match(text, /gatehouse_dns_upstream_duration_seconds_count\{protocol="udp"\} [1-9]/);
    assert.match(text, /gatehouse_dns_policy_matches_total\{action="block",phase="query"\} [1-9]/);
    // Never a domain or client in a label.
    assert.doesNotMatch(text, /m\.example|bad\.example|127\.0\.0\.1/);
  } finally {
    await edge.close();
    await up.close();
  }
});
