// The decision memo against the policies judged in full: for every (client, location, name,
// type, time) the memoized decision — first asked, then asked again from the memo — is the
// policy set's own first match, with per-client and scheduled policies before, between and
// after the fixed ones, a list with a client-limited rule, and a paused location.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfigBundle, Policy } from "@gatehouse/contract";
import { buildQuery } from "../../test/dns-helpers.ts";
import { compileSnapshot } from "../snapshot.ts";
import { DnsCache } from "./cache/dns-cache.ts";
import { decideQuery } from "./decision-memo.ts";
import { type DnsExchange, newExchange } from "./exchange.ts";
import { createRuntime, type DnsRuntime } from "./runtime.ts";
import { skippedBy } from "./stages/apply-policy.ts";
import { createDecodeStage } from "./stages/decode.ts";
import { createIdentifyStage } from "./stages/identify.ts";
import { endListQuery } from "./stages/list-match.ts";
import { setQueryFields } from "./stages/rule-fields.ts";
import { RRType } from "./wire/constants.ts";

function policy(id: string, precedence: number, expression: string, extra: Partial<Policy> = {}) {
  return {
    id,
    name: id,
    type: "dns",
    enabled: true,
    precedence,
    expression,
    action: "block",
    ...extra,
  } as Policy;
}

// Weekdays 09:00–17:00 UTC.
const office = {
  timeZone: "UTC",
  windows: [{ days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00" }],
} as Policy["schedule"];

const bundle: ConfigBundle = {
  schemaVersion: 1,
  version: 1,
  resolver: { upstreams: [{ address: "udp://127.0.0.1:9" }], rateLimit: false },
  locations: [
    { id: "office", name: "Office", networks: ["10.0.0.0/8"] },
    { id: "lab", name: "Lab", networks: ["10.9.0.0/16"] },
  ],
  lists: [
    { id: "l1", name: "ads", type: "domain", items: ["ads.example", "||tracker.example^"] },
    { id: "l2", name: "kids", type: "domain", items: ["||game.example^$client=10.9.0.0/16"] },
  ],
  policies: [
    // Varying, before every fixed one.
    policy("src-a", 1, 'dns.src_ip in {10.9.1.0/24} and dns.fqdn == "a.example"'),
    policy("fixed-a", 2, 'dns.fqdn == "a.example" or dns.fqdn == "b.example"'),
    // Varying between fixed ones: a schedule, a client-limited list, the transport.
    policy("sched-b", 3, 'ends_with(dns.fqdn, "b.example")', { schedule: office }),
    policy("kids", 4, "any(dns.domains[*] in $kids)"),
    policy("lab-mx", 5, 'dns.location == "lab" and dns.query_rtype == "MX"'),
    policy("ads", 6, "any(dns.domains[*] in $ads)"),
    policy("tcp-c", 7, 'dns.transport == "tcp" and ends_with(dns.fqdn, "c.example")'),
    policy("fixed-c", 8, 'ends_with(dns.fqdn, ".example") and dns.fqdn != "z.example"'),
    // Varying, after every fixed one: judged only when no fixed one matched.
    policy("src-z", 9, "dns.src_ip in {10.1.0.0/16}"),
  ],
};

function decoded(rt: DnsRuntime, name: string, type: number, ip: string, ts: number, tcp = false) {
  const ex: DnsExchange = {
    ...newExchange(rt, buildQuery(name, { type }), {
      transport: tcp ? "tcp" : "udp",
      ip,
      port: 5353,
    }),
    ts,
  };
  assert.equal(createDecodeStage().run(ex), "next");
  createIdentifyStage().run(ex);
  return ex;
}

/** The first match with every policy judged, as the memo does without a plan. */
function judged(ex: DnsExchange, name: string): string | undefined {
  const rt = ex.rt;
  rt.ctx.reset();
  setQueryFields(rt.ctx, ex, rt.fields, name);
  const p = rt.snapshot.policies.dns.match(rt.ctx, ex.ts, "query", skippedBy(ex));
  endListQuery(ex);
  return p?.id;
}

const inHours = Date.parse("2026-01-05T10:00:00Z");
const night = Date.parse("2026-01-05T22:00:00Z");
const names = [
  "a.example",
  "b.example",
  "sub.b.example",
  "game.example",
  "www.game.example",
  "ads.example",
  "x.tracker.example",
  "c.example",
  "z.example",
  "other.test",
];
const ips = ["10.9.1.5", "10.9.2.5", "10.1.2.3", "10.200.0.1"];

function differential(rt: DnsRuntime): number {
  let checked = 0;
  for (let round = 0; round < 2; round++)
    for (const ts of [inHours, night])
      for (const ip of ips)
        for (const tcp of [false, true])
          for (const type of [RRType.A, RRType.MX])
            for (const name of names) {
              const ex = decoded(rt, name, type, ip, ts, tcp);
              const what = `${name} ${type} from ${ip}${tcp ? " tcp" : ""} at ${ts} (round ${round})`;
              assert.equal(decideQuery(ex, name)?.id, judged(ex, name), what);
              checked++;
            }
  return checked;
}

test("memoized decisions are the policy set's first match, per-client and scheduled policies judged", () => {
  const rt = createRuntime(compileSnapshot(bundle), { cache: new DnsCache(), inflight: new Map() });
  const plan = rt.decisionPlan;
  assert.ok(plan);
  assert.deepEqual(
    plan.varying.map((p) => p.id),
    ["src-a", "sched-b", "kids", "tcp-c", "src-z"],
  );
  assert.equal(rt.memoizable, false);
  assert.equal(differential(rt), 640);
  // One memoized decision per (location, type, name) asked (two locations): none per client or time.
  assert.equal(rt.decisions.size, 2 * 2 * names.length);
});

test("no memo while a location's blocking is paused, nor for a client with settings of its own", () => {
  const paused = createRuntime(
    compileSnapshot({ ...bundle, pauses: [{ locationId: "lab", until: Date.now() + 60_000 }] }),
    { cache: new DnsCache(), inflight: new Map() },
  );
  differential(paused);
  assert.equal(paused.decisions.size, 0);
  const own = createRuntime(
    compileSnapshot({
      ...bundle,
      clients: [{ client: "10.9.1.5", skipPolicies: ["fixed-a", "ads"] }],
    }),
    { cache: new DnsCache(), inflight: new Map() },
  );
  differential(own);
  assert.ok(own.decisions.size > 0);
  for (const name of names) {
    const ex = decoded(own, name, RRType.A, "10.9.1.5", inHours);
    assert.equal(decideQuery(ex, name)?.id, judged(ex, name));
  }
});

test("every query-phase policy fixed: a repeat judges nothing", () => {
  const fixedOnly = createRuntime(
    compileSnapshot({
      ...bundle,
      policies: bundle.policies.filter((p) =>
        ["fixed-a", "lab-mx", "ads", "fixed-c"].includes(p.id),
      ),
    }),
    { cache: new DnsCache(), inflight: new Map() },
  );
  assert.equal(fixedOnly.memoizable, true);
  assert.equal(fixedOnly.decisionPlan?.group, undefined);
  differential(fixedOnly);
  assert.equal(fixedOnly.decisions.size, 2 * 2 * names.length);
});
