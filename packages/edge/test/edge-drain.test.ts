// Maintenance drain: an edge stops listening (DNS and proxy) without exiting, keeps serving
// metrics and taking bundles, and resumes on the very same addresses.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { bundleOfEdgeConfig } from "@gatehouse/contract";
import { startEdge } from "../src/main.ts";
import { a, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

/** Resolves true when a TCP connection to the port is accepted, false when refused. */
function accepts(hostPort: string): Promise<boolean> {
  const i = hostPort.lastIndexOf(":");
  return new Promise((resolve) => {
    const s = connect(Number(hostPort.slice(i + 1)), hostPort.slice(0, i));
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

const portOf = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));

test("drain closes the listeners, keeps metrics and apply; resume reopens the same addresses", async () => {
  const up = await startFakeUpstream(
    new Map([["d.example/1", { answers: [a("d.example", "192.0.2.7")] }]]),
  );
  const config = (blocked: string[]): EdgeConfigFile => ({
    resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.1"] }],
    lists: [{ id: "l", name: "bad", type: "domain", items: blocked }],
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
    edge: {
      dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] },
      proxy: { http: ["127.0.0.1:0"] },
      metrics: "127.0.0.1:0",
    },
  });
  const edge = await startEdge({ config: config(["other.example"]), log: () => {} });
  try {
    const before = structuredClone(edge.addresses);
    const udp = portOf(edge.addresses.dns.udp[0]!);
    assert.equal((await udpQuery(udp, "d.example"))?.answers[0]?.data, "192.0.2.7");
    assert.equal(edge.draining, false);

    await edge.drain();
    await edge.drain(); // idempotent
    assert.equal(edge.draining, true);
    assert.equal(await udpQuery(udp, "d.example", { timeoutMs: 300 }), undefined);
    assert.equal(await accepts(edge.addresses.dns.tcp[0]!), false, "DNS over TCP closed");
    assert.equal(await accepts(edge.addresses.proxy.http[0]!), false, "proxy closed");
    const metrics = await fetch(`http://${edge.addresses.metrics}/metrics`);
    assert.equal(metrics.status, 200, "metrics keep serving while drained");
    await metrics.text();
    // Config keeps flowing while drained: the new policy is in force once resumed.
    await edge.apply({ ...bundleOfEdgeConfig(config(["d.example"])), version: 2 });
    assert.equal(edge.snapshot.version, 2);

    await edge.resume();
    await edge.resume(); // idempotent
    assert.equal(edge.draining, false);
    assert.deepEqual(edge.addresses, before, "same addresses after resume");
    assert.equal((await udpQuery(udp, "d.example"))?.answers[0]?.data, "0.0.0.0");
    assert.equal(await accepts(edge.addresses.dns.tcp[0]!), true);
    assert.equal(await accepts(edge.addresses.proxy.http[0]!), true);
  } finally {
    await edge.close();
    await up.close();
  }
  // A closed edge stays closed.
  await edge.resume();
  assert.equal(await accepts(edge.addresses.dns.tcp[0]!), false);
});

test("an edge started drained opens no listener until resume, then the configured addresses", async () => {
  const up = await startFakeUpstream(
    new Map([["d.example/1", { answers: [a("d.example", "192.0.2.7")] }]]),
  );
  const base: EdgeConfigFile = {
    resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.1"] }],
    lists: [],
    policies: [],
    edge: { dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] } },
  };
  // Bound ports to start the drained edge on (a replacement worker gets its siblings' ports).
  const first = await startEdge({ config: base, log: () => {} });
  const addrs = structuredClone(first.addresses);
  await first.close();
  const edge = await startEdge({
    config: { ...base, edge: { dns: { udp: addrs.dns.udp, tcp: addrs.dns.tcp } } },
    drained: true,
    log: () => {},
  });
  try {
    const udp = portOf(addrs.dns.udp[0]!);
    assert.equal(edge.draining, true);
    assert.equal(await udpQuery(udp, "d.example", { timeoutMs: 300 }), undefined);
    assert.equal(await accepts(addrs.dns.tcp[0]!), false);
    await edge.resume();
    assert.equal(edge.draining, false);
    assert.deepEqual(edge.addresses.dns, addrs.dns);
    assert.equal((await udpQuery(udp, "d.example"))?.answers[0]?.data, "192.0.2.7");
    assert.equal(await accepts(addrs.dns.tcp[0]!), true);
  } finally {
    await edge.close();
    await up.close();
  }
});
