// /lists/{id}/subscription: make a list follow a URL (see lists/subscriptions.ts).

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { GatehouseError, SubscriptionRefresh, SubscriptionView } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { Selectable } from "kysely";
import { audit } from "../audit.ts";
import { actorOf } from "../context.ts";
import type { ListSubscriptionsTable } from "../db/schema.ts";
import { iso } from "../http/conventions.ts";
import { notFound } from "../http/errors.ts";
import { NoContent } from "../http/responses.ts";
import { ITEM_FORMATS } from "../lists/list-items.ts";
import { IdParams, who } from "./common.ts";

export const SubscriptionBody = T.Object(
  {
    url: T.String({ minLength: 8, maxLength: 2048, pattern: "^https?://" }),
    /** Between 5 minutes and a week; default a day. */
    refreshSeconds: T.Optional(T.Integer({ minimum: 300, maximum: 604800, default: 86400 })),
    format: T.Optional(T.Union(ITEM_FORMATS.map((f) => T.Literal(f)))),
    /** Largest body accepted; default 64 MiB. */
    maxBytes: T.Optional(T.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024 })),
  },
  { additionalProperties: false },
);

const tags = ["lists"];

function view(s: Selectable<ListSubscriptionsTable>) {
  return {
    listId: s.list_id,
    url: s.url,
    format: s.format,
    refreshSeconds: s.refresh_seconds,
    maxBytes: s.max_bytes,
    etag: s.etag,
    nextFetchAt: iso(s.next_fetch_at),
    lastFetchAt: iso(s.last_fetch_at),
    lastSuccessAt: iso(s.last_success_at),
    lastError: s.last_error,
    lastStatus: (s.last_status ?? null) as SubscriptionView["lastStatus"],
  };
}

export async function subscriptionRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;
  const ownList = async (accountId: string, id: string) => {
    const l = await db
      .selectFrom("lists")
      .select(["id", "type"])
      .where("account_id", "=", accountId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!l) throw notFound("list");
    return l;
  };

  app.get(
    "/lists/:id/subscription",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "The URL a list follows, and how the last fetch went",
        params: IdParams,
        response: { 200: SubscriptionView },
      },
    },
    async (req) => {
      const p = who(req);
      const { id } = req.params;
      await ownList(p.accountId, id);
      const s = await db
        .selectFrom("list_subscriptions")
        .selectAll()
        .where("list_id", "=", id)
        .executeTakeFirst();
      if (!s) throw notFound("subscription");
      return view(s);
    },
  );

  app.put(
    "/lists/:id/subscription",
    {
      config: { access: "editor", errors: [422] },
      schema: {
        tags,
        summary: "Make a list follow a URL (fetched by control, replacing its items)",
        params: IdParams,
        body: SubscriptionBody,
        response: { 200: SubscriptionView },
      },
    },
    async (req) => {
      const p = who(req);
      const { id } = req.params;
      const b = req.body;
      await ownList(p.accountId, id);
      if (!URL.canParse(b.url))
        throw new GatehouseError("GH_ERR_VALIDATION", "not a URL", { path: "/url" });
      const values = {
        url: b.url,
        format: b.format ?? "auto",
        refresh_seconds: b.refreshSeconds ?? 86400,
        max_bytes: b.maxBytes ?? 64 * 1024 * 1024,
      };
      const row = await db.transaction().execute(async (trx) => {
        const r = await trx
          .insertInto("list_subscriptions")
          .values({ list_id: id, account_id: p.accountId, ...values })
          .onConflict((oc) =>
            oc.column("list_id").doUpdateSet({
              ...values,
              etag: null,
              next_fetch_at: new Date(),
              updated_at: new Date(),
            }),
          )
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "list",
          resourceId: id,
          action: "subscribe",
          after: values,
        });
        return r;
      });
      return view(row);
    },
  );

  app.delete(
    "/lists/:id/subscription",
    {
      config: { access: "editor" },
      schema: {
        tags,
        summary: "Stop following the URL (the items stay)",
        params: IdParams,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const { id } = req.params;
      await ownList(p.accountId, id);
      await db.transaction().execute(async (trx) => {
        const r = await trx
          .deleteFrom("list_subscriptions")
          .where("list_id", "=", id)
          .returning("url")
          .executeTakeFirst();
        if (!r) throw notFound("subscription");
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "list",
          resourceId: id,
          action: "unsubscribe",
          before: r,
        });
      });
      return reply.status(204).send();
    },
  );

  app.post(
    "/lists/:id/subscription/refresh",
    {
      config: { access: "editor", errors: [502] },
      schema: {
        tags,
        summary: "Fetch the URL now (502 when the fetch or parse failed; the last good items stay)",
        params: IdParams,
        response: { 200: SubscriptionRefresh },
      },
    },
    async (req) => {
      const p = who(req);
      const { id } = req.params;
      await ownList(p.accountId, id);
      const exists = await db
        .selectFrom("list_subscriptions")
        .select("list_id")
        .where("list_id", "=", id)
        .executeTakeFirst();
      if (!exists) throw notFound("subscription");
      const r = await app.gatehouse.subscriptions.refresh(id);
      if (r.status === "failed")
        throw new GatehouseError("GH_ERR_UPSTREAM", `refresh failed: ${r.error}`, r);
      return r;
    },
  );
}
