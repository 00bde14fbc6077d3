// Staged rollouts: the account's rollout plan (stages and health gates), the rollouts that
// publishes start, and pausing, resuming, promoting or aborting one by hand.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { RolloutPlan, RolloutView } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import {
  ACCOUNT_DOCUMENTS,
  removeAccountDocument,
  replaceAccountDocument,
} from "../account-documents.ts";
import { audit } from "../audit.ts";
import { actorOf } from "../context.ts";
import { notFound } from "../http/errors.ts";
import { NoContent } from "../http/responses.ts";
import { IdParams, who } from "./common.ts";

const tags = ["rollouts"];
const PlanAnswer = T.Object({ plan: T.Union([RolloutPlan, T.Null()]) });
const ListQuery = T.Object(
  { limit: T.Optional(T.Integer({ minimum: 1, maximum: 200, default: 20 })) },
  { additionalProperties: false },
);
const ACTIONS = ["pause", "resume", "promote", "abort"] as const;

export async function rolloutRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, rollouts } = app.gatehouse;

  app.get(
    "/rollout-plan",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "The account's rollout plan (null: publishes go to every edge at once)",
        response: { 200: PlanAnswer },
      },
    },
    async (req) => ({ plan: (await rollouts.plan(who(req).accountId)) ?? null }),
  );

  app.put(
    "/rollout-plan",
    {
      config: { access: "admin" },
      schema: {
        tags,
        summary:
          "Set the rollout plan: later publishes roll out stage by stage behind health gates",
        body: RolloutPlan,
        response: { 200: PlanAnswer },
      },
    },
    async (req) => {
      const p = who(req);
      await db.transaction().execute(async (trx) => {
        const before = await replaceAccountDocument(
          trx,
          ACCOUNT_DOCUMENTS.rolloutPlan,
          p.accountId,
          actorOf(p),
          req.body,
        );
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "rollout-plan",
          resourceId: null,
          action: "update",
          ...(before !== undefined ? { before } : {}),
          after: req.body,
        });
      });
      return { plan: req.body };
    },
  );

  app.delete(
    "/rollout-plan",
    {
      config: { access: "admin" },
      schema: {
        tags,
        summary: "Remove the rollout plan: publishes go to every edge at once again",
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await db.transaction().execute(async (trx) => {
        const gone = await removeAccountDocument(trx, ACCOUNT_DOCUMENTS.rolloutPlan, p.accountId);
        if (gone !== undefined)
          await audit(trx, {
            accountId: p.accountId,
            actor: actorOf(p),
            resource: "rollout-plan",
            resourceId: null,
            action: "delete",
            before: gone,
          });
      });
      return reply.status(204).send();
    },
  );

  app.get(
    "/rollouts",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "Rollouts, newest first, with their stages, gate results and failure",
        querystring: ListQuery,
        response: { 200: T.Object({ items: T.Array(RolloutView) }) },
      },
    },
    async (req) => ({ items: await rollouts.list(who(req).accountId, req.query.limit ?? 20) }),
  );

  app.get(
    "/rollouts/:id",
    {
      config: { access: "viewer" },
      schema: { tags, summary: "One rollout", params: IdParams, response: { 200: RolloutView } },
    },
    async (req) => {
      const r = await rollouts.get(who(req).accountId, req.params.id);
      if (!r) throw notFound("rollout");
      return r;
    },
  );

  for (const action of ACTIONS)
    app.post(
      `/rollouts/:id/${action}`,
      {
        config: { access: "admin", errors: [409] },
        schema: {
          tags,
          summary:
            action === "promote"
              ? "End the current stage now (gates not judged) and start the next"
              : action === "abort"
                ? "Stop the rollout and roll back to the previous version"
                : `${action.charAt(0).toUpperCase()}${action.slice(1)} the rollout`,
          params: IdParams,
          response: { 200: RolloutView },
        },
      },
      async (req) => {
        const p = who(req);
        return rollouts.act(p.accountId, req.params.id, action, actorOf(p));
      },
    );
}
