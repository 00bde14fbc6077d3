// Staged rollouts with health gates. With a rollout plan, a publish first pins every edge that
// follows the latest at the version it runs (the "held" edges), stores the new version, then
// releases the plan's stages one after another: a stage's edges are unpinned (they take the new
// version like any publish), and once all of them report running it, its bake starts. When the
// bake is over the gates compare the counters the stage's edges reported in their heartbeats
// during the bake with the held edges' (old version) over the same window, or, without enough
// old-version traffic, with the stage's own counters before the bake. A failed gate (or a
// rejected bundle, or a restarted or silent edge) rolls the configuration back (the previous
// version's content published as the next version) and releases every held edge: they go from
// the previous version straight to the rollback, so the bad version never reaches them.
// Without a plan publishing goes to every edge at once, as before. One control replica drives
// the rollouts (the one that published); state is in the database so the API shows it.

import {
  GatehouseError,
  type GateResult,
  type RolloutGates,
  type RolloutPlan,
  type RolloutState,
  type RolloutView,
} from "@gatehouse/contract";
import type { FastifyBaseLogger } from "fastify";
import { audit } from "../audit.ts";
import type { Db } from "../context.ts";
import { newId } from "../ids.ts";
import type { Publisher } from "./publisher.ts";

/** What the publisher asks of rollouts (kept narrow so the publisher does not import this). */
export interface Stager {
  /** Pin the edges following the latest at `previous`; undefined when no plan applies. */
  hold(accountId: string, previous: number): Promise<string[] | undefined>;
  /** The publish stored `version`: start its rollout with the edges `held`. */
  start(
    accountId: string,
    previous: number,
    version: number,
    actor: string,
    held: string[],
  ): Promise<void>;
  /** Undo `hold` (the publish failed or changed nothing). */
  release(accountId: string, previous: number, held: string[], version: number): Promise<void>;
  /** An emergency publish: the account's running rollout is superseded, its edges released. */
  supersede(accountId: string, actor: string): Promise<void>;
}

export interface RolloutMetrics {
  rolloutFinished(outcome: RolloutState): void;
  gateFailed(gate: string): void;
  stageStarted(accountId: string, stage: number): void;
}

type Counters = Record<string, number>;

interface Snapshot {
  readonly counters: Record<string, Counters>;
  readonly uptime: Record<string, number>;
  readonly reference: Record<string, Counters>;
}

interface StageState {
  name: string;
  edgeIds: string[];
  startedAt: string | null;
  bakeStartedAt: string | null;
  finishedAt: string | null;
  gates: GateResult[];
  snapshot?: Snapshot;
}

