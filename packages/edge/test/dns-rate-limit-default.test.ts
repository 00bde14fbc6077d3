// The per-source DNS rate limit is on by default (resolver.rateLimit absent), off with
// `rateLimit: false`, and never in the way of a normal client's burst.

import assert from "node:assert/strict";
import { test } from "node:test";
import { bundleOfEdgeConfig, type EdgeConfigFile } from "@gatehouse/contract";
import { DnsService } from "../src/dns/dns-service.ts";
import { RATE_LIMIT_DEFAULT } from "../src/dns/runtime.ts";
import { Rcode } from "../src/dns/wire/constants.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { buildQuery } from "./dns-helpers.ts";

function service(rateLimit?: EdgeConfigFile["resolver"]["rateLimit"]): DnsService {
  const cfg: EdgeConfigFile = {
    resolver: { upstreams: [], ...(rateLimit !== undefined ? { rateLimit } : {}) },
    locations: [{ id: "lo", name: "Loopback", networks: ["192.0.2.0/24"] }],
    lists: [],
    policies: [],
  };
  return new DnsService(compileSnapshot(bundleOfEdgeConfig(cfg)), { log: new QueryLog() });
}

/** `n` queries from `ip` at once (answered locally: `localhost`); how many were REFUSED. */
async function refused(s: DnsService, ip: string, n: number): Promise<number> {
  const q = buildQuery("localhost");
  const out = await Promise.all(
    Array.from({ length: n }, () => s.handle(q, { transport: "udp", ip, port: 5353 })),
  );
  return out.filter((o) => o === undefined || decodeMessage(o).rcode === Rcode.REFUSED).length;
}

test("rate limit on by default: a flood from one source is refused, a normal burst and other sources are not", async () => {
  assert.ok(RATE_LIMIT_DEFAULT.queriesPerSecond >= 20 && RATE_LIMIT_DEFAULT.burst >= 200);
  const s = service();
  // A page load's worth of names at once, from a normal client: all answered.
  assert.equal(await refused(s, "192.0.2.10", 150), 0);
  // 5,000 at once from one source: past the burst, refused.
  assert.ok((await refused(s, "192.0.2.11", 5000)) > 5000 - 2 * RATE_LIMIT_DEFAULT.burst);
  // Another source is not affected.
  assert.equal(await refused(s, "192.0.2.12", 150), 0);
});

test("rateLimit: false turns it off; an explicit limit replaces the default", async () => {
  assert.equal(await refused(service(false), "192.0.2.11", 5000), 0);
  const strict = service({ queriesPerSecond: 1, burst: 10 });
  assert.ok((await refused(strict, "192.0.2.11", 100)) >= 80);
});
