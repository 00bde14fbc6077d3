// Policy simulation: replay logged traffic through a draft policy set and report what would
// change. The store streams distinct combinations of the fields the draft reads (plus domain,
// client and the logged outcome) with their counts, in chunks; each combination is evaluated
// with @gatehouse/rules and weighted by its count. That is exact, because a filter is a pure
// function of its fields (schedules add the minute to the combination), and it keeps a replay
// of millions of records to one streamed pass, never all in memory. Verdicts are cached per
// group of policies that read the same columns, keyed by those columns' values, so a
// domain-list policy is evaluated once per domain, not once per (domain, client, …).
//
// Enforcement order follows the edge (rules spec §5.7): enabled policies by ascending
// precedence, first match wins; DNS query-phase policies before response-phase ones; HTTP
// do_not_inspect policies first. No match means allow.

import {
  checkExpression,
  DNS_RESPONSE_FIELDS,
  gatewaySchemes,
  LIST_RULE_TYPE,
  type List,
  LOG_KINDS,
  type LogKind,
  type Policy,
  type PolicyType,
} from "@gatehouse/contract";
import { createListSet, type Filter, type ListRegistry, type ListType } from "@gatehouse/rules";
import { checkRange } from "./query-sql.ts";
import { ScheduleWindow } from "./schedule-window.ts";
import { FIELD_SOURCES, type FieldSource, unavailableFields } from "./simulate-fields.ts";
import {
  AnalyticsInputError,
  type AnalyticsStore,
  type ReplayColumn,
  type ReplayRow,
} from "./types.ts";

interface SimulateRequest {
  /** The draft: every policy of the types to simulate (disabled ones are ignored). */
  policies: readonly Policy[];
  /** Lists the draft references, with inline items. */
  lists?: readonly List[];
  from: number;
  to: number;
  /** Entries per breakdown and examples per outcome; default 20. */
  limit?: number;
  /** Record kinds to replay; default: the policy types present in the draft. */
  kinds?: readonly LogKind[];
  /** Replay only this account's records. */
  accountId?: string;
}

export interface CountEntry {
  key: string;
  count: number;
}

interface SimulationExample {
  kind: LogKind;
  domain: string | null;
  client: string;
  /** Newest logged time of this combination. */
  lastSeen: number;
  /** Logged records with this combination. */
  count: number;
  loggedAction: string;
  loggedPolicyId: string | null;
  simulatedAction: string;
  simulatedPolicyId: string | null;
}

export interface ChangeBreakdown {
  count: number;
  byDomain: CountEntry[];
  byClient: CountEntry[];
  examples: SimulationExample[];
}

export interface SimulateResult {
  from: number;
  to: number;
  kinds: LogKind[];
  /** Records replayed through the draft. */
  replayed: number;
  /** Distinct field combinations evaluated. */
  combinations: number;
  /** Records whose logged outcome was not a policy decision (refused, rate limited, error). */
  skipped: number;
  unchanged: number;
  newlyBlocked: ChangeBreakdown;
  newlyAllowed: ChangeBreakdown;
  /** Other action changes (e.g. allow → override), by transition. */
  otherChanges: { from: string; to: string; count: number }[];
  /** Why the answer may be approximate (fields the log does not hold, lists without items). */
  warnings: string[];
}

export const MAX_SIMULATION_LIMIT = 1000;
const CHUNK_ROWS = 8192;
/** Logged actions that a policy decided; the rest are not replayable. */
const DECISIONS: ReadonlySet<string> = new Set([
  "allow",
  "block",
  "override",
  "safesearch",
  "ytrestricted",
  "do_not_inspect",
]);

export interface DraftPolicy {
  id: string;
  action: string;
  filter: Filter;
  schedule: ScheduleWindow | undefined;
  /** A DNS policy that reads the answer (runs after resolution). */
  responsePhase: boolean;
}

/** A domain list's adblock exception item as control stores it. */
const EXCEPTION = /^@@\|\|(.+)\^$/;

/**
 * Domain lists hold lowercased names without a trailing dot (what `dns.domains` holds); their
 * adblock exceptions (`@@||name^` items) form `<name>.allow`, as on the edge.
 */
