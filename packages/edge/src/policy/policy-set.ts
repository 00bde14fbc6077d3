// Compiled policies of one type, in enforcement order (rules spec §5.7): ascending precedence,
// first match wins; disabled policies are left out at compile time. DNS policies are split into
// a query phase (fields known from the question) and a response phase (any field of
// DNS_RESPONSE_FIELDS; a policy mixing both runs entirely after resolution, §5.7 item 3). HTTP
// `do_not_inspect` policies run before all other HTTP policies (§5.7 item 4).

import type { Policy, PolicySettings, PolicyType } from "@gatehouse/contract";
import { gatewaySchemes } from "@gatehouse/contract/edge-checks";
import { DNS_RESPONSE_FIELDS } from "@gatehouse/contract/schemes";
import type { ExecutionContext, Filter, FilterGroup, Scheme } from "@gatehouse/rules";
import { IpSet } from "../lists/ip-set.ts";
import { parseCidr } from "../net/ip-address.ts";
import { CompiledSchedule } from "./schedule.ts";

export type PolicyPhase = "query" | "response";

export interface CompiledPolicy {
  readonly id: string;
  readonly name: string;
  readonly type: PolicyType;
  readonly action: Policy["action"];
  readonly settings: PolicySettings;
  readonly precedence: number;
  /** DNS: when the policy can be decided; HTTP/net: always "query". */
  readonly phase: PolicyPhase;
  readonly filter: Filter;
  readonly schedule: CompiledSchedule | undefined;
  /** Names of the lists the expression references. */
  readonly lists: readonly string[];
  /** Proxy allow policies: `settings.allowPrivateDestinations`, the only thing that lets the
   * proxy dial an internal address (resolve-peer). */
  readonly privateDestinations: IpSet | undefined;
}

export class PolicyCompileError extends Error {
  readonly policyId: string;
  readonly index: number;
  constructor(policyId: string, index: number, message: string) {
    super(`policy "${policyId}": ${message}`);
    this.name = "PolicyCompileError";
    this.policyId = policyId;
    this.index = index;
  }
}

/** The union of the keys the filters read of a Map field; undefined when one needs them all. */
function mapKeysOf(ps: readonly CompiledPolicy[], field: string): readonly string[] | undefined {
  const keys = new Set<string>();
  let read = false;
  for (const p of ps) {
    const k = p.filter.mapKeys.get(field);
    if (k === undefined) continue;
    if (k === null) return undefined;
    read = true;
    for (const key of k) keys.add(key);
  }
  return read ? [...keys] : undefined;
}

/** The per-type rules schemes (compiled once per process). */
export function policySchemes(): Record<PolicyType, Scheme> {
  return gatewaySchemes();
}

export class PolicySet {
  readonly type: PolicyType;
  /** Every enabled policy in evaluation order. */
  readonly all: readonly CompiledPolicy[];
  private readonly queryPhase: readonly CompiledPolicy[];
  private readonly responsePhase: readonly CompiledPolicy[];
  /** Each order's filters evaluated together (the rules engine's FilterGroup). */
  private readonly queryGroup: FilterGroup;
  private readonly responseGroup: FilterGroup;
  private readonly allGroup: FilterGroup;
  /** Union of the fields the policies of each phase read: the pipeline fills only these. */
  readonly queryFields: ReadonlySet<string>;
  readonly responseFields: ReadonlySet<string>;
  /**
   * The request header names (as written: matched to lowercased names) the query-phase policies can read through
   * `http.request.headers["name"]`, or undefined when one reads the map whole or by `[*]` (and
   * when none reads it): the proxy builds the header map from these names alone.
   */
  readonly queryHeaderNames: readonly string[] | undefined;
  /** True when some query-phase policy has a schedule (its outcome depends on time). */
  readonly queryHasSchedules: boolean;

