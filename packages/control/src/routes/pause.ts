// /pause: pause blocking for a while (5 min, 1 h, …) or until resumed, for every client, one
// location or one client (by its IP address, as the query log and the client page name it). The pause goes into the bundle with its end time (`pauses`), so edges stop blocking
// at once and start again on time even without control; pausing and resuming publish at once
// and are audited (resource `pause`).

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { GatehouseError, PauseState } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { activePauses } from "../bundle/compile.ts";
import { actorOf, type Db } from "../context.ts";
import { notFound } from "../http/errors.ts";
import { canonicalClient } from "./client-names.ts";
import { who } from "./common.ts";
import { publishNow } from "./publish-now.ts";

/** Longest pause with an end: a week (longer is "until resumed"). */
const MAX_MINUTES = 7 * 24 * 60;
const LocationId = T.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" });
const ClientAddress = T.String({ minLength: 2, maxLength: 64 });

const PauseBody = T.Object(
  {
    /** How long; absent: until resumed. */
    minutes: T.Optional(T.Integer({ minimum: 1, maximum: MAX_MINUTES })),
    /** One location's clients; absent: every client. */
    locationId: T.Optional(LocationId),
    /** One client, by IP address; not with locationId. */
    client: T.Optional(ClientAddress),
  },
  { additionalProperties: false },
);
const ResumeBody = T.Object(
  { locationId: T.Optional(LocationId), client: T.Optional(ClientAddress) },
  { additionalProperties: false },
);

/** Where a pause applies: the row's scope and client columns, from a body. */
function scopeOf(body: { locationId?: string | undefined; client?: string | undefined }): {
  scope: string;
  client: string;
} {
  if (body.client === undefined) return { scope: body.locationId ?? "", client: "" };
  if (body.locationId !== undefined)
    throw new GatehouseError("GH_ERR_VALIDATION", "pause a location or a client, not both", {
      path: "/client",
    });
  const client = canonicalClient(body.client);
  if (client === undefined)
    throw new GatehouseError("GH_ERR_VALIDATION", "client must be an IP address", {
      path: "/client",
    });
  return { scope: "", client };
}

/** The audit entry's resource id: the client, the location, or null for everyone. */
const resourceIdOf = (s: { scope: string; client: string }) =>
  s.client !== "" ? s.client : s.scope !== "" ? s.scope : null;

const tags = ["pause"];

/** The account's pauses that have not ended, as the API shows them. */
export async function pauseState(db: Db, accountId: string): Promise<PauseState> {
  const [rows, locations, clients] = await Promise.all([
    activePauses(db, accountId),
    db.selectFrom("locations").select(["id", "name"]).where("account_id", "=", accountId).execute(),
    db
      .selectFrom("client_names")
      .innerJoin("blocking_pauses", (j) =>
        j
          .onRef("blocking_pauses.account_id", "=", "client_names.account_id")
          .onRef("blocking_pauses.client", "=", "client_names.client"),
      )
      .select(["client_names.client", "client_names.name"])
      .where("client_names.account_id", "=", accountId)
      .execute(),
  ]);
  const names = new Map(locations.map((l) => [l.id, l.name]));
  const clientNames = new Map(clients.map((c) => [c.client, c.name]));
  return {
    pauses: rows.map((r) => ({
      locationId: r.scope === "" ? null : r.scope,
      locationName: r.scope === "" ? null : (names.get(r.scope) ?? null),
      client: r.client === "" ? null : r.client,
      clientName: r.client === "" ? null : (clientNames.get(r.client) ?? null),
      until: r.until?.toISOString() ?? null,
      pausedBy: r.created_by,
      pausedAt: r.created_at.toISOString(),
    })),
  };
}

/** Clients paused at once, at most (each is an entry in every bundle until it ends). */
const MAX_CLIENT_PAUSES = 1000;

/** 409 when pausing one more client would pass MAX_CLIENT_PAUSES. */
async function checkClientPauses(db: Db, accountId: string, client: string): Promise<void> {
  if (client === "") return;
  const n = await db
    .selectFrom("blocking_pauses")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("account_id", "=", accountId)
    .where("client", "<>", "")
    .where("client", "<>", client)
    .executeTakeFirstOrThrow();
  if (Number(n.n) >= MAX_CLIENT_PAUSES)
    throw new GatehouseError(
      "GH_ERR_CONFLICT",
      `at most ${MAX_CLIENT_PAUSES} clients may be paused`,
    );
}

