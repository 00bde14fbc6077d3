// The query-phase decision, memoized per (location, qtype, name) for the policies whose outcome
// those fix. A policy is "fixed" when it has no schedule, reads only fields of the question and
// the location (MEMOIZABLE_FIELDS) and references no list with client-limited rules ($client);
// the others ("varying": the source address, the transport, a schedule…) are judged for every
// query. First match wins in policy order, so the memo keeps the position of the first fixed
// policy that matches (-1: none), and a query judges only the varying policies before that
// position, with only the fields they read, before falling back to it. A config whose query
// policies are all fixed judges nothing on a repeat (as the memo did before varying policies
// were kept apart); one with a few per-client policies among a hundred list and pattern
// policies judges the few. Which policies are which is decided once per config (the plan); the
// memo is per runtime, bounded, and restarted when full. Clients with settings of their own (a
// pause, skipped policies) take no memo, nor does any query while blocking is paused for a
// location or everyone (the runtime's `memoizable` rules), as before.

import type { FilterGroup } from "@gatehouse/rules";
import type { EdgeListSet } from "../lists/list-set.ts";
import { type CompiledPolicy, type PolicySet, policySchemes } from "../policy/policy-set.ts";
import type { DnsExchange } from "./exchange.ts";
import { parsedQuery } from "./exchange.ts";
import { MEMOIZABLE_FIELDS } from "./packet-cache.ts";
import type { DnsRuntime } from "./runtime.ts";
import { skippedBy } from "./stages/apply-policy.ts";
import { endListQuery } from "./stages/list-match.ts";
import { setQueryFields } from "./stages/rule-fields.ts";

/** Bound on memoized decisions; the memo is simply restarted when full. */
export const DECISION_MEMO_MAX = 100_000;

/** Which query-phase policies a memoized decision stands for, and how to judge the others. */
export interface DecisionPlan {
  /** Per query-phase position: the policy's outcome is fixed by (location, qtype, name). */
  readonly fixed: readonly boolean[];
  /** The varying policies in order, their query-phase positions, and their filters' group. */
  readonly varying: readonly CompiledPolicy[];
  readonly varyingAt: readonly number[];
  readonly group: FilterGroup | undefined;
  /** The fields the varying policies read. */
  readonly fields: ReadonlySet<string>;
}

/** Whether `p`'s outcome is fixed by the location, the query type and the name. */
export function fixedPolicy(p: CompiledPolicy, lists: EdgeListSet): boolean {
  return (
    p.schedule === undefined &&
    p.filter.fields.every((f) => MEMOIZABLE_FIELDS.has(f)) &&
    !lists.readsClient(p.lists)
  );
}

/** The plan for a config's DNS policies; undefined when no query-phase policy is fixed. */
export function decisionPlan(set: PolicySet, lists: EdgeListSet): DecisionPlan | undefined {
  const all = set.queryPolicies;
  const fixed = all.map((p) => fixedPolicy(p, lists));
  if (!fixed.includes(true)) return undefined;
  const varying: CompiledPolicy[] = [];
  const varyingAt: number[] = [];
  const fields = new Set<string>();
  all.forEach((p, i) => {
    if (fixed[i]) return;
    varying.push(p);
    varyingAt.push(i);
    for (const f of p.filter.fields) fields.add(f);
  });
  const group =
    varying.length === 0 ? undefined : policySchemes().dns.group(varying.map((p) => p.filter));
  return { fixed, varying, varyingAt, group, fields };
}

function active(p: CompiledPolicy, now: number): boolean {
  return p.schedule === undefined || p.schedule.isActive(now);
}

/**
 * The query-phase policy that decides `name` (the question, or a CNAME chain name judged like
 * it) asked with the exchange's type, location and client, or null.
 */
export function decideQuery(ex: DnsExchange, name: string): CompiledPolicy | null {
  const rt = ex.rt;
  const set = rt.snapshot.policies.dns;
  const plan = rt.decisionPlan;
  const ctx = rt.ctx;
  if (plan === undefined || !decisionMemoFor(rt, ex.client.ip)) {
    ctx.reset();
    setQueryFields(ctx, ex, rt.fields, name);
    const p = set.match(ctx, ex.ts, "query", skippedBy(ex)) ?? null;
    endListQuery(ex);
    return p;
  }
  const all = set.queryPolicies;
  const key = `${ex.location?.id ?? ""}\u0000${parsedQuery(ex).qtype}\u0000${name}`;
  const at = rt.decisions.get(key);
  if (at === undefined) {
    // Every field; the first match decides, and the first fixed one (at or after it) is kept.
    ctx.reset();
    setQueryFields(ctx, ex, rt.fields, name);
    let first: CompiledPolicy | null = null;
    let fixedAt = -1;
    for (let i = set.queryFirst(ctx, 0); i >= 0; i = set.queryFirst(ctx, i + 1)) {
      const p = all[i];
      if (p === undefined) continue;
      if (plan.fixed[i] === true) {
        fixedAt = i;
        first ??= p;
        break;
      }
      if (first === null && active(p, ex.ts)) first = p;
    }
    endListQuery(ex);
    if (rt.decisions.size >= DECISION_MEMO_MAX) rt.decisions.clear();
    rt.decisions.set(key, fixedAt);
    return first;
  }
  const fixedPolicy = at < 0 ? null : (all[at] ?? null);
  const group = plan.group;
  const before = plan.varyingAt[0];
  // No varying policy precedes the memoized one: nothing to judge.
  if (group === undefined || before === undefined || (at >= 0 && before > at)) return fixedPolicy;
  ctx.reset();
  setQueryFields(ctx, ex, plan.fields, name);
  let decided = fixedPolicy;
  for (let j = group.first(ctx, 0); j >= 0; j = group.first(ctx, j + 1)) {
    const p = plan.varying[j];
    if (p === undefined) continue;
    if (at >= 0 && (plan.varyingAt[j] ?? 0) > at) break;
    if (active(p, ex.ts)) {
      decided = p;
      break;
    }
  }
  endListQuery(ex);
  return decided;
}

/**
 * Whether this client's decisions may be memoized: not while blocking is paused for a location
 * or everyone, nor for a client with settings or a pause of its own.
 */
export function decisionMemoFor(rt: DnsRuntime, ip: string): boolean {
  return rt.decisionMemo && (rt.ownRules === undefined || !rt.ownRules.has(ip));
}
