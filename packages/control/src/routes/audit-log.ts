// GET /audit: the account's change history, newest first, filtered by time, actor, resource.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { AuditEntry, GatehouseError, Page } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { decodeCursor, page } from "../http/conventions.ts";
import { who } from "./common.ts";

const AuditQuery = T.Object(
  {
    limit: T.Optional(T.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    since: T.Optional(T.String({ format: "date-time" })),
    until: T.Optional(T.String({ format: "date-time" })),
    actor: T.Optional(T.String({ minLength: 1, maxLength: 200 })),
    resource: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
    resourceId: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
    action: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

export async function auditRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;
  app.get(
    "/audit",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["audit"],
        summary: "Audit log, newest first (who, when, what, before/after)",
        querystring: AuditQuery,
        response: { 200: Page(AuditEntry) },
      },
    },
    async (req) => {
      const p = who(req);
      const q = req.query;
      const limit = q.limit ?? 100;
      const cursor = decodeCursor(q.cursor);
      let query = db.selectFrom("audit_log").selectAll().where("account_id", "=", p.accountId);
      if (cursor !== undefined) {
        if (!/^\d{1,18}$/.test(cursor))
          throw new GatehouseError("GH_ERR_BAD_REQUEST", "malformed cursor");
        query = query.where("id", "<", cursor);
      }
      if (q.since) query = query.where("at", ">=", new Date(q.since));
      if (q.until) query = query.where("at", "<", new Date(q.until));
      if (q.actor) query = query.where("actor", "=", q.actor);
      if (q.resource) query = query.where("resource", "=", q.resource);
      if (q.resourceId) query = query.where("resource_id", "=", q.resourceId);
      if (q.action) query = query.where("action", "=", q.action);
      const rows = await query
        .orderBy("id", "desc")
        .limit(limit + 1)
        .execute();
      return page(
        rows,
        limit,
        (r) => String(r.id),
        (r) => ({
          id: String(r.id),
          at: r.at.toISOString(),
          actor: r.actor,
          resource: r.resource,
          resourceId: r.resource_id,
          action: r.action,
          before: r.before ?? null,
          after: r.after ?? null,
        }),
      );
    },
  );
}
