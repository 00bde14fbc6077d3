// /policies: DNS, HTTP and network policies of the caller's account.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Ok, Page, Policy, PolicyView } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { sql } from "kysely";
import { audit } from "../audit.ts";
import { actorOf } from "../context.ts";
import { etagOf, idempotent, PageQuery } from "../http/conventions.ts";
import { NoContent } from "../http/responses.ts";
import { newId } from "../ids.ts";
import { policyView } from "../views.ts";
import { type AuditedResource, deleteAudited, target, updateAudited } from "./audited-change.ts";
import { IdParams, jsonOrNull, who } from "./common.ts";
import { loadOwned, pageOwned } from "./owned-rows.ts";
import { type PolicyShape, validatePolicy } from "./policy-validation.ts";

const PolicyType = T.Union([T.Literal("dns"), T.Literal("http"), T.Literal("net")]);

const PolicyCreate = T.Composite(
  [
    T.Omit(Policy, ["id", "enabled", "precedence"]),
    T.Object({
      enabled: T.Optional(T.Boolean({ default: true })),
      precedence: T.Optional(T.Integer({ minimum: 0, maximum: 2_000_000_000 })),
    }),
  ],
  { additionalProperties: false },
);

const PolicyPatch = T.Partial(
  T.Object({
    name: Policy.properties.name,
    description: T.Union([Policy.properties.description, T.Null()]),
    type: PolicyType,
    enabled: T.Boolean(),
    precedence: Policy.properties.precedence,
    expression: Policy.properties.expression,
    action: Policy.properties.action,
    settings: T.Union([Policy.properties.settings, T.Null()]),
    schedule: T.Union([Policy.properties.schedule, T.Null()]),
  }),
  { additionalProperties: false, minProperties: 1 },
);

const ListQuery = T.Composite(
  [PageQuery, T.Object({ type: T.Optional(PolicyType), enabled: T.Optional(T.Boolean()) })],
  { additionalProperties: false },
);

const ValidateBody = T.Object(
  {
    type: PolicyType,
    expression: Policy.properties.expression,
    action: T.Optional(Policy.properties.action),
  },
  { additionalProperties: false },
);

const tags = ["policies"];
const POLICIES: AuditedResource<"policies", ReturnType<typeof policyView>> = {
  table: "policies",
  resource: "policy",
  view: policyView,
};

export async function policyRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;

  app.get(
    "/policies",
    {
      config: { access: "viewer", cacheable: true },
      schema: {
        tags,
        summary: "List policies",
        querystring: ListQuery,
        response: { 200: Page(PolicyView) },
      },
    },
    async (req) => {
      const q = req.query;
      return pageOwned(db, POLICIES, who(req).accountId, q, { type: q.type, enabled: q.enabled });
    },
  );

  app.post(
    "/policies",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 422] },
      schema: {
        tags,
        summary: "Create a policy",
        description:
          "422 GH_ERR_INVALID_RULE with kind, message and span when the expression does not compile.",
        body: PolicyCreate,
        response: { 201: PolicyView },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      return idempotent(db, req, reply, p.accountId, async () => {
        await validatePolicy(db, p.accountId, b);
        const row = await db.transaction().execute(async (trx) => {
          let precedence = b.precedence;
          if (precedence === undefined) {
            const max = await trx
              .selectFrom("policies")
              .select(sql<number | null>`max(precedence)`.as("m"))
              .where("account_id", "=", p.accountId)
              .where("type", "=", b.type)
              .executeTakeFirst();
            precedence = (max?.m ?? 0) + 1000;
          }
          const created = await trx
            .insertInto("policies")
            .values({
              id: newId("pol"),
              account_id: p.accountId,
              type: b.type,
              name: b.name,
              description: b.description ?? null,
              enabled: b.enabled ?? true,
              precedence,
              expression: b.expression,
              action: b.action,
              settings: jsonOrNull(b.settings),
              schedule: jsonOrNull(b.schedule),
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await audit(trx, {
            accountId: p.accountId,
            actor: actorOf(p),
            resource: "policy",
            resourceId: created.id,
            action: "create",
            after: policyView(created),
          });
          return created;
        });
        reply.header("etag", etagOf(row.version));
        return { status: 201, body: policyView(row) };
      });
    },
  );

  app.post(
    "/policies/validate",
    {
      config: { access: "viewer", errors: [422] },
      schema: {
        tags,
        summary: "Check an expression (and action) without storing anything",
        body: ValidateBody,
        response: { 200: Ok },
      },
    },
    async (req) => {
      const p = who(req);
      const b = req.body;
      await validatePolicy(db, p.accountId, {
        type: b.type,
        expression: b.expression,
        action: b.action ?? "block",
      });
      return { ok: true as const };
    },
  );

  app.get(
    "/policies/:id",
    {
      config: { access: "viewer" },
      schema: { tags, summary: "Get a policy", params: IdParams, response: { 200: PolicyView } },
    },
    async (req, reply) => {
      const row = await loadOwned(db, POLICIES, who(req).accountId, req.params.id);
      reply.header("etag", etagOf(row.version));
      return policyView(row);
    },
  );

  app.patch(
    "/policies/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 412, 422] },
      schema: {
        tags,
        summary: "Change a policy (If-Match: the ETag you read; 412 when stale)",
        params: IdParams,
        body: PolicyPatch,
        response: { 200: PolicyView },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const row = await updateAudited(
        db,
        POLICIES,
        target(req),
        "update",
        () => ({
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.description !== undefined ? { description: b.description } : {}),
          ...(b.type !== undefined ? { type: b.type } : {}),
          ...(b.enabled !== undefined ? { enabled: b.enabled } : {}),
          ...(b.precedence !== undefined ? { precedence: b.precedence } : {}),
          ...(b.expression !== undefined ? { expression: b.expression } : {}),
          ...(b.action !== undefined ? { action: b.action } : {}),
          ...(b.settings !== undefined ? { settings: jsonOrNull(b.settings) } : {}),
          ...(b.schedule !== undefined ? { schedule: jsonOrNull(b.schedule) } : {}),
        }),
        // The policy as it would be after the change must still compile against the lists.
        (before, trx) =>
          validatePolicy(trx, before.account_id, {
            type: b.type ?? before.type,
            expression: b.expression ?? before.expression,
            action: b.action ?? before.action,
            settings: (b.settings === undefined
              ? before.settings
              : b.settings) as PolicyShape["settings"],
            schedule: (b.schedule === undefined
              ? before.schedule
              : b.schedule) as PolicyShape["schedule"],
          }),
      );
      reply.header("etag", etagOf(row.version));
      return policyView(row);
    },
  );

  app.delete(
    "/policies/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: { tags, summary: "Delete a policy", params: IdParams, response: { 204: NoContent } },
    },
    async (req, reply) => {
      await deleteAudited(db, POLICIES, target(req));
      return reply.status(204).send();
    },
  );
}