export function buildLists(lists: readonly List[], warnings: string[]): ListRegistry {
  const reg = createListSet();
  for (const l of lists) {
    const items = l.items ?? [];
    if (l.items === undefined)
      warnings.push(`list "${l.name}" has no inline items: it matches nothing`);
    try {
      switch (l.type) {
        case "domain": {
          const block: string[] = [];
          const allow: string[] = [];
          for (const i of items) {
            let s = String(i).trim().toLowerCase();
            const exception = EXCEPTION.exec(s);
            if (exception) s = exception[1] ?? s;
            if (s.endsWith(".")) s = s.slice(0, -1);
            (exception ? allow : block).push(s);
          }
          reg.addBytes(l.name, block);
          reg.addBytes(`${l.name}.allow`, allow);
          break;
        }
        case "string":
          reg.addBytes(
            l.name,
            items.map((i) => String(i)),
          );
          break;
        case "ip":
          reg.addIp(
            l.name,
            items.map((i) => String(i)),
          );
          break;
        case "int":
          reg.addInt(l.name, items);
          break;
      }
    } catch (e) {
      throw new AnalyticsInputError(`list "${l.name}": ${(e as Error).message}`);
    }
  }
  return reg;
}

/** The rules' list types, adblock exception lists (`<name>.allow`) included. */
export function listTypesOf(lists: readonly List[]): Map<string, ListType> {
  const m = new Map<string, ListType>();
  for (const l of lists) {
    m.set(l.name, LIST_RULE_TYPE[l.type]);
    if (l.type === "domain") m.set(`${l.name}.allow`, LIST_RULE_TYPE.domain);
  }
  return m;
}

/** Compile the enabled policies of one type in enforcement order (phase, then precedence). */
export function compileDraft(
  type: PolicyType,
  policies: readonly Policy[],
  listTypes: ReadonlyMap<string, ListType>,
): DraftPolicy[] {
  const scheme = gatewaySchemes()[type];
  const compiled: (DraftPolicy & { precedence: number; phase: number })[] = [];
  for (const p of policies) {
    if (p.type !== type || !p.enabled) continue;
    const problems = checkExpression(scheme, p.expression, listTypes);
    const [problem] = problems;
    if (problem !== undefined)
      throw new AnalyticsInputError(`policy "${p.id}": ${problem.message}`);
    const r = scheme.compile(p.expression);
    if (!r.ok) throw new AnalyticsInputError(`policy "${p.id}": ${r.error.render()}`);
    let schedule: ScheduleWindow | undefined;
    if (p.schedule !== undefined) {
      try {
        schedule = new ScheduleWindow(p.schedule);
      } catch (e) {
        throw new AnalyticsInputError(`policy "${p.id}": schedule: ${(e as Error).message}`);
      }
    }
    const responsePhase = type === "dns" && r.value.fields.some((f) => DNS_RESPONSE_FIELDS.has(f));
    const first = type === "http" && p.action === "do_not_inspect";
    compiled.push({
      id: p.id,
      action: p.action,
      filter: r.value,
      schedule,
      responsePhase,
      precedence: p.precedence,
      phase: first ? 0 : responsePhase ? 2 : 1,
    });
  }
  compiled.sort((a, b) => a.phase - b.phase || a.precedence - b.precedence);
  return compiled;
}

class Breakdown {
  total = 0;
  private readonly domains = new Map<string, number>();
  private readonly clients = new Map<string, number>();
  private readonly examples: SimulationExample[] = [];
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Index of the weakest kept example (the one a better candidate replaces). */
  private weakest = 0;

  count(domain: string | null, client: string, n: number): void {
    this.total += n;
    if (domain !== null) this.domains.set(domain, (this.domains.get(domain) ?? 0) + n);
    this.clients.set(client, (this.clients.get(client) ?? 0) + n);
  }

  /** Would an example with this count and time be among the `limit` kept? */
  wants(count: number, lastSeen: number): boolean {
    if (this.examples.length < this.limit) return true;
    const w = this.examples[this.weakest];
    return w === undefined || w.count < count || (w.count === count && w.lastSeen < lastSeen);
  }

  /** Keep the `limit` combinations with the most records (ties: the newest). */
  keep(ex: SimulationExample): void {
    if (this.examples.length < this.limit) this.examples.push(ex);
    else this.examples[this.weakest] = ex;
    if (this.examples.length === this.limit) this.findWeakest();
  }

  private findWeakest(): void {
    let min = 0;
    let weakest: SimulationExample | undefined;
    for (const [i, ex] of this.examples.entries()) {
      if (weakest === undefined || worse(ex, weakest)) {
        min = i;
        weakest = ex;
      }
    }
    this.weakest = min;
  }

