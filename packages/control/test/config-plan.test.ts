// The plan of a configuration document (gatehouse config plan): changes by name, ids adopted
// from the current configuration for things written without them, defaults not reported as
// changes, sections the document leaves out not compared.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { adoptIds, formatPlan, planDocument } from "../src/bundle/config-plan.ts";
import type { ConfigDocument } from "../src/bundle/export-import.ts";

const current: ConfigDocument = {
  kind: "gatehouse/account-config",
  version: 1,
  settings: { allowUnknownClients: false },
  resolver: { upstreams: [{ address: "udp://192.0.2.53:53" }] } as ConfigDocument["resolver"],
  locations: [
    {
      id: "loc1",
      name: "Office",
      networks: ["192.0.2.0/24"],
      dohToken: "tok-office-123",
      requireProxyAuth: false,
    },
  ],
  lists: [
    { id: "l1", name: "ads", type: "domain", items: ["a.example", "b.example"] },
    {
      id: "l2",
      name: "feed",
      type: "domain",
      subscription: { url: "https://lists.example/feed.txt", refreshSeconds: 86400 },
    },
  ],
  policies: [
    {
      id: "p1",
      name: "Block ads",
      type: "dns",
      enabled: true,
      precedence: 1,
      expression: "any(dns.domains[*] in $ads)",
      action: "block",
    },
    {
      id: "p2",
      name: "Old",
      type: "dns",
      enabled: true,
      precedence: 2,
      expression: 'dns.fqdn == "old.example"',
      action: "block",
    },
  ],
  users: [],
  devices: [],
  tests: [],
  rolloutPlan: null,
};

describe("config plan", () => {
  it("a document written without ids adopts the current ones: the same content plans nothing", () => {
    const next: ConfigDocument = {
      kind: "gatehouse/account-config",
      version: 1,
      resolver: current.resolver,
      locations: [{ name: "Office", networks: ["192.0.2.0/24"] }],
      lists: [
        { name: "ads", type: "domain", items: ["b.example", "a.example"] },
        {
          name: "feed",
          type: "domain",
          subscription: { url: "https://lists.example/feed.txt", refreshSeconds: 86400 },
        },
      ],
      policies: current.policies!.map(({ id: _id, ...p }) => p),
      users: [],
    };
    const adopted = adoptIds(current, next);
    assert.equal(adopted.locations![0]!.id, "loc1");
    assert.equal(adopted.locations![0]!.dohToken, "tok-office-123", "the DoH token is kept");
    assert.deepEqual(
      adopted.policies!.map((p) => p.id),
      ["p1", "p2"],
    );
    const plan = planDocument(current, adopted);
    assert.deepEqual(plan.changes, []);
    assert.deepEqual(plan.sections, []);
    assert.deepEqual(formatPlan(plan), ["No changes."]);
  });

  it("names what is added, changed and removed, with list item counts", () => {
    const next = adoptIds(current, {
      ...current,
      lists: [
        { id: "l1", name: "ads", type: "domain", items: ["a.example", "c.example", "d.example"] },
        current.lists![1]!,
      ],
      policies: [
        { ...current.policies![0]!, expression: "any(dns.domains[*] in $ads) and true" },
        {
          name: "New",
          type: "http",
          enabled: true,
          precedence: 1,
          expression: 'http.conn.hostname == "x"',
          action: "block",
        },
      ],
      rolloutPlan: { stages: [{ name: "all", bakeSeconds: 0 }] },
      tests: [{ name: "t", dns: { query: "a.example" }, expect: { action: "block" } }],
    });
    const plan = planDocument(current, next);
    assert.deepEqual(formatPlan(plan), [
      '~ policy "Block ads": expression',
      '+ policy "New"',
      '- policy "Old"',
      '~ list "ads": items +2 -1',
      '+ test "t"',
      "~ rolloutPlan",
      "Plan: 2 to add, 3 to change, 1 to remove.",
    ]);
  });

  it("sections the document leaves out are not compared", () => {
    const { devices: _d, tests: _t, rolloutPlan: _r, ...rest } = current;
    const plan = planDocument(
      { ...current, devices: [{ id: "d1", name: "phone", credentialHash: "scrypt$x" }] },
      rest,
    );
    assert.deepEqual(plan.changes, []);
  });
});
