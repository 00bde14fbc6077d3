// Edges: enrolment with a one-time join token, the edge-facing API (config long-poll,
// heartbeats, config status) and the admin view (list, drain, activate, decommission).

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  ConfigBundle,
  compareVersions,
  EDGE_FOLLOWING_HEADER,
  EDGE_SERVING,
  EDGE_STATUS_HEADER,
  EDGE_VERSION_HEADER,
  EdgeEndpoints,
  EdgeEnrolled,
  EdgeLabels,
  EdgeVersionsView,
  EdgeView,
  GatehouseError,
  HeartbeatAnswer,
  JoinTokenCreated,
  Page,
} from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Selectable } from "kysely";
import { audit } from "../audit.ts";
import { issueSecret, tokenId } from "../auth/tokens.ts";
import { sendBundle } from "../bundle/publisher.ts";
import { actorOf, type Db, type EdgePrincipal } from "../context.ts";
import type { EdgesTable } from "../db/schema.ts";
import { decodeCursor, iso, PageQuery, page } from "../http/conventions.ts";
import { notFound } from "../http/errors.ts";
import { NoContent, NotModified } from "../http/responses.ts";
import { revokeIntermediates } from "../tls/intermediate.ts";
import { IdParams, type IdRequest, who } from "./common.ts";