  result(): ChangeBreakdown {
    return {
      count: this.total,
      byDomain: topEntries(this.domains, this.limit),
      byClient: topEntries(this.clients, this.limit),
      examples: [...this.examples].sort((a, b) => (worse(a, b) ? 1 : -1)),
    };
  }
}

function worse(a: SimulationExample, b: SimulationExample): boolean {
  return a.count < b.count || (a.count === b.count && a.lastSeen < b.lastSeen);
}

function topEntries(m: ReadonlyMap<string, number>, limit: number): CountEntry[] {
  return [...m]
    .map(([key, count]) => ({ key, count }))
    .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, limit);
}

/** Cached verdicts of the policies that read the same columns, by those columns' values. */
class VerdictGroup {
  /** The policies of the group, with their position in the draft (their verdict's index). */
  readonly members: { i: number; p: DraftPolicy }[] = [];
  fills: [string, FieldSource][] = [];
  private readonly cols: readonly number[];
  private readonly size: number;
  private readonly cache = new Map<string, Uint8Array>();
  private lastKey: string | undefined;
  private last: Uint8Array | undefined;
  private row = -1;

  constructor(cols: readonly number[], size: number) {
    this.cols = cols;
    this.size = size;
  }

  verdicts(
    values: readonly (string | number | null)[],
    row: number,
    evaluate: (g: VerdictGroup, v: Uint8Array) => void,
  ): Uint8Array {
    if (row === this.row && this.last !== undefined) return this.last;
    let key = "";
    let first = true;
    for (const col of this.cols) {
      const v = values[col];
      // \u0001 separates, \u0002 marks null: neither occurs in logged text.
      key += first ? "" : "\u0001";
      key += v === null || v === undefined ? "\u0002" : String(v);
      first = false;
    }
    this.row = row;
    if (key === this.lastKey && this.last !== undefined) return this.last;
    let v = this.cache.get(key);
    if (v === undefined) {
      v = new Uint8Array(this.size);
      evaluate(this, v);
      if (this.cache.size >= 200_000) this.cache.clear();
      this.cache.set(key, v);
    }
    this.lastKey = key;
    this.last = v;
    return v;
  }
}

