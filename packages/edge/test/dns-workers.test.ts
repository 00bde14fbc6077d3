// Two worker processes sharing one UDP port with SO_REUSEPORT.

import assert from "node:assert/strict";
import { test } from "node:test";
import { startEdgeWorkers } from "../src/workers.ts";
import { a, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

test("workers share the UDP port and all answer", async () => {
  const up = await startFakeUpstream(
    new Map([["w.example/1", { answers: [a("w.example", "192.0.2.7")] }]]),
  );
  const h = await startEdgeWorkers({
    config: {
      resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [],
      edge: { dns: { udp: ["127.0.0.1:0"] }, workers: 2, metrics: "127.0.0.1:0" },
    },
  });
  try {
    if (h.mode !== "cluster") throw new Error("expected cluster mode");
    const port = Number(h.addresses.dns.udp[0]!.split(":").pop());
    assert.ok(port > 0);
    // Distinct source ports hash to either worker; every query is answered.
    const answers = await Promise.all(
      Array.from({ length: 16 }, () => udpQuery(port, "w.example")),
    );
    assert.ok(answers.every((m) => m?.answers[0]?.data === "192.0.2.7"));
    // A new bundle reaches every worker; a broken one is refused.
    const bundle = {
      schemaVersion: 1 as const,
      version: 2,
      resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [
        {
          id: "b",
          name: "Block w",
          type: "dns" as const,
          enabled: true,
          precedence: 1,
          expression: 'dns.fqdn == "w.example"',
          action: "block" as const,
        },
      ],
    };
    await h.apply(bundle);
    const blocked = await Promise.all(
      Array.from({ length: 16 }, () => udpQuery(port, "w.example")),
    );
    assert.ok(blocked.every((m) => m?.answers[0]?.data === "0.0.0.0"));
    await assert.rejects(
      h.apply({
        ...bundle,
        version: 3,
        policies: [{ ...bundle.policies[0]!, expression: "dns.fqdn ==" }],
      }),
      /config rejected/,
    );
    // Drain closes every worker's socket on the shared port; resume reopens them all.
    await h.drain();
    assert.equal(await udpQuery(port, "w.example", { timeoutMs: 300 }), undefined);
    await h.resume();
    const back = await Promise.all(Array.from({ length: 16 }, () => udpQuery(port, "w.example")));
    assert.ok(back.every((m) => m?.answers[0]?.data === "0.0.0.0"));
    // The primary's /metrics sums the workers: every query above is counted once.
    const res = await fetch(`http://${h.addresses.metrics}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const total = [...text.matchAll(/^gatehouse_dns_queries_total\{[^}]*\} (\d+)/gm)].reduce(
      (t, m) => t + Number(m[1]),
      0,
    );
    assert.equal(total, 48);
  } finally {
    await h.close();
    await up.close();
  }
});
