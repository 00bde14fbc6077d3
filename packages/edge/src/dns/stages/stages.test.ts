// Table-driven tests of single stages on hand-built exchanges (no sockets).

import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfigBundle } from "@gatehouse/contract";
import { buildQuery } from "../../../test/dns-helpers.ts";
import { compileSnapshot } from "../../snapshot.ts";
import { DnsCache } from "../cache/dns-cache.ts";
import { type ClientInfo, type DnsExchange, newExchange } from "../exchange.ts";
import { createRuntime } from "../runtime.ts";
import { Rcode, RRType } from "../wire/constants.ts";
import { createAdmitStage } from "./admit.ts";
import { createDecodeStage } from "./decode.ts";
import { createIdentifyStage } from "./identify.ts";
import { createPolicyQueryStage } from "./policy-query.ts";
import { createSpecialNamesStage } from "./special-names.ts";

const bundle: ConfigBundle = {
  schemaVersion: 1,
  version: 1,
  resolver: {
    upstreams: [{ address: "udp://127.0.0.1:9" }],
    rateLimit: { queriesPerSecond: 1, burst: 2 },
  },
  locations: [
    {
      id: "office",
      name: "Office",
      networks: ["10.0.0.0/8"],
      dohToken: "office-token-1",
      dotLabel: "office",
    },
    { id: "lab", name: "Lab", networks: ["10.9.0.0/16"] },
  ],
  lists: [],
  policies: [
    {
      id: "lab-only",
      name: "Lab block",
      type: "dns",
      enabled: true,
      precedence: 1,
      expression: 'dns.location == "lab" and dns.fqdn == "x.example"',
      action: "block",
    },
    {
      id: "mx",
      name: "No MX",
      type: "dns",
      enabled: true,
      precedence: 2,
      expression: 'dns.query_rtype == "MX"',
      action: "block",
      settings: { blockMode: "refused" },
    },
  ],
};
const rt = createRuntime(compileSnapshot(bundle), {
  cache: new DnsCache(),
  inflight: new Map(),
});

function exchange(raw: Uint8Array, client: Partial<ClientInfo> = {}): DnsExchange {
  return newExchange(rt, raw, { transport: "udp", ip: "10.1.1.1", port: 5353, ...client });
}

function decoded(raw: Uint8Array, client: Partial<ClientInfo> = {}): DnsExchange {
  const ex = exchange(raw, client);
  assert.equal(createDecodeStage().run(ex), "next");
  return ex;
}

test("identify: token, DoT label, source network, unknown", () => {
  const stage = createIdentifyStage();
  const cases: [string, Partial<ClientInfo>, string | undefined, string][] = [
    ["source", { ip: "10.1.1.1" }, "office", "next"],
    ["most specific", { ip: "10.9.1.1" }, "lab", "next"],
    ["v4-mapped", { ip: "::ffff:10.9.1.1" }, "lab", "next"],
    [
      "DoH token wins over source",
      { transport: "doh", ip: "10.9.1.1", dohToken: "office-token-1" },
      "office",
      "next",
    ],
    [
      "DoT label",
      { transport: "dot", ip: "192.0.2.1", serverName: "office.dot.example.net" },
      "office",
      "next",
    ],
    ["unknown", { ip: "192.0.2.1" }, undefined, "respond"],
    [
      "DoH token naming no location, from a known network",
      { transport: "doh", ip: "10.1.1.1", dohToken: "no-such-token" },
      undefined,
      "respond",
    ],
  ];
  for (const [name, client, loc, outcome] of cases) {
    const ex = decoded(buildQuery("a.example"), client);
    assert.equal(stage.run(ex), outcome, name);
    assert.equal(ex.location?.id, loc, name);
    if (outcome === "respond") assert.equal(ex.response?.rcode, Rcode.REFUSED, name);
  }
});

