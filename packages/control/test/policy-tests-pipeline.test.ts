// Policy tests follow the edge's DNS pipeline with the edge's own code: adblock modifiers of
// domain lists (`$dnstype`, `$client`, `$important` over `@@`), local zones answering before the
// response phase, and blocking pauses (reported with a note; modelled when the case gives `at`).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Policy, PolicyTestCase } from "@gatehouse/contract";
import { runPolicyTests, type TestedConfig } from "../src/bundle/policy-tests.ts";

const policy = (p: Partial<Policy> & Pick<Policy, "id" | "type" | "expression" | "action">) =>
  ({ name: p.id, enabled: true, precedence: 0, ...p }) as Policy;

const NOW = Date.parse("2026-12-07T12:00:00Z");

const base: TestedConfig = {
  lists: [
    {
      id: "l1",
      name: "ads",
      type: "domain",
      format: "adblock",
      items: [
        "||v6ads.example^$dnstype=AAAA",
        "||lab-only.example^$client=10.1.2.0/24",
        "||tracker.example^$important",
        "@@||tracker.example^",
        "||lan.example^",
      ],
    },
  ],
  locations: [
    { id: "loc-office", name: "Office", networks: ["10.1.0.0/16"] },
    { id: "loc-home", name: "Home", networks: ["10.9.0.0/16"] },
  ],
  localZones: [{ id: "z1", name: "lan.example", zone: "nas A 10.1.0.5" }],
  policies: [
    policy({
      id: "p-ads",
      name: "Block ads",
      type: "dns",
      precedence: 10,
      expression: "any(dns.domains[*] in $ads)",
      action: "block",
    }),
    policy({
      id: "p-private",
      name: "No private answers",
      type: "dns",
      precedence: 20,
      expression: "any(dns.resolved_ips[*] in {10.0.0.0/8})",
      action: "block",
    }),
  ],
};

const run = (tests: PolicyTestCase[], config: TestedConfig = base) =>
  runPolicyTests(config, tests, { now: NOW });

const verdicts = (tests: PolicyTestCase[], config?: TestedConfig) =>
  run(tests, config).results.map((r) => [r.actual.action, r.actual.policyId, r.notes?.length ?? 0]);

describe("policy tests follow the edge's DNS pipeline", () => {
  it("$dnstype=AAAA: the A query is not blocked, the AAAA query is", () => {
    assert.deepEqual(
      verdicts([
        { name: "A", dns: { query: "v6ads.example", type: "A" }, expect: { action: "allow" } },
        {
          name: "AAAA",
          dns: { query: "v6ads.example", type: "AAAA" },
          expect: { action: "block" },
        },
      ]),
      [
        ["allow", null, 0],
        ["block", "p-ads", 0],
      ],
    );
  });

  it("$client: only the listed source addresses are blocked; $important beats @@", () => {
    assert.deepEqual(
      verdicts([
        {
          name: "lab",
          dns: { query: "lab-only.example", sourceIp: "10.1.2.7" },
          expect: { action: "block" },
        },
        {
          name: "office",
          dns: { query: "lab-only.example", sourceIp: "10.1.3.7" },
          expect: { action: "allow" },
        },
        { name: "no address", dns: { query: "lab-only.example" }, expect: { action: "allow" } },
        { name: "important", dns: { query: "tracker.example" }, expect: { action: "block" } },
      ]),
      [
        ["block", "p-ads", 0],
        ["allow", null, 0],
        ["allow", null, 0],
        ["block", "p-ads", 0],
      ],
    );
  });

  it("a name under a local zone is answered locally: response-phase policies never see it", () => {
    const noListBlock: TestedConfig = {
      ...base,
      policies: base.policies.filter((p) => p.id !== "p-ads"),
    };
    const r = run(
      [
        {
          name: "nas answered by the zone",
          dns: { query: "nas.lan.example", answer: { ips: ["10.1.0.5"] } },
          expect: { action: "allow", policy: null },
        },
        {
          name: "outside the zone the answer is judged",
          dns: { query: "nas.other.example", answer: { ips: ["10.1.0.5"] } },
          expect: { action: "block", policy: "p-private" },
        },
      ],
      noListBlock,
    );
    assert.deepEqual(
      r.results.map((x) => x.passed),
      [true, true],
    );
    assert.match(r.results[0]?.notes?.[0] ?? "", /answered by local zone "lan\.example"/);
    // A query-phase block still wins over the zone (the edge's order).
    assert.deepEqual(
      verdicts([
        { name: "blocked", dns: { query: "nas.lan.example" }, expect: { action: "block" } },
      ]),
      [["block", "p-ads", 0]],
    );
  });

  it("a location pause: the configuration's verdict with a note now, allowed at a given time", () => {
    const paused: TestedConfig = {
      ...base,
      pauses: [{ locationId: "loc-office", until: NOW + 600_000 }],
    };
    const r = run(
      [
        {
          name: "office now",
          dns: { query: "v6ads.example", type: "AAAA", location: "Office" },
          expect: { action: "block", policy: "Block ads" },
        },
        {
          name: "office during the pause",
          at: new Date(NOW + 60_000).toISOString(),
          dns: { query: "v6ads.example", type: "AAAA", location: "Office" },
          expect: { action: "allow" },
        },
        {
          name: "office after the pause",
          at: new Date(NOW + 3_600_000).toISOString(),
          dns: { query: "v6ads.example", type: "AAAA", location: "Office" },
          expect: { action: "block" },
        },
        {
          name: "home",
          dns: { query: "v6ads.example", type: "AAAA", location: "Home" },
          expect: { action: "block" },
        },
      ],
      paused,
    );
    assert.deepEqual(
      r.results.map((x) => [x.passed, x.actual.action, x.notes?.length ?? 0]),
      [
        [true, "block", 1],
        [true, "allow", 1],
        [true, "block", 0],
        [true, "block", 0],
      ],
    );
    assert.match(r.results[0]?.notes?.[0] ?? "", /paused for location "Office".*blocking_paused/);
    // A pause for every client covers a client of no location too.
    const everywhere = run(
      [
        {
          name: "x",
          at: new Date(NOW).toISOString(),
          dns: { query: "tracker.example" },
          expect: { action: "allow" },
        },
      ],
      { ...base, pauses: [{}] },
    );
    assert.equal(everywhere.results[0]?.passed, true);
  });

  it("an unknown query type fails the case with the reason", () => {
    const r = run([
      { name: "bad", dns: { query: "a.example", type: "NOPE" }, expect: { action: "allow" } },
    ]);
    assert.match(r.results[0]?.message ?? "", /not a DNS query type/);
  });
});
