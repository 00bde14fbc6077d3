import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfigBundle } from "@gatehouse/contract";
import { ConfigRejectedError, compileSnapshot } from "./snapshot.ts";

const bundle: ConfigBundle = {
  schemaVersion: 1,
  version: 7,
  resolver: { upstreams: [{ address: "udp://127.0.0.1:53" }] },
  locations: [{ id: "hq", name: "HQ", networks: ["10.0.0.0/8"] }],
  lists: [
    { id: "l", name: "ads", type: "domain", items: ["||ads.example^", "@@||ok.ads.example^"] },
  ],
  policies: [
    {
      id: "d",
      name: "Ads",
      type: "dns",
      enabled: true,
      precedence: 1,
      expression: "any(dns.domains[*] in $ads) and not any(dns.domains[*] in $ads.allow)",
      action: "block",
    },
    {
      id: "h",
      name: "H",
      type: "http",
      enabled: true,
      precedence: 1,
      expression: 'http.request.method == "TRACE"',
      action: "block",
    },
  ],
};

test("compiles everything once; lists, locations, policies ready", () => {
  const s = compileSnapshot(bundle);
  assert.equal(s.version, 7);
  assert.equal(s.policies.dns.size, 1);
  assert.equal(s.policies.http.size, 1);
  assert.equal(s.policies.net.size, 0);
  assert.equal(s.locations.bySource("10.1.1.1")?.id, "hq");
  const ctx = s.policies.dns.all[0]!.filter;
  assert.ok(s.lists.bytes("ads")!.has("ads.example"));
  assert.ok(s.lists.bytes("ads.allow")!.has("ok.ads.example"));
  assert.ok(ctx.fields.includes("dns.domains"));
});

test("a bundle that fails anywhere is rejected whole with a path", () => {
  const cases: [string, ConfigBundle, RegExp][] = [
    [
      "bad expression",
      { ...bundle, policies: [{ ...bundle.policies[0]!, expression: "dns.fqdn ==" }] },
      /\/policies\/0\/expression/,
    ],
    [
      "unknown list",
      { ...bundle, policies: [{ ...bundle.policies[0]!, expression: "dns.fqdn in $nope" }] },
      /unknown list/,
    ],
    [
      "bad network",
      { ...bundle, locations: [{ id: "x", name: "X", networks: ["10.0.0.0/40"] }] },
      /location "x"/,
    ],
    [
      "missing file",
      {
        ...bundle,
        lists: [{ id: "l", name: "ads", type: "domain", file: "/nonexistent/list.txt" }],
      },
      /cannot read/,
    ],
    ["shape", { ...bundle, version: -1 } as ConfigBundle, /config rejected/],
  ];
  for (const [name, b, re] of cases) {
    assert.throws(
      () => compileSnapshot(b),
      (e: unknown) =>
        e instanceof ConfigRejectedError && re.test(`${e.message} ${JSON.stringify(e.problems)}`),
      name,
    );
  }
});
