// Prometheus metrics for control: its HTTP API (requests by route template and status class,
// latency) and the fleet as control sees it (edges by state, config version and last apply
// latency per edge, latest published version per account, waiting long-polls), computed from the
// database when scraped — nothing per request beyond one counter and one histogram observation —
// and two histograms observed as things happen: how long a publish takes, and how long after a
// publish each edge acknowledges applying the bundle.
// Served at GET /metrics on the API listener to the system account's admins, and optionally on
// a separate listener without auth (`metricsListen`, loopback by default) for Prometheus.

import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AuthMetrics, CredentialKind, FailureReason } from "./auth/authenticate.ts";
import type { Db } from "./context.ts";
import { MetricsText } from "./http/responses.ts";

interface FleetSource {
  readonly db: Db;
  readonly heartbeatIntervalMs: number;
  waitingLongPolls(): number;
}

export class ControlMetrics implements AuthMetrics {
  readonly registry = new Registry();
  readonly #authFailures: Counter<"credential" | "reason">;
  readonly #authThrottled: Counter<"credential" | "by">;
  readonly #requests: Counter<"method" | "route" | "status_class">;
  readonly #duration: Histogram<"route">;
  readonly #publish: Histogram<"result">;
  readonly #apply: Histogram;
  readonly #imports: Counter<"product" | "result">;
  readonly #importUnmapped: Counter<"product">;
  readonly #rollouts: Counter<"outcome">;
  readonly #gateFailures: Counter<"gate">;
  readonly #rolloutStage: Gauge<"account">;
  readonly #policyTests: Counter<"run" | "result">;
  readonly #edgesRefused: Counter<"reason">;