export async function simulate(
  store: AnalyticsStore,
  req: SimulateRequest,
): Promise<SimulateResult> {
  checkRange(req);
  const limit = req.limit ?? 20;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SIMULATION_LIMIT) {
    throw new AnalyticsInputError(`limit must be 1..${MAX_SIMULATION_LIMIT}`);
  }
  const warnings: string[] = [];
  const lists = buildLists(req.lists ?? [], warnings);
  const listTypes = listTypesOf(req.lists ?? []);
  const kinds: LogKind[] = [
    ...new Set<LogKind>(req.kinds ?? req.policies.map((p) => p.type as LogKind)),
  ].filter((k) => (LOG_KINDS as readonly string[]).includes(k));
  if (kinds.length === 0) kinds.push("dns");

  const blocked = new Breakdown(limit);
  const allowed = new Breakdown(limit);
  const transitions = new Map<string, number>();
  let replayed = 0;
  let combinations = 0;
  let skipped = 0;
  let unchanged = 0;

  for (const kind of kinds) {
    const draft = compileDraft(kind, req.policies, listTypes);
    const sources = FIELD_SOURCES[kind];
    for (const p of draft) {
      const missing = unavailableFields(kind, p.filter.fields);
      if (missing.length > 0) {
        warnings.push(
          `policy "${p.id}" reads ${missing.join(", ")}, which the query log does not record: replayed as missing`,
        );
      }
    }
    const fills: [string, FieldSource][] = [];
    const columns = new Set<ReplayColumn>(["action", "policy_id", "domain", "client"]);
    for (const f of new Set(draft.flatMap((p) => p.filter.fields))) {
      const src = sources[f];
      if (src === undefined) continue;
      fills.push([f, src]);
      for (const c of src.columns) columns.add(c);
    }
    const cols = [...columns];
    const index = new Map<ReplayColumn, number>(cols.map((c, i) => [c, i]));
    let row: ReplayRow | undefined;
    const get = (col: ReplayColumn) => {
      const i = index.get(col);
      return i === undefined || row === undefined ? null : (row.values[i] ?? null);
    };
    const scheme = gatewaySchemes()[kind];
    const ctx = scheme.context(lists);
    const byMinute = draft.some((p) => p.schedule !== undefined);
    const at = (col: ReplayColumn): number => {
      const i = index.get(col);
      if (i === undefined) throw new Error(`internal: the replay does not select ${col}`);
      return i;
    };
    const iA = at("action");
    const iP = at("policy_id");
    const iD = at("domain");
    const iC = at("client");

    // A filter's verdict depends only on the columns its fields come from. Policies are
    // grouped by that column set, and each group's verdicts are computed once per distinct
    // tuple of those columns and cached: a domain-list policy runs once per domain, a
    // source-network policy once per client, whatever the other columns of the row. Fields
    // the log lacks are missing on every row, so they add no column. Rows arrive sorted by
    // domain, so the previous tuple is checked before the cache.
    const groups: VerdictGroup[] = [];
    /** Each draft policy (in order) with the group that caches its verdict. */
    const plan: { i: number; p: DraftPolicy; g: VerdictGroup }[] = [];
    const bySignature = new Map<string, VerdictGroup>();
    for (const [pi, p] of draft.entries()) {
      const cols = new Set<ReplayColumn>();
      for (const f of p.filter.fields) for (const c of sources[f]?.columns ?? []) cols.add(c);
      const sorted = [...cols].sort();
      const sig = sorted.join(",");
      let g = bySignature.get(sig);
      if (g === undefined) {
        g = new VerdictGroup(
          sorted.map((c) => at(c)),
          draft.length,
        );
        bySignature.set(sig, g);
        groups.push(g);
      }
      g.members.push({ i: pi, p });
      plan.push({ i: pi, p, g });
    }
    for (const g of groups) {
      const fields = new Set(g.members.flatMap(({ p }) => p.filter.fields));
      g.fills = fills.filter(([f]) => fields.has(f));
    }
    const evaluate = (g: VerdictGroup, v: Uint8Array) => {
      ctx.reset();
      for (const [field, source] of g.fills) source.fill(ctx, field, get);
      for (const { i, p } of g.members) v[i] = p.filter.execute(ctx) ? 1 : 0;
    };
    let rowNo = 0;

    for await (const chunk of store.replay({
      from: req.from,
      to: req.to,
      ...(req.accountId !== undefined ? { accountId: req.accountId } : {}),
      kinds: [kind],
      columns: cols,
      byMinute,
      chunkRows: CHUNK_ROWS,
      orderByDomain: true,
    })) {
      for (const r of chunk) {
        row = r;
        const logged = String(r.values[iA]);
        if (!DECISIONS.has(logged)) {
          skipped += r.count;
          continue;
        }
        combinations++;
        replayed += r.count;
        rowNo++;
        let match: DraftPolicy | undefined;
        const at = r.minute ?? r.lastTs;
        for (const { i, p, g } of plan) {
          if (p.schedule !== undefined && !p.schedule.isActive(at)) continue;
          if (g.verdicts(r.values, rowNo, evaluate)[i] === 1) {
            match = p;
            break;
          }
        }
        const simulated = match?.action ?? "allow";
        if (simulated === logged) {
          unchanged += r.count;
          continue;
        }
        const target = simulated === "block" ? blocked : logged === "block" ? allowed : undefined;
        if (target !== undefined) {
          const domain = (r.values[iD] as string | null) ?? null;
          const client = String(r.values[iC]);
          target.count(domain, client, r.count);
          // Build an example object only when it would be kept.
          if (target.wants(r.count, r.lastTs)) {
            target.keep({
              kind,
              domain,
              client,
              lastSeen: r.lastTs,
              count: r.count,
              loggedAction: logged,
              loggedPolicyId: (r.values[iP] as string | null) ?? null,
              simulatedAction: simulated,
              simulatedPolicyId: match?.id ?? null,
            });
          }
        } else {
          const key = `${logged}\u0000${simulated}`;
          transitions.set(key, (transitions.get(key) ?? 0) + r.count);
        }
      }
    }
  }

  return {
    from: req.from,
    to: req.to,
    kinds,
    replayed,
    combinations,
    skipped,
    unchanged,
    newlyBlocked: blocked.result(),
    newlyAllowed: allowed.result(),
    otherChanges: [...transitions]
      .map(([k, count]) => {
        const [from = "", to = ""] = k.split("\u0000");
        return { from, to, count };
      })
      .sort((a, b) => b.count - a.count),
    warnings,
  };
}
