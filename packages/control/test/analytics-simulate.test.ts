// Policy simulation over a logged data set (analytics-conformance.ts `dataset()`): expected
// answers are worked out from how the data set was built.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { List, Policy } from "@gatehouse/contract";
import { DuckDbStore } from "../src/analytics/duckdb-store.ts";
import { simulate } from "../src/analytics/simulate.ts";
import { AnalyticsInputError } from "../src/analytics/types.ts";
import { dataset, dns, T0 } from "./analytics-conformance.ts";

const RANGE = { from: T0 - 3_600_000, to: T0 + 3_600_000 };

function policy(over: Partial<Policy> & Pick<Policy, "id" | "expression">): Policy {
  return {
    name: over.id,
    type: "dns",
    enabled: true,
    precedence: 100,
    action: "block",
    ...over,
  };
}

const trackers: List = { id: "l1", name: "trackers", type: "domain", items: ["Tracker.NET."] };

describe("policy simulation", () => {
  let store: DuckDbStore;
  before(async () => {
    store = await DuckDbStore.open({ path: ":memory:", threads: 2 });
    await store.ingest("seed", dataset());
    // Not a policy decision: must be skipped, not compared.
    await store.ingest("refused", [dns(3, { id: "r1", action: "refused" })]);
  });
  after(() => store.close());

  it("reports newly blocked queries by domain and client", async () => {
    const r = await simulate(store, {
      ...RANGE,
      policies: [
        policy({ id: "ads", expression: "any(dns.domains[*] in $trackers)", precedence: 1 }),
        policy({ id: "host0", expression: 'dns.fqdn == "host0.example.com"', precedence: 2 }),
      ],
      lists: [trackers],
    });
    // host0 is allowed 8 times in the log (i ≡ 0 mod 3, not a multiple of 5): i = 3,6,9,12,18,21,24,27.
    assert.equal(r.newlyBlocked.count, 8);
    assert.deepEqual(r.newlyBlocked.byDomain, [{ key: "host0.example.com", count: 8 }]);
    // Client 10.0.0.(6i mod 4): even i → .0 (6,12,18,24), odd i → .2 (3,9,21,27).
    assert.deepEqual(r.newlyBlocked.byClient, [
      { key: "10.0.0.0", count: 4 },
      { key: "10.0.0.2", count: 4 },
    ]);
    const ex = r.newlyBlocked.examples[0];
    assert.equal(ex?.loggedAction, "allow");
    assert.equal(ex?.simulatedAction, "block");
    assert.equal(ex?.simulatedPolicyId, "host0");
    assert.equal(r.newlyAllowed.count, 0);
    assert.equal(r.replayed, 30);
    assert.equal(r.skipped, 1);
    assert.equal(r.unchanged, 22);
    assert.deepEqual(r.kinds, ["dns"]);
  });

  it("an empty draft newly allows what was blocked", async () => {
    const r = await simulate(store, { ...RANGE, policies: [], kinds: ["dns"] });
    assert.equal(r.newlyAllowed.count, 6);
    assert.deepEqual(r.newlyAllowed.byDomain, [
      { key: "ads0.tracker.net", count: 3 },
      { key: "ads1.tracker.net", count: 3 },
    ]);
    assert.equal(r.newlyAllowed.examples[0]?.loggedPolicyId, "pol-ads");
    assert.equal(r.newlyBlocked.count, 0);
  });

  it("first match by precedence wins; disabled policies are ignored", async () => {
    const r = await simulate(store, {
      ...RANGE,
      policies: [
        policy({ id: "block-all", expression: "any(dns.domains[*] in $trackers)", precedence: 20 }),
        policy({
          id: "allow-ads0",
          expression: 'dns.fqdn == "ads0.tracker.net"',
          action: "allow",
          precedence: 10,
        }),
        policy({ id: "off", expression: 'dns.query_rtype == "A"', enabled: false, precedence: 1 }),
      ],
      lists: [trackers],
    });
    assert.equal(r.newlyBlocked.count, 0);
    assert.deepEqual(r.newlyAllowed.byDomain, [{ key: "ads0.tracker.net", count: 3 }]);
  });

  it("per-domain verdicts never override an earlier client-dependent match", async () => {
    // Blocked in the log: ads0 from 10.0.0.0 (i = 0, 10, 20) and ads1 from 10.0.0.2 (5, 15, 25).
    const r = await simulate(store, {
      ...RANGE,
      policies: [
        policy({
          id: "vip",
          expression: "dns.src_ip == 10.0.0.0",
          action: "allow",
          precedence: 1,
        }),
        policy({ id: "ads", expression: "any(dns.domains[*] in $trackers)", precedence: 2 }),
      ],
      lists: [trackers],
    });
    assert.deepEqual(r.newlyAllowed.byDomain, [{ key: "ads0.tracker.net", count: 3 }]);
    assert.deepEqual(r.newlyAllowed.byClient, [{ key: "10.0.0.0", count: 3 }]);
    assert.equal(r.newlyBlocked.count, 0);
    assert.equal(r.unchanged, 27);
  });

  it("other action changes are reported by transition", async () => {
    const r = await simulate(store, {
      ...RANGE,
      policies: [
        policy({ id: "ads", expression: "any(dns.domains[*] in $trackers)", precedence: 1 }),
        policy({
          id: "ss",
          expression: 'dns.fqdn == "host1.example.com"',
          action: "safesearch",
          precedence: 2,
        }),
      ],
      lists: [trackers],
    });
    assert.deepEqual(r.otherChanges, [{ from: "allow", to: "safesearch", count: 8 }]);
  });

  it("schedules are evaluated at the logged time", async () => {
    // T0 is Friday 2026-11-20 12:00 UTC; the window covers its first minute only, when host2
    // (i ≡ 2 mod 3, i*6 s < 60 s) was queried at i = 2 and 8.
    const r = await simulate(store, {
      ...RANGE,
      policies: [
        policy({ id: "ads", expression: "any(dns.domains[*] in $trackers)", precedence: 1 }),
        policy({
          id: "lunch",
          expression: 'dns.fqdn == "host2.example.com"',
          precedence: 2,
          schedule: {
            timeZone: "Europe/Paris",
            windows: [{ days: ["fri"], start: "13:00", end: "13:01" }],
          },
        }),
      ],
      lists: [trackers],
    });
    assert.equal(r.newlyBlocked.count, 2);
  });

  it("HTTP drafts replay HTTP records", async () => {
    const same = await simulate(store, {
      ...RANGE,
      policies: [
        policy({
          id: "no-post",
          type: "http",
          expression: 'http.request.method == "POST" and http.conn.dst_port == 8080',
        }),
      ],
    });
    assert.equal(same.replayed, 1);
    assert.equal(same.unchanged, 1);
    const looser = await simulate(store, {
      ...RANGE,
      policies: [
        policy({ id: "gets", type: "http", expression: 'http.request.uri.path == "/get"' }),
      ],
    });
    assert.equal(looser.newlyAllowed.count, 1);
    assert.equal(looser.newlyAllowed.examples[0]?.domain, "upload.example.com");
  });

  it("warns about fields the log does not record", async () => {
    const r = await simulate(store, {
      ...RANGE,
      policies: [policy({ id: "ips", expression: "any(dns.resolved_ips[*] in {10.0.0.0/8})" })],
    });
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0] ?? "", /dns\.resolved_ips/);
  });

  it("rejects drafts that do not compile, with the policy id", async () => {
    await assert.rejects(
      simulate(store, { ...RANGE, policies: [policy({ id: "bad", expression: "dns.fqdn ==" })] }),
      (e: Error) => e instanceof AnalyticsInputError && /policy "bad"/.test(e.message),
    );
    await assert.rejects(
      simulate(store, {
        ...RANGE,
        policies: [policy({ id: "nolist", expression: "dns.fqdn in $missing" })],
      }),
      /unknown list/,
    );
    await assert.rejects(
      simulate(store, { ...RANGE, policies: [], limit: 0 }),
      AnalyticsInputError,
    );
  });
});