interface Rollout {
  id: string;
  accountId: string;
  version: number;
  previous: number;
  state: RolloutState;
  stage: number;
  plan: RolloutPlan;
  held: string[];
  stages: StageState[];
  failure: { gate: string; message: string; rollbackVersion: number | null } | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

const DEFAULT_GATES: Required<RolloutGates> = {
  minQueries: 100,
  servfailRatioMax: 0.05,
  servfailRatioDelta: 0.02,
  blockedRatioMax: 0.5,
  blockedRatioDelta: 0.2,
  upstreamErrorRatioMax: 0.05,
  upstreamErrorRatioDelta: 0.02,
  proxyErrorRatioMax: 0.05,
  proxyErrorRatioDelta: 0.02,
  minProxyRequests: 100,
  p99LatencyMsMax: 500,
  p99LatencyFactor: 2,
};

/** How long a stage's edges have to report running the new version. */
const APPLY_TIMEOUT_MS = 120_000;
const ACTIVE: readonly RolloutState[] = ["baking", "paused"];

const json = <T>(v: unknown): T => (typeof v === "string" ? JSON.parse(v) : v) as T;

interface EdgeRow {
  id: string;
  status: string;
  labels: Record<string, string>;
  config_version: number | null;
  config_status: { version?: number; ok?: boolean; error?: { message?: string } } | null;
  counters: Counters;
  uptime_seconds: number | null;
  last_seen_at: Date | null;
  pinned_version: number | null;
}

function sumDelta(
  ids: readonly string[],
  now: Map<string, EdgeRow>,
  then: Record<string, Counters>,
  key: string,
): number {
  let t = 0;
  for (const id of ids) {
    const a = then[id];
    const b = now.get(id)?.counters;
    if (!a || !b) continue;
    t += Math.max(0, (b[key] ?? 0) - (a[key] ?? 0));
  }
  return t;
}

function sumAt(ids: readonly string[], at: Record<string, Counters>, key: string): number {
  let t = 0;
  for (const id of ids) t += at[id]?.[key] ?? 0;
  return t;
}

const pct = (x: number | null) => (x === null ? "n/a" : `${(x * 100).toFixed(1)} %`);

/** The gates of one stage at the end of its bake. */
export function judge(
  gates: Required<RolloutGates>,
  stageIds: readonly string[],
  referenceIds: readonly string[],
  snap: Snapshot,
  now: Map<string, EdgeRow>,
): GateResult[] {
  const out: GateResult[] = [];
  const ratio = (
    gate: string,
    num: string,
    den: string,
    min: number,
    max: number,
    delta: number,
  ) => {
    const n = sumDelta(stageIds, now, snap.counters, den);
    const value = n > 0 ? sumDelta(stageIds, now, snap.counters, num) / n : null;
    const refN = sumDelta(referenceIds, now, snap.reference, den);
    let reference: number | null = null;
    let against = "no reference";
    if (refN >= min) {
      reference = sumDelta(referenceIds, now, snap.reference, num) / refN;
      against = "edges on the previous version";
    } else {
      const ownN = sumAt(stageIds, snap.counters, den);
      if (ownN >= min) {
        reference = sumAt(stageIds, snap.counters, num) / ownN;
        against = "the same edges before the change";
      }
    }
    const threshold = Math.max(max, (reference ?? 0) + delta);
    if (value === null || n < min) {
      out.push({
        gate,
        ok: true,
        value,
        reference,
        threshold,
        detail: `not judged: ${n} ${den} during the bake (fewer than ${min})`,
      });
      return;
    }
    const ok = value <= threshold;
    out.push({
      gate,
      ok,
      value,
      reference,
      threshold,
      detail: `${pct(value)} over ${n} ${den} (${against}: ${pct(reference)}; limit ${pct(threshold)})`,
    });
  };
  ratio(
    "servfail_ratio",
    "dns.servfail",
    "dns.queries",
    gates.minQueries,
    gates.servfailRatioMax,
    gates.servfailRatioDelta,
  );
  ratio(
    "blocked_ratio",
    "dns.blocked",
    "dns.queries",
    gates.minQueries,
    gates.blockedRatioMax,
    gates.blockedRatioDelta,
  );
  ratio(
    "upstream_error_ratio",
    "dns.upstream_errors",
    "dns.queries",
    gates.minQueries,
    gates.upstreamErrorRatioMax,
    gates.upstreamErrorRatioDelta,
  );
  ratio(
    "proxy_error_ratio",
    "proxy.errors",
    "proxy.requests",
    gates.minProxyRequests,
    gates.proxyErrorRatioMax,
    gates.proxyErrorRatioDelta,
  );
  // p99 answer latency: the edges' own histogram (since their start), worst edge, against the
  // edges on the previous version and the same edges when the bake started.
  const worst = (ids: readonly string[], at: (id: string) => Counters | undefined) => {
    let w: number | null = null;
    for (const id of ids) {
      const v = at(id)?.["dns.p99_us"];
      if (v !== undefined) w = Math.max(w ?? 0, v / 1000);
    }
    return w;
  };
  const p99 = worst(stageIds, (id) => now.get(id)?.counters);
  const oldP99 = worst(referenceIds, (id) => now.get(id)?.counters);
  const ownP99 = worst(stageIds, (id) => snap.counters[id]);
  const refP99 = oldP99 === null && ownP99 === null ? null : Math.max(oldP99 ?? 0, ownP99 ?? 0);
  const limit = Math.max(gates.p99LatencyMsMax, (refP99 ?? 0) * gates.p99LatencyFactor);
  out.push({
    gate: "p99_latency",
    ok: p99 === null || p99 <= limit,
    value: p99,
    reference: refP99,
    threshold: limit,
    detail:
      p99 === null
        ? "not judged: no answers timed"
        : `${p99.toFixed(1)} ms (previous version: ${oldP99 === null ? "n/a" : `${oldP99.toFixed(1)} ms`}, same edges before: ${ownP99 === null ? "n/a" : `${ownP99.toFixed(1)} ms`}; limit ${limit.toFixed(1)} ms)`,
  });
  return out;
}

export interface RolloutOptions {
  readonly log: FastifyBaseLogger;
  readonly metrics?: RolloutMetrics;
  /** How often running rollouts are looked at, ms. */
  readonly tickMs?: number;
  /** An edge silent for longer than this counts as crashed, ms. */
  readonly staleAfterMs: number;
}

export class RolloutManager implements Stager {
  readonly #db: Db;
  readonly #publisher: Publisher;
  readonly #o: RolloutOptions;
  /** Running rollouts by account (at most one each). */
  readonly #active = new Map<string, Rollout>();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #closed = false;