const JoinTokenCreate = T.Object(
  {
    ttlSeconds: T.Optional(T.Integer({ minimum: 60, maximum: 30 * 86400, default: 3600 })),
    /** Labels every edge enrolled with the token gets (rollout stages select by them). */
    labels: T.Optional(EdgeLabels),
    /** How many edges may enrol with it (a fleet of identical machines: one token). */
    uses: T.Optional(T.Integer({ minimum: 1, maximum: 10_000, default: 1 })),
    /**
     * A decommissioned edge's id: the machine that enrols with this token takes over its name
     * and labels (one use).
     */
    replaces: T.Optional(T.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);
const Version = T.String({ minLength: 1, maxLength: 64 });
const EnrollBody = T.Object(
  {
    joinToken: T.String({ minLength: 1, maxLength: 200 }),
    name: T.String({ minLength: 1, maxLength: 200, pattern: "^[A-Za-z0-9_.:-]+$" }),
    /** The edge's software version (refused below control's minimumEdgeVersion). */
    version: T.Optional(Version),
  },
  { additionalProperties: false },
);
const ConfigQuery = T.Object(
  { after: T.Optional(T.Integer({ minimum: 0, default: 0 })) },
  { additionalProperties: false },
);
const Counter = T.Integer({ minimum: 0 });
const HeartbeatBody = T.Object(
  {
    /** The edge's software version. */
    version: Version,
    /** serving, draining (closing its listeners) or drained (closed, connections finished). */
    serving: T.Optional(T.Union(EDGE_SERVING.map((x) => T.Literal(x)))),
    /** Bundle version the edge is serving (0 = none yet). */
    configVersion: T.Integer({ minimum: 0 }),
    uptimeSeconds: T.Integer({ minimum: 0 }),
    counters: T.Optional(
      T.Record(T.String({ pattern: "^[a-z0-9_.]{1,64}$" }), Counter, { maxProperties: 64 }),
    ),
    /** What the edge serves (listeners, certificate, public name); older edges leave it out. */
    endpoints: T.Optional(EdgeEndpoints),
  },
  { additionalProperties: false },
);
const ConfigStatusBody = T.Object(
  {
    version: T.Integer({ minimum: 0 }),
    ok: T.Boolean(),
    error: T.Optional(
      T.Object({
        message: T.String({ maxLength: 4000 }),
        problems: T.Optional(
          T.Array(
            T.Object({
              path: T.String({ maxLength: 200 }),
              message: T.String({ maxLength: 2000 }),
            }),
            { maxItems: 50 },
          ),
        ),
      }),
    ),
  },
  { additionalProperties: false },
);

const PinBody = T.Object(
  { version: T.Integer({ minimum: 1, maximum: 2_000_000_000 }) },
  { additionalProperties: false },
);

/** The audit action for each status an admin can set. */
const ACTION_OF_STATUS = {
  active: "activate",
  draining: "drain",
  decommissioned: "decommission",
} as const;

/** A jsonb labels column as an object ({} when null). */
function parseLabels(v: unknown): Record<string, string> {
  const o = typeof v === "string" ? JSON.parse(v) : v;
  return o && typeof o === "object" ? (o as Record<string, string>) : {};
}

/** A jsonb column's value (null when null; pglite may hand back text). */
function parseJson(v: unknown): unknown {
  return typeof v === "string" ? JSON.parse(v) : (v ?? null);
}

function edgeOf(req: FastifyRequest): EdgePrincipal {
  if (!req.edge) throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "not authenticated");
  return req.edge;
}

export async function edgeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, auth, publisher, notifier, options, metrics } = app.gatehouse;
  const staleAfterMs = options.heartbeatIntervalMs * 3;
  const minimum = options.minimumEdgeVersion;
  /** Below control's minimumEdgeVersion (false without one, or before the edge reported one). */
  const tooOld = (version: string | null | undefined): boolean =>
    minimum !== undefined && version != null && compareVersions(version, minimum) < 0;
  /** Refuse (426, counted) an edge whose software is older than minimumEdgeVersion. */
  const refuseOld = (version: string | null | undefined): void => {
    if (!tooOld(version)) return;
    metrics.edgeRefused("too_old");
    throw new GatehouseError(
      "GH_ERR_EDGE_TOO_OLD",
      `this edge runs gatehouse ${version}; control serves edges at ${minimum} or later (minimumEdgeVersion): upgrade it`,
      { version, minimumEdgeVersion: minimum },
    );
  };
  /** The version an edge request says (header), else the one it last reported (heartbeat). */
  const versionOf = async (req: FastifyRequest, edgeId: string) => {
    const h = req.headers[EDGE_VERSION_HEADER];
    if (typeof h === "string" && h.length > 0 && h.length <= 64) return h;
    if (minimum === undefined) return undefined;
    const row = await db
      .selectFrom("edges")
      .select(["software_version"])
      .where("id", "=", edgeId)
      .executeTakeFirst();
    return row?.software_version ?? undefined;
  };
  const view = (e: Selectable<EdgesTable>, now: number) => ({
    id: e.id,
    name: e.name,
    status: e.status,
    softwareVersion: e.software_version,
    configVersion: e.config_version,
    uptimeSeconds: e.uptime_seconds,
    counters: (e.counters ?? {}) as EdgeView["counters"],
    configStatus: (e.config_status ?? null) as EdgeView["configStatus"],
    /** The version this edge is held at; null: it follows the latest. */
    pinnedVersion: e.pinned_version,
    labels: parseLabels(e.labels),
    serving: (e.serving ?? null) as EdgeView["serving"],
    endpoints: parseJson(e.endpoints) as EdgeView["endpoints"],
    tooOld: tooOld(e.software_version),
    replaces: e.replaces,
    lastSeenAt: iso(e.last_seen_at),
    /** Three missed heartbeats. */
    stale:
      e.status !== "decommissioned" &&
      (e.last_seen_at === null || now - e.last_seen_at.getTime() > staleAfterMs),
    enrolledAt: iso(e.enrolled_at),
  });

  app.post(
    "/edges/join-tokens",
    {
      config: { access: "admin" },
      schema: {
        tags: ["edges"],
        summary: "A one-time join token for enrolling an edge (shown once)",
        body: JoinTokenCreate,
        response: { 201: JoinTokenCreated },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      if (b.replaces !== undefined && (b.uses ?? 1) !== 1)
        throw new GatehouseError(
          "GH_ERR_VALIDATION",
          "a join token that replaces an edge has one use",
          { path: "/uses" },
        );
      const issued = await issueSecret("join");
      const expiresAt = new Date(Date.now() + (b.ttlSeconds ?? 3600) * 1000);
      const uses = b.uses ?? 1;
      const labels = b.labels ?? {};
      await db.transaction().execute(async (trx) => {
        if (b.replaces !== undefined) {
          const old = await trx
            .selectFrom("edges")
            .select(["status"])
            .where("account_id", "=", p.accountId)
            .where("id", "=", b.replaces)
            .executeTakeFirst();
          if (!old) throw notFound("edge");
          if (old.status !== "decommissioned")
            throw new GatehouseError(
              "GH_ERR_CONFLICT",
              "only a decommissioned edge can be replaced: decommission it first (DELETE /edges/{id})",
            );
        }
        await trx
          .insertInto("join_tokens")
          .values({
            id: issued.id,
            account_id: p.accountId,
            secret_hash: issued.hash,
            expires_at: expiresAt,
            created_by: actorOf(p),
            max_uses: uses,
            labels: b.labels ? JSON.stringify(b.labels) : null,
            replaces: b.replaces ?? null,
          })
          .execute();
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "join-token",
          resourceId: issued.id,
          action: "create",
          after: {
            expiresAt: expiresAt.toISOString(),
            uses,
            labels,
            ...(b.replaces !== undefined ? { replaces: b.replaces } : {}),
          },
        });
      });
      return reply.status(201).send({
        id: issued.id,
        joinToken: issued.secret,
        expiresAt: expiresAt.toISOString(),
        uses,
        labels,
        replaces: b.replaces ?? null,
      });
    },
  );

  app.post(
    "/edge/enroll",
    {
      config: { access: "public", errors: [401, 426, 429] },
      schema: {
        tags: ["edge"],
        summary: "Exchange a join token for an edge credential (shown once)",
        body: EnrollBody,
        security: [],
        response: { 201: EdgeEnrolled },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const id = tokenId("join", b.joinToken);
      if (id === undefined) return auth.malformed("join", req.ip);
      // Failures count against the address and the join token's id like any credential's.
      const row = await auth.prove("join", req.ip, b.joinToken, async () => {
        const r = await db
          .selectFrom("join_tokens")
          .selectAll()
          .where("id", "=", id)
          .executeTakeFirst();
        if (!r) return undefined;
        const dead =
          r.uses >= r.max_uses ? "used" : r.expires_at.getTime() <= Date.now() ? "expired" : null;
        return { principal: r, key: `ghj:${id}`, hash: r.secret_hash, ...(dead ? { dead } : {}) };
      });
      // After the token is proven: an unknown caller learns nothing about control's minimum.
      refuseOld(b.version ?? req.headers[EDGE_VERSION_HEADER]?.toString());
      const issued = await issueSecret("edge");
      await db.transaction().execute(async (trx) => {
        // Counted uses: the update only succeeds while one is left.
        const claimed = await trx
          .updateTable("join_tokens")
          .set((eb) => ({ used_at: new Date(), edge_id: issued.id, uses: eb("uses", "+", 1) }))
          .where("id", "=", row.id)
          .where((eb) => eb("uses", "<", eb.ref("max_uses")))
          .returning("id")
          .executeTakeFirst();
        if (!claimed)
          throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "invalid, used or expired join token");
        let name = b.name;
        let labels = parseLabels(row.labels);
        if (row.replaces !== null) {
          // The new machine takes over the decommissioned edge's name and labels.
          const old = await trx
            .selectFrom("edges")
            .select(["name", "labels", "status"])
            .where("id", "=", row.replaces)
            .executeTakeFirst();
          if (old?.status === "decommissioned") {
            name = old.name;
            labels = { ...parseLabels(old.labels), ...labels };
          }
        }
        await trx
          .insertInto("edges")
          .values({
            id: issued.id,
            account_id: row.account_id,
            name,
            credential_hash: issued.hash,
            software_version: b.version ?? null,
            config_version: null,
            uptime_seconds: null,
            last_seen_at: null,
            labels: JSON.stringify(labels),
            replaces: row.replaces,
          })
          .execute();
        await audit(trx, {
          accountId: row.account_id,
          actor: `join-token:${row.id}`,
          resource: "edge",
          resourceId: issued.id,
          action: row.replaces !== null ? "replace" : "enroll",
          after: {
            name,
            labels,
            ...(row.replaces !== null ? { replaces: row.replaces } : {}),
          },
        });
      });
      return reply
        .status(201)
        .send({ edgeId: issued.id, accountId: row.account_id, credential: issued.secret });
    },
  );

  app.get(
    "/edge/config",
    {
      config: { access: "edge", errors: [426] },
      schema: {
        tags: ["edge"],
        summary: "Long-poll for a bundle newer than `after`",
        description:
          "200 with the bundle at once when a newer version is due (the version the edge is pinned to, else the latest); otherwise waits up to 30 s and answers 304. A 304 that comes early because an admin drained or activated the edge carries `X-Gatehouse-Edge-Status` (`draining`, `active`): the edge follows it at once instead of at its next heartbeat. A poll whose `X-Gatehouse-Edge-Following` (the status the edge follows) differs from control's is answered so at once. 426 `GH_ERR_EDGE_TOO_OLD` when the edge's software (`X-Gatehouse-Edge-Version`, else its last heartbeat's) is older than control's minimumEdgeVersion.",
        querystring: ConfigQuery,
        response: { 200: ConfigBundle, 304: NotModified },
      },
    },
    async (req, reply) => {
      const edge = edgeOf(req);
      const after = req.query.after ?? 0;
      refuseOld(await versionOf(req, edge.id));
      // Wait first, read second: a publish (or a pin) that lands while the read is in flight
      // must still wake this poll (otherwise the edge would sleep through it until the timeout).
      const abort = new AbortController();
      const onClose = () => abort.abort();
      req.raw.once("close", onClose);
      const woken = notifier.wait(edge.accountId, options.longPollTimeoutMs, abort.signal, edge.id);
      let bundle = await publisher.dueFor(edge.accountId, edge.id, after);
      // The edge follows another status than control's (a drain that landed between two of its
      // polls): tell it now rather than at its next heartbeat.
      const following = req.headers[EDGE_FOLLOWING_HEADER];
      if (!bundle && typeof following === "string") {
        const status = await publisher.edgeStatus(edge.id);
        if (status !== following && status !== "decommissioned") {
          req.raw.off("close", onClose);
          abort.abort();
          await woken;
          return reply.header(EDGE_STATUS_HEADER, status).status(304).send();
        }
      }
      if (!bundle) {
        const v = await woken;
        req.raw.off("close", onClose);
        if (v === undefined || Number.isNaN(v)) return reply.status(304).send();
        if (v > after) bundle = await publisher.dueFor(edge.accountId, edge.id, after);
        if (!bundle) {
          // Woken early with nothing newer to run: a status change (drain, activate) or a pin
          // back. The status goes with the answer, so the edge acts now, not at its heartbeat.
          const status = await publisher.edgeStatus(edge.id);
          if (status !== "decommissioned") reply.header(EDGE_STATUS_HEADER, status);
          return reply.status(304).send();
        }
      } else {
        req.raw.off("close", onClose);
        abort.abort();
        await woken;
      }
      return sendBundle(req, reply, bundle);
    },
  );

  app.post(
    "/edge/heartbeat",
    {
      config: { access: "edge", errors: [404, 426] },
      schema: {
        tags: ["edge"],
        summary: "Report liveness, versions, counters and what the edge serves",
        description:
          "Answers the edge's status (active, draining, decommissioned) and the version it should run. The heartbeat of an edge older than control's minimumEdgeVersion is recorded (the Edges page shows it) and answered 426 `GH_ERR_EDGE_TOO_OLD`.",
        body: HeartbeatBody,
        response: { 200: HeartbeatAnswer },
      },
    },
    async (req) => {
      const edge = edgeOf(req);
      const b = req.body;
      const row = await db
        .updateTable("edges")
        .set({
          software_version: b.version,
          config_version: b.configVersion,
          uptime_seconds: b.uptimeSeconds,
          counters: JSON.stringify(b.counters ?? {}),
          ...(b.serving !== undefined ? { serving: b.serving } : {}),
          // An older edge says nothing about it: what it last reported (if ever) stays.
          ...(b.endpoints !== undefined
            ? { endpoints: JSON.stringify(b.endpoints), endpoints_at: new Date() }
            : {}),
          last_seen_at: new Date(),
          updated_at: new Date(),
        })
        .where("id", "=", edge.id)
        .returning(["status", "pinned_version"])
        .executeTakeFirst();
      if (!row) throw notFound("edge");
      refuseOld(b.version);
      return {
        status: row.status,
        latestVersion: await publisher.latestVersion(edge.accountId),
        pinnedVersion: row.pinned_version,
        heartbeatIntervalSeconds: options.heartbeatIntervalMs / 1000,
      };
    },
  );

  app.post(
    "/edge/config-status",
    {
      config: { access: "edge" },
      schema: {
        tags: ["edge"],
        summary: "Report that a bundle was applied or rejected",
        body: ConfigStatusBody,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const edge = edgeOf(req);
      const b = req.body;
      const at = new Date();
      const status = { ...b, at: at.toISOString() };
      const firstApply = await db.transaction().execute(async (trx) => {
        const before = await trx
          .selectFrom("edges")
          .select(["config_status"])
          .where("id", "=", edge.id)
          .executeTakeFirst();
        const prev = (
          typeof before?.config_status === "string"
            ? JSON.parse(before.config_status)
            : before?.config_status
        ) as { version?: number; ok?: boolean } | null | undefined;
        await trx
          .updateTable("edges")
          .set({ config_status: JSON.stringify(status), updated_at: new Date() })
          .where("id", "=", edge.id)
          .execute();
        if (!b.ok)
          await audit(trx, {
            accountId: edge.accountId,
            actor: actorOf(edge),
            resource: "edge",
            resourceId: edge.id,
            action: "config-rejected",
            after: status,
          });
        // An edge reports again what it already applied (a restart serving its last good
        // bundle): that is not a new apply, and its latency would be the bundle's age.
        return b.ok && !(prev?.ok === true && prev.version === b.version);
      });
      if (firstApply) {
        const published = await db
          .selectFrom("bundles")
          .select(["created_at"])
          .where("account_id", "=", edge.accountId)
          .where("version", "=", b.version)
          .executeTakeFirst();
        if (published)
          metrics.observeApply((at.getTime() - new Date(published.created_at).getTime()) / 1000);
      }
      if (!b.ok) req.log.warn({ edgeId: edge.id, version: b.version }, "edge rejected a bundle");
      return reply.status(204).send();
    },
  );

  app.get(
    "/edges",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["edges"],
        summary: "Enrolled edges with health (stale after 3 missed heartbeats)",
        querystring: PageQuery,
        response: { 200: Page(EdgeView) },
      },
    },
    async (req) => {
      const p = who(req);
      const q = req.query;
      const limit = q.limit ?? 100;
      const c = decodeCursor(q.cursor);
      let query = db.selectFrom("edges").selectAll().where("account_id", "=", p.accountId);
      if (c !== undefined) query = query.where("id", ">", c);
      const now = Date.now();
      return page(
        await query
          .orderBy("id")
          .limit(limit + 1)
          .execute(),
        limit,
        (r) => r.id,
        (r) => view(r, now),
      );
    },
  );

  app.get(
    "/edges/versions",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["edges"],
        summary: "The fleet's software versions (version skew) and control's minimum edge version",
        response: { 200: EdgeVersionsView },
      },
    },
    async (req) => {
      const p = who(req);
      const rows = await db
        .selectFrom("edges")
        .select(["software_version", (eb) => eb.fn.countAll<string>().as("n")])
        .where("account_id", "=", p.accountId)
        .where("status", "!=", "decommissioned")
        .groupBy("software_version")
        .execute();
      const versions = rows
        .map((r) => ({
          version: r.software_version,
          edges: Number(r.n),
          tooOld: tooOld(r.software_version),
        }))
        .sort((a, b) =>
          a.version === null ? 1 : b.version === null ? -1 : compareVersions(b.version, a.version),
        );
      return { minimumEdgeVersion: minimum ?? null, versions };
    },
  );

  app.get(
    "/edges/:id",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["edges"],
        summary: "One edge",
        params: IdParams,
        response: { 200: EdgeView },
      },
    },
    async (req) => {
      const p = who(req);
      const row = await db
        .selectFrom("edges")
        .selectAll()
        .where("account_id", "=", p.accountId)
        .where("id", "=", req.params.id)
        .executeTakeFirst();
      if (!row) throw notFound("edge");
      return view(row, Date.now());
    },
  );

  /** An edge of the account that is not decommissioned (404 / 409 otherwise), read in `trx`. */
  const serviceable = async (trx: Db, accountId: string, id: string) => {
    const e = await trx
      .selectFrom("edges")
      .selectAll()
      .where("account_id", "=", accountId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!e) throw notFound("edge");
    if (e.status === "decommissioned")
      throw new GatehouseError("GH_ERR_CONFLICT", "the edge is decommissioned");
    return e;
  };

  /** Change one edge's row and audit it, inside the caller's transaction. */
  const updateAudited = async (
    trx: Db,
    p: ReturnType<typeof who>,
    id: string,
    set: { status?: "active" | "draining" | "decommissioned"; pinned_version?: number | null },
    action: string,
    before: Record<string, unknown>,
    after: Record<string, unknown> = set,
  ) => {
    const row = await trx
      .updateTable("edges")
      .set({ ...set, updated_at: new Date() })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await audit(trx, {
      accountId: p.accountId,
      actor: actorOf(p),
      resource: "edge",
      resourceId: id,
      action,
      before,
      after,
    });
    return row;
  };

  const setStatus = async (req: IdRequest, status: "active" | "draining" | "decommissioned") => {
    const p = who(req);
    const { id } = req.params;
    const row = await db.transaction().execute(async (trx) => {
      const before = await serviceable(trx, p.accountId, id);
      // Its intermediate CAs are revoked with it: listed in the next bundles, never renewed.
      if (status === "decommissioned") await revokeIntermediates(trx, id);
      const r = await updateAudited(trx, p, id, { status }, ACTION_OF_STATUS[status], {
        status: before.status,
      });
      // Other replicas wake this edge's poll too (NOTIFY, delivered on commit).
      await publisher.notifyPin(trx, p.accountId, id, 0);
      return r;
    });
    if (status === "decommissioned") {
      auth.edgeCache.evict(id);
      publisher.changed(p.accountId, actorOf(p));
    }
    // Wake the edge's waiting config poll like a publish would: it answers with the new status
    // (or, decommissioned, the edge's next poll gets 410), well before the next heartbeat.
    publisher.statusChanged(p.accountId, id, status);
    return view(row, Date.now());
  };

  /** Set or clear an edge's pin (audited), then wake its waiting poll. */
  const setPin = async (req: IdRequest, version: number | null) => {
    const p = who(req);
    const { id } = req.params;
    // What the edge should run once this commits (a publish meanwhile wakes it anyway).
    const target = version ?? (await publisher.latestVersion(p.accountId));
    const { row, changed } = await db.transaction().execute(async (trx) => {
      const before = await serviceable(trx, p.accountId, id);
      if (before.pinned_version === version) return { row: before, changed: false };
      if (version !== null) {
        const exists = await trx
          .selectFrom("bundles")
          .select(["version"])
          .where("account_id", "=", p.accountId)
          .where("version", "=", version)
          .executeTakeFirst();
        if (!exists) throw notFound(`bundle version ${version}`);
        // Edges only ever move forward (they take a bundle newer than the one they run).
        if (before.config_version !== null && before.config_version > version)
          throw new GatehouseError(
            "GH_ERR_CONFLICT",
            `the edge already runs version ${before.config_version} and never goes back to an older one: pin it at ${before.config_version} or later, or roll back the configuration`,
            { configVersion: before.config_version },
          );
      }
      const after = await updateAudited(
        trx,
        p,
        id,
        { pinned_version: version },
        version === null ? "unpin" : "pin",
        { pinnedVersion: before.pinned_version },
        { pinnedVersion: version },
      );
      await publisher.notifyPin(trx, p.accountId, id, target);
      return { row: after, changed: true };
    });
    if (changed) publisher.pinChanged(p.accountId, id, version, target);
    return view(row, Date.now());
  };

  app.put(
    "/edges/:id/pin",
    {
      config: { access: "admin", errors: [409, 422] },
      schema: {
        tags: ["edges"],
        summary: "Hold an edge at one bundle version (staged rollout); others follow the latest",
        description:
          "The edge gets `version` instead of the latest until it is unpinned. 404 for an unknown edge or version; 409 for a decommissioned edge or a version older than the one the edge reported running (edges never step back).",
        params: IdParams,
        body: PinBody,
        response: { 200: EdgeView },
      },
    },
    async (req) => setPin(req, req.body.version),
  );

  app.delete(
    "/edges/:id/pin",
    {
      config: { access: "admin", errors: [409] },
      schema: {
        tags: ["edges"],
        summary: "Let a pinned edge follow the latest version again",
        params: IdParams,
        response: { 200: EdgeView },
      },
    },
    async (req) => setPin(req, null),
  );

  app.put(
    "/edges/:id/labels",
    {
      config: { access: "admin", errors: [409] },
      schema: {
        tags: ["edges"],
        summary: "Set an edge's labels (site, role, …): rollout stages select edges by them",
        params: IdParams,
        body: T.Object({ labels: EdgeLabels }, { additionalProperties: false }),
        response: { 200: EdgeView },
      },
    },
    async (req) => {
      const p = who(req);
      const { id } = req.params;
      const row = await db.transaction().execute(async (trx) => {
        const before = await serviceable(trx, p.accountId, id);
        const r = await trx
          .updateTable("edges")
          .set({ labels: JSON.stringify(req.body.labels), updated_at: new Date() })
          .where("id", "=", id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "edge",
          resourceId: id,
          action: "label",
          before: { labels: before.labels },
          after: { labels: req.body.labels },
        });
        return r;
      });
      return view(row, Date.now());
    },
  );

  app.post(
    "/edges/:id/drain",
    {
      config: { access: "admin", errors: [409] },
      schema: {
        tags: ["edges"],
        summary: "Ask an edge to drain (it sees `draining` in its heartbeat answer)",
        params: IdParams,
        response: { 200: EdgeView },
      },
    },
    async (req) => setStatus(req, "draining"),
  );

  app.post(
    "/edges/:id/activate",
    {
      config: { access: "admin", errors: [409] },
      schema: {
        tags: ["edges"],
        summary: "Put a drained edge back in service (it sees `active` in its heartbeat answer)",
        params: IdParams,
        response: { 200: EdgeView },
      },
    },
    async (req) => setStatus(req, "active"),
  );

  app.delete(
    "/edges/:id",
    {
      config: { access: "admin", errors: [409] },
      schema: {
        tags: ["edges"],
        summary: "Decommission an edge: its credential stops working",
        params: IdParams,
        response: { 200: EdgeView },
      },
    },
    async (req) => setStatus(req, "decommissioned"),
  );
}
