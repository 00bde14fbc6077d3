import assert from "node:assert/strict";
import type { ImportPlan } from "@gatehouse/control";

/** The plan's policy of that name (fails the test, listing the names, when there is none). */
export function policy(plan: ImportPlan, name: string) {
  const p = plan.policies.find((x) => x.name === name);
  assert.ok(p, `no policy ${name} in ${plan.policies.map((x) => x.name).join(" | ")}`);
  return p;
}

/** The reason given for the first not-mapped item matching `item`. */
export function notMapped(plan: ImportPlan, item: RegExp): string {
  const n = plan.notMapped.find((x) => item.test(x.item));
  assert.ok(n, `nothing not-mapped matches ${item}: ${JSON.stringify(plan.notMapped)}`);
  return n.reason;
}