  constructor(db: Db, publisher: Publisher, o: RolloutOptions) {
    this.#db = db;
    this.#publisher = publisher;
    this.#o = o;
  }

  /** Resume the rollouts a previous run left running. */
  async load(): Promise<void> {
    const rows = await this.#db
      .selectFrom("rollouts")
      .selectAll()
      .where("state", "in", [...ACTIVE])
      .execute();
    for (const r of rows) this.#active.set(r.account_id, this.#fromRow(r));
    this.#arm();
  }

  #fromRow(r: {
    id: string;
    account_id: string;
    version: number;
    previous_version: number;
    state: string;
    stage: number;
    plan: unknown;
    held: unknown;
    stages: unknown;
    failure: unknown;
    created_by: string;
    created_at: Date;
    updated_at: Date;
  }): Rollout {
    return {
      id: r.id,
      accountId: r.account_id,
      version: r.version,
      previous: r.previous_version,
      state: r.state as RolloutState,
      stage: r.stage,
      plan: json(r.plan),
      held: json(r.held),
      stages: json(r.stages),
      failure: json(r.failure ?? null),
      createdBy: r.created_by,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  static view(r: Rollout): RolloutView {
    return {
      id: r.id,
      version: r.version,
      previousVersion: r.previous,
      state: r.state,
      stage: r.stage,
      plan: r.plan,
      stages: r.stages.map(({ snapshot: _s, ...s }) => s),
      heldEdgeIds: r.held,
      failure: r.failure,
      createdBy: r.createdBy,
      createdAt: r.createdAt.toISOString(),
      updatedAt: r.updatedAt.toISOString(),
    };
  }

  async plan(accountId: string): Promise<RolloutPlan | undefined> {
    const row = await this.#db
      .selectFrom("rollout_plans")
      .select(["plan"])
      .where("account_id", "=", accountId)
      .executeTakeFirst();
    return row ? json<RolloutPlan>(row.plan) : undefined;
  }

  async list(accountId: string, limit: number): Promise<RolloutView[]> {
    const rows = await this.#db
      .selectFrom("rollouts")
      .selectAll()
      .where("account_id", "=", accountId)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => {
      const active = this.#active.get(r.account_id);
      return RolloutManager.view(active?.id === r.id ? active : this.#fromRow(r));
    });
  }

  async get(accountId: string, id: string): Promise<RolloutView | undefined> {
    const a = this.#active.get(accountId);
    if (a?.id === id) return RolloutManager.view(a);
    const r = await this.#db
      .selectFrom("rollouts")
      .selectAll()
      .where("account_id", "=", accountId)
      .where("id", "=", id)
      .executeTakeFirst();
    return r ? RolloutManager.view(this.#fromRow(r)) : undefined;
  }

  async hold(accountId: string, previous: number): Promise<string[] | undefined> {
    const running = this.#active.get(accountId);
    if (running)
      throw new GatehouseError(
        "GH_ERR_CONFLICT",
        `rollout ${running.id} of version ${running.version} is in progress: promote or abort it, wait for it to finish, or publish with emergency: true`,
        { rolloutId: running.id },
      );
    if (!(await this.plan(accountId))) return undefined;
    return this.#db.transaction().execute(async (trx) => {
      const rows = await trx
        .updateTable("edges")
        .set({ pinned_version: previous, updated_at: new Date() })
        .where("account_id", "=", accountId)
        .where("status", "!=", "decommissioned")
        .where("pinned_version", "is", null)
        .returning(["id"])
        .execute();
      for (const r of rows) await this.#publisher.notifyPin(trx, accountId, r.id, previous);
      for (const r of rows) this.#publisher.pinChanged(accountId, r.id, previous, previous);
      return rows.map((r) => r.id).sort();
    });
  }

  async release(
    accountId: string,
    previous: number,
    held: string[],
    version: number,
  ): Promise<void> {
    if (held.length === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      const rows = await trx
        .updateTable("edges")
        .set({ pinned_version: null, updated_at: new Date() })
        .where("account_id", "=", accountId)
        .where("id", "in", held)
        .where("pinned_version", "=", previous)
        .returning(["id"])
        .execute();
      for (const r of rows) await this.#publisher.notifyPin(trx, accountId, r.id, version);
      for (const r of rows) this.#publisher.pinChanged(accountId, r.id, null, version);
    });
  }

  async start(
    accountId: string,
    previous: number,
    version: number,
    actor: string,
    held: string[],
  ): Promise<void> {
    const plan = await this.plan(accountId);
    if (plan === undefined) {
      // The plan was deleted after `hold`: nothing to stage, the held edges take the version.
      await this.release(accountId, previous, held, version);
      return;
    }
    const now = new Date();
    const r: Rollout = {
      id: newId("ro"),
      accountId,
      version,
      previous,
      state: "baking",
      stage: 0,
      plan,
      held,
      stages: plan.stages.map((s) => ({
        name: s.name,
        edgeIds: [],
        startedAt: null,
        bakeStartedAt: null,
        finishedAt: null,
        gates: [],
      })),
      failure: null,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    };
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto("rollouts")
        .values({
          id: r.id,
          account_id: accountId,
          version,
          previous_version: previous,
          state: r.state,
          stage: 0,
          plan: JSON.stringify(plan),
          held: JSON.stringify(held),
          stages: JSON.stringify(r.stages),
          created_by: actor,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await audit(trx, {
        accountId,
        actor,
        resource: "rollout",
        resourceId: r.id,
        action: "start",
        after: {
          version,
          previousVersion: previous,
          heldEdges: held.length,
          stages: plan.stages.map((s) => s.name),
        },
      });
    });
    this.#active.set(accountId, r);
    await this.#startStage(r, 0);
    this.#arm();
  }

  async supersede(accountId: string, actor: string): Promise<void> {
    const r = this.#active.get(accountId);
    if (!r) return;
    await this.#end(r, "superseded", actor, null);
  }

  /** Pause, resume, promote (end the current stage now, gates not judged) or abort. */
  async act(
    accountId: string,
    id: string,
    action: "pause" | "resume" | "promote" | "abort",
    actor: string,
  ): Promise<RolloutView> {
    const r = this.#active.get(accountId);
    if (!r || r.id !== id) {
      const done = await this.get(accountId, id);
      if (!done) throw new GatehouseError("GH_ERR_NOT_FOUND", `rollout ${id} not found`);
      throw new GatehouseError("GH_ERR_CONFLICT", `rollout ${id} is ${done.state}`);
    }
    if (action === "pause") {
      if (r.state !== "paused") {
        r.state = "paused";
        await this.#save(r, actor, "pause", {});
      }
    } else if (action === "resume") {
      if (r.state === "paused") {
        r.state = "baking";
        await this.#save(r, actor, "resume", {});
      }
    } else if (action === "promote") {
      await this.#save(r, actor, "promote", { stage: r.plan.stages[r.stage]?.name });
      await this.#nextStage(r, new Date());
    } else {
      await this.#fail(r, actor, "manual", `aborted by ${actor}`);
    }
    return RolloutManager.view(r);
  }

  async #edges(accountId: string): Promise<Map<string, EdgeRow>> {
    const rows = await this.#db
      .selectFrom("edges")
      .select([
        "id",
        "status",
        "labels",
        "config_version",
        "config_status",
        "counters",
        "uptime_seconds",
        "last_seen_at",
        "pinned_version",
      ])
      .where("account_id", "=", accountId)
      .execute();
    return new Map(
      rows.map((e) => [
        e.id,
        {
          ...e,
          labels: json<Record<string, string>>(e.labels ?? {}),
          counters: json<Counters>(e.counters ?? {}),
          config_status: json(e.config_status ?? null),
        } as EdgeRow,
      ]),
    );
  }

  /** Choose stage `i`'s edges among the held ones and release them. */
  async #startStage(r: Rollout, i: number): Promise<void> {
    const { state: s, spec } = stageAt(r, i);
    const edges = await this.#edges(r.accountId);
    const all = r.plan.stages.length;
    const total = r.held.length + r.stages.reduce((n, s) => n + s.edgeIds.length, 0);
    let chosen: string[];
    if (spec.labels || spec.edgeIds) {
      const ids = new Set(spec.edgeIds ?? []);
      chosen = r.held.filter((id) => {
        if (ids.has(id)) return true;
        const labels = edges.get(id)?.labels ?? {};
        return (
          spec.labels !== undefined &&
          Object.entries(spec.labels).every(([k, v]) => labels[k] === v)
        );
      });
    } else if (spec.percent !== undefined && i < all - 1) {
      const released = total - r.held.length;
      const want = Math.ceil((spec.percent / 100) * total) - released;
      chosen = r.held.slice(0, Math.max(0, want));
    } else chosen = [...r.held];
    s.edgeIds = chosen;
    s.startedAt = new Date().toISOString();
    r.stage = i;
    r.held = r.held.filter((id) => !chosen.includes(id));
    await this.release(r.accountId, r.previous, chosen, r.version);
    await this.#save(r, "rollout", "stage-start", { stage: spec.name, edges: chosen });
    this.#o.metrics?.stageStarted(r.accountId, i);
  }

  async #nextStage(r: Rollout, now: Date): Promise<void> {
    stageAt(r, r.stage).state.finishedAt = now.toISOString();
    if (r.stage + 1 < r.stages.length) await this.#startStage(r, r.stage + 1);
    else {
      // Edges enrolled during the rollout were pinned by nothing; anything left is released.
      await this.release(r.accountId, r.previous, r.held, r.version);
      r.held = [];
      await this.#end(r, "completed", "rollout", null);
    }
  }

  async #save(
    r: Rollout,
    actor: string,
    action: string,
    after: Record<string, unknown>,
  ): Promise<void> {
    r.updatedAt = new Date();
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable("rollouts")
        .set({
          state: r.state,
          stage: r.stage,
          held: JSON.stringify(r.held),
          stages: JSON.stringify(r.stages),
          failure: r.failure === null ? null : JSON.stringify(r.failure),
          updated_at: r.updatedAt,
        })
        .where("id", "=", r.id)
        .execute();
      await audit(trx, {
        accountId: r.accountId,
        actor,
        resource: "rollout",
        resourceId: r.id,
        action,
        after: { version: r.version, state: r.state, ...after },
      });
    });
  }

  async #end(
    r: Rollout,
    state: RolloutState,
    actor: string,
    failure: Rollout["failure"],
  ): Promise<void> {
    r.state = state;
    r.failure = failure;
    if (state !== "completed") {
      await this.release(r.accountId, r.previous, r.held, r.version);
      r.held = [];
    }
    this.#active.delete(r.accountId);
    await this.#save(r, actor, state, failure ? { failure } : {});
    this.#o.metrics?.rolloutFinished(state);
  }

  /** Roll back to the previous version, then release every held edge to the rollback. */
  async #fail(r: Rollout, actor: string, gate: string, message: string): Promise<void> {
    this.#o.metrics?.gateFailed(gate);
    this.#o.log.warn({ rolloutId: r.id, gate, version: r.version }, `rollout stopped: ${message}`);
    let rollbackVersion: number | null = null;
    try {
      rollbackVersion = (await this.#publisher.rollback(r.accountId, `rollout:${r.id}`, r.previous))
        .version;
    } catch (e) {
      this.#o.log.error({ rolloutId: r.id, err: e }, "rollout: rolling back failed");
    }
    await this.#end(r, gate === "manual" ? "aborted" : "failed", actor, {
      gate,
      message,
      rollbackVersion,
    });
  }

  #arm(): void {
    if (this.#timer || this.#closed || this.#active.size === 0) return;
    this.#timer = setInterval(() => void this.tick(), this.#o.tickMs ?? 500);
    this.#timer.unref();
  }

  /** Look at every running rollout once (exported for tests; the timer calls it). */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      for (const r of [...this.#active.values()]) {
        if (r.state !== "baking") continue;
        try {
          await this.#step(r);
        } catch (e) {
          this.#o.log.error({ rolloutId: r.id, err: e }, "rollout step failed");
        }
      }
    } finally {
      this.#ticking = false;
      if (this.#active.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    }
  }

  async #step(r: Rollout): Promise<void> {
    const { state: s, spec } = stageAt(r, r.stage);
    const now = new Date();
    const edges = await this.#edges(r.accountId);
    // The stage's edges still serving (one gone from the table, like a decommissioned one, not).
    const liveEdges: [string, EdgeRow][] = [];
    for (const id of s.edgeIds) {
      const e = edges.get(id);
      if (e !== undefined && e.status !== "decommissioned") liveEdges.push([id, e]);
    }
    const live = liveEdges.map(([id]) => id);
    for (const [id, e] of liveEdges) {
      const st = e.config_status;
      if (st && st.ok === false && st.version === r.version)
        return this.#fail(
          r,
          "rollout",
          "config_apply",
          `edge ${id} rejected version ${r.version}: ${st.error?.message ?? "no reason given"}`,
        );
    }
    if (s.bakeStartedAt === null) {
      const behind = liveEdges
        .filter(([, e]) => (e.config_version ?? 0) < r.version)
        .map(([id]) => id);
      if (behind.length > 0) {
        if (s.startedAt === null)
          throw new Error(`internal: rollout ${r.id} is at stage ${r.stage}, never started`);
        if (now.getTime() - Date.parse(s.startedAt) > APPLY_TIMEOUT_MS)
          return this.#fail(
            r,
            "rollout",
            "config_apply",
            `${behind.length} edge(s) of stage ${spec.name} did not report running version ${r.version} within ${APPLY_TIMEOUT_MS / 1000} s: ${behind.slice(0, 5).join(", ")}`,
          );
        return;
      }
      const snap: Snapshot = { counters: {}, uptime: {}, reference: {} };
      for (const [id, e] of liveEdges) {
        snap.counters[id] = { ...e.counters };
        snap.uptime[id] = e.uptime_seconds ?? 0;
      }
      for (const id of r.held) {
        const e = edges.get(id);
        if (e && e.status === "active") snap.reference[id] = { ...e.counters };
      }
      s.snapshot = snap;
      s.bakeStartedAt = now.toISOString();
      await this.#save(r, "rollout", "bake-start", { stage: spec.name });
      return;
    }
    const snap = s.snapshot;
    if (snap === undefined)
      throw new Error(`internal: rollout ${r.id} stage ${r.stage} bakes without a snapshot`);
    for (const [id, e] of liveEdges) {
      const silent =
        e.last_seen_at === null || now.getTime() - e.last_seen_at.getTime() > this.#o.staleAfterMs;
      const restarted = (e.uptime_seconds ?? 0) < (snap.uptime[id] ?? 0);
      if (silent || restarted)
        return this.#fail(
          r,
          "rollout",
          "crash",
          `edge ${id} ${restarted ? `restarted (uptime ${e.uptime_seconds} s, was ${snap.uptime[id]} s)` : "stopped sending heartbeats"} while running version ${r.version}`,
        );
    }
    if (now.getTime() - Date.parse(s.bakeStartedAt) < spec.bakeSeconds * 1000) return;
    const gates = { ...DEFAULT_GATES, ...r.plan.gates };
    s.gates = judge(gates, live, Object.keys(snap.reference), snap, edges);
    const failed = s.gates.find((g) => !g.ok);
    if (failed)
      return this.#fail(
        r,
        "rollout",
        failed.gate,
        `stage ${spec.name}: ${failed.gate} ${failed.detail}`,
      );
    await this.#nextStage(r, now);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Stage `i` of a rollout, as it runs and as planned (a rollout has one state per plan stage). */
function stageAt(
  r: Rollout,
  i: number,
): { state: StageState; spec: RolloutPlan["stages"][number] } {
  const state = r.stages[i];
  const spec = r.plan.stages[i];
  if (state === undefined || spec === undefined)
    throw new Error(`internal: rollout ${r.id} has no stage ${i} (${r.stages.length} stages)`);
  return { state, spec };
}
