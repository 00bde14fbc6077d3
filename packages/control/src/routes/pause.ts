// /pause: pause blocking for a while (5 min, 1 h, …) or until resumed, for every client or one
// location. The pause goes into the bundle with its end time (`pauses`), so edges stop blocking
// at once and start again on time even without control; pausing and resuming publish at once
// and are audited (resource `pause`).

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { PauseState } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { activePauses } from "../bundle/compile.ts";
import { actorOf, type Db } from "../context.ts";
import { notFound } from "../http/errors.ts";
import { who } from "./common.ts";
import { publishNow } from "./publish-now.ts";

/** Longest pause with an end: a week (longer is "until resumed"). */
const MAX_MINUTES = 7 * 24 * 60;
const LocationId = T.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" });

const PauseBody = T.Object(
  {
    /** How long; absent: until resumed. */
    minutes: T.Optional(T.Integer({ minimum: 1, maximum: MAX_MINUTES })),
    /** One location's clients; absent: every client. */
    locationId: T.Optional(LocationId),
  },
  { additionalProperties: false },
);
const ResumeBody = T.Object(
  { locationId: T.Optional(LocationId) },
  { additionalProperties: false },
);

const tags = ["pause"];

/** The account's pauses that have not ended, as the API shows them. */
async function pauseState(db: Db, accountId: string): Promise<PauseState> {
  const rows = await activePauses(db, accountId);
  const names = new Map(
    (
      await db
        .selectFrom("locations")
        .select(["id", "name"])
        .where("account_id", "=", accountId)
        .execute()
    ).map((l) => [l.id, l.name]),
  );
  return {
    pauses: rows.map((r) => ({
      locationId: r.scope === "" ? null : r.scope,
      locationName: r.scope === "" ? null : (names.get(r.scope) ?? null),
      until: r.until?.toISOString() ?? null,
      pausedBy: r.created_by,
      pausedAt: r.created_at.toISOString(),
    })),
  };
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
      config: { access: "editor", errors: [404] },
      schema: {
        tags,
        summary: "Pause blocking for some minutes or until resumed, everywhere or in one location",
        description:
          "While paused, DNS policies whose action is block do not block (the query log says `blocking_paused`). Replaces an earlier pause of the same scope; publishes at once.",
        body: PauseBody,
        response: { 200: PauseState },
      },
    },
    async (req) => {
      const p = who(req);
      const actor = actorOf(p);
      const { minutes, locationId } = req.body;
      const until = minutes === undefined ? null : new Date(Date.now() + minutes * 60_000);
      await db.transaction().execute(async (trx) => {
        await checkLocation(trx, p.accountId, locationId);
        const row = { until, created_by: actor, created_at: new Date() };
        await trx
          .insertInto("blocking_pauses")
          .values({ account_id: p.accountId, scope: locationId ?? "", ...row })
          .onConflict((oc) => oc.columns(["account_id", "scope"]).doUpdateSet(row))
          .execute();
        await audit(trx, {
          accountId: p.accountId,
          actor,
          resource: "pause",
          resourceId: locationId ?? null,
          action: "pause",
          after: { locationId: locationId ?? null, until: until?.toISOString() ?? null },
        });
      });
      const published = await publishNow(publisher, p.accountId, actor);
      return { ...(await pauseState(db, p.accountId)), ...published };
    },
  );

  app.post(
    "/pause/resume",
    {
      config: { access: "editor", errors: [404] },
      schema: {
        tags,
        summary: "Resume blocking (everywhere, or in one location)",
        description:
          "Ends the pause of that scope (without locationId: the pause for every client; a location's own pause stays). Publishes at once.",
        body: ResumeBody,
        response: { 200: PauseState },
      },
    },
    async (req) => {
      const p = who(req);
      const actor = actorOf(p);
      const { locationId } = req.body;
      await db.transaction().execute(async (trx) => {
        await checkLocation(trx, p.accountId, locationId);
        const gone = await trx
          .deleteFrom("blocking_pauses")
          .where("account_id", "=", p.accountId)
          .where("scope", "=", locationId ?? "")
          .returning(["until"])
          .executeTakeFirst();
        if (gone)
          await audit(trx, {
            accountId: p.accountId,
            actor,
            resource: "pause",
            resourceId: locationId ?? null,
            action: "resume",
            before: { locationId: locationId ?? null, until: gone.until?.toISOString() ?? null },
          });
      });
      const published = await publishNow(publisher, p.accountId, actor);
      return { ...(await pauseState(db, p.accountId)), ...published };
    },
  );
}