/** 404 unless the location is the caller's. */
async function checkLocation(db: Db, accountId: string, id: string | undefined): Promise<void> {
  if (id === undefined) return;
  const found = await db
    .selectFrom("locations")
    .select("id")
    .where("account_id", "=", accountId)
    .where("id", "=", id)
    .executeTakeFirst();
  if (!found) throw notFound(`location ${id}`);
}

export async function pauseRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, publisher } = app.gatehouse;

  app.get(
    "/pause",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "Where blocking is paused now, and until when",
        response: { 200: PauseState },
      },
    },
    async (req) => pauseState(db, who(req).accountId),
  );

  app.post(
    "/pause",
    {
      config: { access: "editor", errors: [404, 409, 422] },
      schema: {
        tags,
        summary:
          "Pause blocking for some minutes or until resumed, everywhere, in one location or for one client",
        description:
          "While paused, DNS policies whose action is block do not block (the query log says `blocking_paused`). `client` pauses one client address (the edge answers the others as before). Replaces an earlier pause of the same scope; publishes at once.",
        body: PauseBody,
        response: { 200: PauseState },
      },
    },
    async (req) => {
      const p = who(req);
      const actor = actorOf(p);
      const { minutes, locationId } = req.body;
      const where = scopeOf(req.body);
      const until = minutes === undefined ? null : new Date(Date.now() + minutes * 60_000);
      await db.transaction().execute(async (trx) => {
        await checkLocation(trx, p.accountId, locationId);
        // Pauses that have ended go: they would only count against the limit.
        await trx
          .deleteFrom("blocking_pauses")
          .where("account_id", "=", p.accountId)
          .where("until", "<=", new Date())
          .execute();
        await checkClientPauses(trx, p.accountId, where.client);
        const row = { until, created_by: actor, created_at: new Date() };
        await trx
          .insertInto("blocking_pauses")
          .values({ account_id: p.accountId, ...where, ...row })
          .onConflict((oc) => oc.columns(["account_id", "scope", "client"]).doUpdateSet(row))
          .execute();
        await audit(trx, {
          accountId: p.accountId,
          actor,
          resource: "pause",
          resourceId: resourceIdOf(where),
          action: "pause",
          after: {
            locationId: locationId ?? null,
            ...(where.client !== "" ? { client: where.client } : {}),
            until: until?.toISOString() ?? null,
          },
        });
      });
      const published = await publishNow(publisher, p.accountId, actor);
      return { ...(await pauseState(db, p.accountId)), ...published };
    },
  );

  app.post(
    "/pause/resume",
    {
      config: { access: "editor", errors: [404, 422] },
      schema: {
        tags,
        summary: "Resume blocking (everywhere, in one location or for one client)",
        description:
          "Ends the pause of that scope (without locationId or client: the pause for every client; a location's or a client's own pause stays). Publishes at once.",
        body: ResumeBody,
        response: { 200: PauseState },
      },
    },
    async (req) => {
      const p = who(req);
      const actor = actorOf(p);
      const { locationId } = req.body;
      const where = scopeOf(req.body);
      await db.transaction().execute(async (trx) => {
        await checkLocation(trx, p.accountId, locationId);
        const gone = await trx
          .deleteFrom("blocking_pauses")
          .where("account_id", "=", p.accountId)
          .where("scope", "=", where.scope)
          .where("client", "=", where.client)
          .returning(["until"])
          .executeTakeFirst();
        if (gone)
          await audit(trx, {
            accountId: p.accountId,
            actor,
            resource: "pause",
            resourceId: resourceIdOf(where),
            action: "resume",
            before: {
              locationId: locationId ?? null,
              ...(where.client !== "" ? { client: where.client } : {}),
              until: gone.until?.toISOString() ?? null,
            },
          });
      });
      const published = await publishNow(publisher, p.accountId, actor);
      return { ...(await pauseState(db, p.accountId)), ...published };
    },
  );
}