  constructor(fleet: FleetSource) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: "gatehouse_control_" });
    this.#requests = new Counter({
      name: "gatehouse_control_http_requests_total",
      help: "API requests by route template and status class",
      labelNames: ["method", "route", "status_class"] as const,
      registers: [r],
    });
    this.#duration = new Histogram({
      name: "gatehouse_control_http_request_duration_seconds",
      help: "API request latency by route template (long-polls included)",
      labelNames: ["route"] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 35],
      registers: [r],
    });
    this.#authFailures = new Counter({
      name: "gatehouse_control_auth_failures_total",
      help: "Refused credentials by kind (api token, edge credential, join token, dashboard password, dashboard session) and reason (missing, malformed, unknown id, invalid secret, revoked, expired, used, decommissioned edge)",
      labelNames: ["credential", "reason"] as const,
      registers: [r],
    });
    this.#authThrottled = new Counter({
      name: "gatehouse_control_auth_throttled_total",
      help: "Requests answered 429 because their client address or credential id is over the failed-authentication limit",
      labelNames: ["credential", "by"] as const,
      registers: [r],
    });
    this.#imports = new Counter({
      name: "gatehouse_control_imports_total",
      help: "Imports of another product's configuration (POST /import/…) by product and result: created, dry_run, refused (not the product's file), failed (a step the API refused)",
      labelNames: ["product", "result"] as const,
      registers: [r],
    });
    this.#importUnmapped = new Counter({
      name: "gatehouse_control_import_unmapped_items_total",
      help: "Items of imported configurations that have no Gatehouse equivalent (listed with reasons in the import's answer), by product",
      labelNames: ["product"] as const,
      registers: [r],
    });
    this.#rollouts = new Counter({
      name: "gatehouse_control_rollouts_total",
      help: "Staged rollouts that ended, by outcome: completed, failed (a health gate stopped it and rolled back), aborted (by hand), superseded (by an emergency publish)",
      labelNames: ["outcome"] as const,
      registers: [r],
    });
    this.#gateFailures = new Counter({
      name: "gatehouse_control_rollout_gate_failures_total",
      help: "Rollouts stopped by a failed health gate, by gate (servfail_ratio, blocked_ratio, upstream_error_ratio, proxy_error_ratio, p99_latency, config_apply, crash; manual for an abort)",
      labelNames: ["gate"] as const,
      registers: [r],
    });
    this.#rolloutStage = new Gauge({
      name: "gatehouse_control_rollout_stage",
      help: "Index of the stage the account's latest rollout started (0 = the first)",
      labelNames: ["account"] as const,
      registers: [r],
    });
    this.#policyTests = new Counter({
      name: "gatehouse_control_policy_tests_total",
      help: "Policy test cases run, by run (publish: before a publish; check: POST /config/check on the draft; document: on a sent YAML document) and result (passed, failed)",
      labelNames: ["run", "result"] as const,
      registers: [r],
    });
    this.#edgesRefused = new Counter({
      name: "gatehouse_control_edge_requests_refused_total",
      help: "Edge requests (enrolment, heartbeat, config poll) refused by reason: too_old (software older than minimumEdgeVersion)",
      labelNames: ["reason"] as const,
      registers: [r],
    });
    this.#publish = new Histogram({
      name: "gatehouse_control_bundle_publish_duration_seconds",
      help: "Time to publish a config bundle (compile, validate, store, notify) by result: published, unchanged (same content, no new version) or rejected (does not compile)",
      labelNames: ["result"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.#apply = new Histogram({
      name: "gatehouse_control_bundle_apply_latency_seconds",
      help: "Seconds from a bundle's publication to each edge acknowledging that it applied it (one observation per edge and version, on the replica the edge reported to)",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers: [r],
    });
    const edges = new Gauge({
      name: "gatehouse_control_edges",
      help: "Enrolled edges by state (stale: 3 heartbeats missed and not decommissioned)",
      labelNames: ["state"] as const,
      registers: [r],
    });
    const edgeVersion = new Gauge({
      name: "gatehouse_control_edge_config_version",
      help: "Config bundle version each edge reports serving",
      labelNames: ["edge_id"] as const,
      registers: [r],
    });
    const byVersion = new Gauge({
      name: "gatehouse_control_edges_by_version",
      help: "Edges that are not decommissioned by the software version they last reported (unknown: none yet); more than one series per account is version skew",
      labelNames: ["account_id", "version"] as const,
      registers: [r],
    });
    const applyLatency = new Gauge({
      name: "gatehouse_control_edge_apply_latency_seconds",
      help: "Seconds from a bundle's publication to the edge acknowledging it, for the last bundle each edge applied",
      labelNames: ["edge_id"] as const,
      registers: [r],
    });
    const latest = new Gauge({
      name: "gatehouse_control_config_version",
      help: "Latest published config bundle version per account",
      labelNames: ["account_id"] as const,
      registers: [r],
    });
    const subscriptions = new Gauge({
      name: "gatehouse_control_list_subscriptions",
      help: "List subscriptions by state (failing: the last fetch failed or did not parse; the last good copy is kept)",
      labelNames: ["state"] as const,
      registers: [r],
    });
    const waiting = new Gauge({
      name: "gatehouse_control_long_polls_waiting",
      help: "Edge config long-polls currently waiting for a publish",
      registers: [r],
      collect() {
        this.set(fleet.waitingLongPolls());
      },
    });
    void waiting;
    // One query pass refreshes every fleet gauge from the database per scrape (render()),
    // before the registry renders: gauges read in parallel would otherwise race it.
    const refresh = async () => {
      const rows = await fleet.db
        .selectFrom("edges")
        .select([
          "id",
          "account_id",
          "status",
          "software_version",
          "config_version",
          "config_status",
          "last_seen_at",
        ])
        .execute();
      // Bundle history grows with every publish: read only the newest version per account and
      // the creation times of the versions edges last acknowledged.
      const newest = await fleet.db
        .selectFrom("bundles")
        .select(["account_id", (eb) => eb.fn.max("version").as("version")])
        .groupBy("account_id")
        .execute();
      const statusOf = (e: (typeof rows)[number]) =>
        (typeof e.config_status === "string" ? JSON.parse(e.config_status) : e.config_status) as {
          version?: number;
          ok?: boolean;
          at?: string;
        } | null;
      const acked = [
        ...new Set(
          rows.map((e) => statusOf(e)?.version).filter((v): v is number => typeof v === "number"),
        ),
      ];
      const createdAt = new Map<string, number>();
      if (acked.length > 0) {
        const published = await fleet.db
          .selectFrom("bundles")
          .select(["account_id", "version", "created_at"])
          .where("version", "in", acked)
          .execute();
        for (const b of published)
          createdAt.set(`${b.account_id}/${b.version}`, new Date(b.created_at).getTime());
      }
      edges.reset();
      edgeVersion.reset();
      byVersion.reset();
      applyLatency.reset();
      latest.reset();
      for (const b of newest) latest.set({ account_id: b.account_id }, Number(b.version));
      const now = Date.now();
      const counts: Record<string, number> = {
        active: 0,
        draining: 0,
        decommissioned: 0,
        stale: 0,
      };
      for (const e of rows) {
        counts[e.status] = (counts[e.status] ?? 0) + 1;
        const seen = e.last_seen_at === null ? 0 : new Date(e.last_seen_at).getTime();
        if (e.status !== "decommissioned" && now - seen > fleet.heartbeatIntervalMs * 3)
          counts["stale"] = (counts["stale"] ?? 0) + 1;
        if (e.status === "decommissioned") continue;
        byVersion.inc({ account_id: e.account_id, version: e.software_version ?? "unknown" });
        if (e.config_version !== null) edgeVersion.set({ edge_id: e.id }, e.config_version);
        const st = statusOf(e);
        const created =
          st?.ok && st.version !== undefined
            ? createdAt.get(`${e.account_id}/${st.version}`)
            : undefined;
        if (created !== undefined && st?.at)
          applyLatency.set({ edge_id: e.id }, Math.max(0, (Date.parse(st.at) - created) / 1000));
      }
      for (const [state, n] of Object.entries(counts)) edges.set({ state }, n);
      const subs = await fleet.db.selectFrom("list_subscriptions").select(["last_error"]).execute();
      const failing = subs.filter((x) => x.last_error !== null).length;
      subscriptions.set({ state: "ok" }, subs.length - failing);
      subscriptions.set({ state: "failing" }, failing);
    };
    this.#refresh = refresh;
  }

  readonly #refresh: () => Promise<void>;

  /** Count one finished API request (route template, never the raw URL). */
  observe(method: string, route: string, status: number, seconds: number): void {
    this.#requests.inc({ method, route, status_class: `${Math.floor(status / 100)}xx` });
    this.#duration.observe({ route }, seconds);
  }

  failure(credential: CredentialKind, reason: FailureReason): void {
    this.#authFailures.inc({ credential, reason });
  }

  throttled(credential: CredentialKind, by: "address" | "credential"): void {
    this.#authThrottled.inc({ credential, by });
  }

  /** One import through the API, and how many of its items could not be mapped. */
  observeImport(
    product: string,
    result: "created" | "dry_run" | "refused" | "failed",
    unmapped = 0,
  ): void {
    this.#imports.inc({ product, result });
    if (unmapped > 0) this.#importUnmapped.inc({ product }, unmapped);
  }

  /** One publish attempt and how long it took. */
  countPolicyTests(run: "publish" | "check" | "document", passed: number, failed: number): void {
    if (passed > 0) this.#policyTests.inc({ run, result: "passed" }, passed);
    if (failed > 0) this.#policyTests.inc({ run, result: "failed" }, failed);
  }

  observePublish(result: "published" | "unchanged" | "rejected", seconds: number): void {
    this.#publish.observe({ result }, seconds);
  }

  /** An edge request refused for what the edge is (too old), not for its credential. */
  edgeRefused(reason: "too_old"): void {
    this.#edgesRefused.inc({ reason });
  }

  rolloutFinished(outcome: string): void {
    this.#rollouts.inc({ outcome });
  }

  gateFailed(gate: string): void {
    this.#gateFailures.inc({ gate });
  }

  stageStarted(accountId: string, stage: number): void {
    this.#rolloutStage.set({ account: accountId }, stage);
  }

  /** An edge acknowledged applying a bundle `seconds` after it was published. */
  observeApply(seconds: number): void {
    this.#apply.observe(Math.max(0, seconds));
  }

  async render(): Promise<{ contentType: string; body: string }> {
    await this.#refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Hooks and the GET /metrics route (system admins only) on the API app. */
export function registerMetrics(app: FastifyInstance, metrics: ControlMetrics): void {
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    metrics.observe(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get(
    "/metrics",
    {
      config: { access: "system" },
      schema: {
        tags: ["metrics"],
        summary: "Prometheus metrics (system account admins)",
        hide: false,
        response: { 200: MetricsText },
      },
    },
    async (_req, reply) => {
      const { contentType, body } = await metrics.render();
      return reply.header("content-type", contentType).send(body);
    },
  );
}