test("special names", () => {
  const stage = createSpecialNamesStage();
  const cases: [string, number, string, number | undefined, string | undefined][] = [
    ["localhost", RRType.A, "respond", Rcode.NOERROR, "127.0.0.1"],
    ["foo.localhost", RRType.AAAA, "respond", Rcode.NOERROR, "::1"],
    ["use-application-dns.net", RRType.A, "respond", Rcode.NXDOMAIN, undefined],
    ["x.invalid", RRType.A, "respond", Rcode.NXDOMAIN, undefined],
    ["1.0.0.127.in-addr.arpa", RRType.PTR, "respond", Rcode.NOERROR, "localhost"],
    ["4.3.2.10.in-addr.arpa", RRType.PTR, "respond", Rcode.NXDOMAIN, undefined],
    ["4.3.20.172.in-addr.arpa", RRType.PTR, "respond", Rcode.NXDOMAIN, undefined],
    ["4.3.2.1.in-addr.arpa", RRType.PTR, "next", undefined, undefined],
    ["example.com", 252, "respond", Rcode.REFUSED, undefined],
    ["example.com", RRType.A, "next", undefined, undefined],
  ];
  for (const [name, type, outcome, rcode, data] of cases) {
    const ex = decoded(buildQuery(name, { type }));
    assert.equal(stage.run(ex), outcome, name);
    assert.equal(ex.response?.rcode, rcode, name);
    assert.equal(ex.response?.answers[0]?.data, data, name);
  }
});

test("admit: token bucket per source", () => {
  const stage = createAdmitStage();
  const outcomes = [1, 2, 3].map(() =>
    stage.run(decoded(buildQuery("a.example"), { ip: "10.5.5.5" })),
  );
  assert.deepEqual(outcomes, ["next", "next", "respond"]);
  assert.equal(
    stage.run(decoded(buildQuery("a.example"), { ip: "10.5.5.6" })),
    "next",
    "other sources unaffected",
  );
});

test("policy-query: location- and type-dependent decisions, memoized per location", () => {
  const identify = createIdentifyStage();
  const stage = createPolicyQueryStage();
  const cases: [string, string, number, string, string | undefined][] = [
    ["10.9.1.1", "x.example", RRType.A, "respond", "lab-only"],
    ["10.1.1.1", "x.example", RRType.A, "next", undefined],
    ["10.9.1.1", "x.example", RRType.A, "respond", "lab-only"],
    ["10.1.1.1", "y.example", RRType.MX, "respond", "mx"],
  ];
  for (const [ip, name, type, outcome, policy] of cases) {
    const ex = decoded(buildQuery(name, { type }), { ip });
    identify.run(ex);
    assert.equal(stage.run(ex), outcome, `${ip} ${name}`);
    assert.equal(ex.policy?.id, policy, `${ip} ${name}`);
  }
  assert.equal(rt.memoizable, true);
  assert.ok(rt.decisions.size >= 3);
});

test("policy-query: blocking paused for a location lets its clients through until the pause ends", () => {
  const until = Date.now() + 60_000;
  const paused = createRuntime(
    compileSnapshot({ ...bundle, pauses: [{ locationId: "lab", until }] }),
    {
      cache: new DnsCache(),
      inflight: new Map(),
    },
  );
  // The answer now depends on the time: no memo, no packet cache.
  assert.equal(paused.memoizable, false);
  const identify = createIdentifyStage();
  const stage = createPolicyQueryStage();
  const run = (ip: string, name: string, type: number, at: number) => {
    const ex = {
      ...newExchange(paused, buildQuery(name, { type }), { transport: "udp", ip, port: 5353 }),
      ts: at,
    };
    assert.equal(createDecodeStage().run(ex), "next");
    identify.run(ex);
    return [stage.run(ex), ex.action, ex.reason, ex.policy?.id];
  };
  // The lab's clients: the block matches but does not block, and the log says why.
  assert.deepEqual(run("10.9.1.1", "x.example", RRType.A, until - 1), [
    "next",
    "allow",
    "blocking_paused",
    "lab-only",
  ]);
  // The office is not paused.
  assert.deepEqual(run("10.1.1.1", "y.example", RRType.MX, until - 1), [
    "respond",
    "block",
    undefined,
    "mx",
  ]);
  // Once the end time has passed, blocking is back without a new bundle.
  assert.deepEqual(run("10.9.1.1", "x.example", RRType.A, until), [
    "respond",
    "block",
    undefined,
    "lab-only",
  ]);
});