  constructor(type: PolicyType, policies: readonly CompiledPolicy[]) {
    this.type = type;
    const sorted = [...policies].sort((a, b) => {
      if (type === "http") {
        const da = a.action === "do_not_inspect" ? 0 : 1;
        const db = b.action === "do_not_inspect" ? 0 : 1;
        if (da !== db) return da - db;
      }
      return a.precedence - b.precedence;
    });
    this.queryPhase = sorted.filter((p) => p.phase === "query");
    this.responsePhase = sorted.filter((p) => p.phase === "response");
    this.all = [...this.queryPhase, ...this.responsePhase];
    const scheme = policySchemes()[type];
    const group = (ps: readonly CompiledPolicy[]) => scheme.group(ps.map((p) => p.filter));
    this.queryGroup = group(this.queryPhase);
    this.responseGroup = group(this.responsePhase);
    this.allGroup = this.responsePhase.length === 0 ? this.queryGroup : group(this.all);
    const fieldsOf = (ps: readonly CompiledPolicy[]) => {
      const s = new Set<string>();
      for (const p of ps) for (const f of p.filter.fields) s.add(f);
      return s;
    };
    this.queryFields = fieldsOf(this.queryPhase);
    this.queryHeaderNames = mapKeysOf(this.queryPhase, "http.request.headers");
    this.responseFields = fieldsOf(this.responsePhase);
    this.queryHasSchedules = this.queryPhase.some((p) => p.schedule !== undefined);
  }

  get size(): number {
    return this.all.length;
  }

  /** The query-phase policies in order: the positions `queryFirst` returns. */
  get queryPolicies(): readonly CompiledPolicy[] {
    return this.queryPhase;
  }

  /**
   * The position of the first query-phase policy at or after `from` whose filter matches (no
   * schedule or skip applied), or -1: a walk from 0, then from the last answer + 1, with `ctx`
   * unchanged in between (FilterGroup.first).
   */
  queryFirst(ctx: ExecutionContext, from: number): number {
    return this.queryGroup.first(ctx, from);
  }

  hasPhase(phase: PolicyPhase): boolean {
    return (phase === "query" ? this.queryPhase : this.responsePhase).length > 0;
  }

  /**
   * The first policy (in order) whose schedule is active at `now` and whose filter matches.
   * `phase` restricts to one DNS phase; without it every policy is considered, query phase first.
   * `skip`: policy ids left out (a client's `skipPolicies`).
   */
  match(
    ctx: ExecutionContext,
    now: number,
    phase?: PolicyPhase,
    skip?: ReadonlySet<string>,
  ): CompiledPolicy | undefined {
    const list =
      phase === "query" ? this.queryPhase : phase === "response" ? this.responsePhase : this.all;
    const group =
      phase === "query"
        ? this.queryGroup
        : phase === "response"
          ? this.responseGroup
          : this.allGroup;
    // Every matching filter in order (the group decides the ones no literal makes true at
    // once); the first whose policy is not skipped and is in its schedule wins.
    for (let i = group.first(ctx, 0); i >= 0; i = group.first(ctx, i + 1)) {
      const p = list[i];
      if (p === undefined || skip?.has(p.id)) continue;
      if (p.schedule !== undefined && !p.schedule.isActive(now)) continue;
      return p;
    }
    return undefined;
  }
}

/**
 * Compile the enabled policies of one type. Throws PolicyCompileError on the first expression
 * that does not compile or schedule that names an unknown time zone.
 */
export function compilePolicySet(type: PolicyType, policies: readonly Policy[]): PolicySet {
  const scheme = policySchemes()[type];
  const out: CompiledPolicy[] = [];
  policies.forEach((p, index) => {
    if (p.type !== type || !p.enabled) return;
    const r = scheme.compile(p.expression);
    if (!r.ok) throw new PolicyCompileError(p.id, index, r.error.render());
    const filter = r.value;
    let schedule: CompiledSchedule | undefined;
    if (p.schedule) {
      try {
        schedule = new CompiledSchedule(p.schedule);
      } catch (e) {
        throw new PolicyCompileError(p.id, index, `schedule: ${(e as Error).message}`);
      }
    }
    let privateDestinations: IpSet | undefined;
    const opted = p.settings?.allowPrivateDestinations;
    if (opted !== undefined && opted.length > 0) {
      try {
        privateDestinations = new IpSet(opted.map(parseCidr));
      } catch (e) {
        throw new PolicyCompileError(
          p.id,
          index,
          `allowPrivateDestinations: ${(e as Error).message}`,
        );
      }
    }
    const phase: PolicyPhase =
      type === "dns" && filter.fields.some((f) => DNS_RESPONSE_FIELDS.has(f))
        ? "response"
        : "query";
    out.push({
      id: p.id,
      name: p.name,
      type,
      action: p.action,
      settings: p.settings ?? {},
      precedence: p.precedence,
      phase,
      filter,
      schedule,
      lists: [...new Set(filter.lists.map((l) => l.name))],
      privateDestinations,
    });
  });
  return new PolicySet(type, out);
}
