import assert from "node:assert/strict";
import { test } from "node:test";
import type { Policy } from "@gatehouse/contract";
import { compilePolicySet, PolicyCompileError, policySchemes } from "./policy-set.ts";

const p = (
  id: string,
  precedence: number,
  expression: string,
  action: Policy["action"] = "block",
  extra: Partial<Policy> = {},
): Policy => ({
  id,
  name: `Policy ${id}`,
  type: "dns",
  enabled: true,
  precedence,
  expression,
  action,
  ...extra,
});

test("precedence order, first match wins, disabled excluded, query phase before response phase", () => {
  const set = compilePolicySet("dns", [
    p("resp", 1, "any(dns.resolved_ips[*] in {203.0.113.0/24})"),
    p("late", 30, 'dns.fqdn == "x.example"', "allow"),
    p("early", 20, 'ends_with(dns.fqdn, ".example")'),
    p("off", 10, 'dns.fqdn == "x.example"', "block", { enabled: false }),
    { ...p("http1", 1, 'http.conn.hostname == "x"'), type: "http" },
  ]);
  assert.deepEqual(
    set.all.map((x) => x.id),
    ["early", "late", "resp"],
  );
  assert.equal(set.all.find((x) => x.id === "resp")!.phase, "response");
  const ctx = policySchemes().dns.context();
  ctx.set("dns.fqdn", "x.example");
  assert.equal(set.match(ctx, Date.now(), "query")?.id, "early");
  assert.equal(set.match(ctx, Date.now(), "response"), undefined);
  ctx.reset().set("dns.fqdn", "y.other").set("dns.resolved_ips", ["203.0.113.9"]);
  assert.equal(set.match(ctx, Date.now(), "query"), undefined);
  assert.equal(set.match(ctx, Date.now(), "response")?.id, "resp");
  assert.equal(set.match(ctx, Date.now())?.id, "resp");
  assert.ok(set.queryFields.has("dns.fqdn"));
  assert.ok(set.responseFields.has("dns.resolved_ips"));
});

test("schedules gate matching", () => {
  const set = compilePolicySet("dns", [
    p("weekday", 1, 'dns.fqdn == "game.example"', "block", {
      schedule: {
        timeZone: "UTC",
        windows: [{ days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00" }],
      },
    }),
  ]);
  const ctx = policySchemes().dns.context().set("dns.fqdn", "game.example");
  assert.equal(set.match(ctx, Date.parse("2026-01-05T10:00:00Z"))?.id, "weekday");
  assert.equal(set.match(ctx, Date.parse("2026-01-04T10:00:00Z")), undefined);
  assert.ok(set.queryHasSchedules);
});

test("http: do_not_inspect policies first; compile errors name the policy", () => {
  const set = compilePolicySet("http", [
    { ...p("a", 1, 'http.conn.hostname == "x"', "block"), type: "http" },
    { ...p("b", 50, 'http.conn.hostname == "x"', "do_not_inspect"), type: "http" },
  ]);
  assert.deepEqual(
    set.all.map((x) => x.id),
    ["b", "a"],
  );
  assert.throws(() => compilePolicySet("dns", [p("bad", 1, "dns.fqdn ==")]), PolicyCompileError);
  assert.throws(
    () =>
      compilePolicySet("dns", [
        p("tz", 1, 'dns.fqdn == "a"', "block", {
          schedule: {
            timeZone: "Nowhere/Zone",
            windows: [{ days: ["mon"], start: "00:00", end: "01:00" }],
          },
        }),
      ]),
    /policy "tz": schedule/,
  );
});
