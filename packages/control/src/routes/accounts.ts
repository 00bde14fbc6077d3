// /account, /accounts (system account only) and /tokens: tenants and their API tokens.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  AccountCreated,
  AccountView,
  GatehouseError,
  Page,
  TokenCreated,
  TokenView,
  Whoami,
} from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { audit } from "../audit.ts";
import { issueSecret } from "../auth/tokens.ts";
import { createAccount } from "../bootstrap.ts";
import { actorOf } from "../context.ts";
import { ROLES } from "../db/schema.ts";
import { decodeCursor, iso, PageQuery, page } from "../http/conventions.ts";
import { notFound } from "../http/errors.ts";
import { NoContent } from "../http/responses.ts";
import { IdParams, who } from "./common.ts";

const Role = T.Union(ROLES.map((r) => T.Literal(r)));
const TokenCreate = T.Object(
  {
    name: T.String({ minLength: 1, maxLength: 200 }),
    role: Role,
    /** Lifetime in seconds; absent → no expiry. */
    expiresInSeconds: T.Optional(T.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })),
  },
  { additionalProperties: false },
);
const AccountCreate = T.Object(
  { name: T.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

/**
 * Responses carrying a secret are never stored for Idempotency-Key replay (the store would then
 * hold the secret in clear), so the header is refused on those creates.
 */
export function refuseReplayOfSecret(req: FastifyRequest): void {
  if (req.headers["idempotency-key"] !== undefined)
    throw new GatehouseError(
      "GH_ERR_BAD_REQUEST",
      "this create returns a secret and cannot be replayed; omit Idempotency-Key",
    );
}

export async function accountRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, auth } = app.gatehouse;

  app.get(
    "/whoami",
    {
      config: { access: "viewer" },
      schema: { tags: ["tokens"], summary: "The caller's token", response: { 200: Whoami } },
    },
    async (req) => {
      const p = who(req);
      return {
        tokenId: p.id,
        accountId: p.accountId,
        role: p.role,
        expiresAt: p.expiresAt === null ? null : new Date(p.expiresAt).toISOString(),
      };
    },
  );

  app.get(
    "/account",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["accounts"],
        summary: "The caller's account",
        response: { 200: AccountView },
      },
    },
    async (req) => {
      const p = who(req);
      const a = await db
        .selectFrom("accounts")
        .selectAll()
        .where("id", "=", p.accountId)
        .executeTakeFirstOrThrow();
      return { id: a.id, name: a.name, system: a.is_system, createdAt: a.created_at.toISOString() };
    },
  );

  app.get(
    "/accounts",
    {
      config: { access: "system" },
      schema: {
        tags: ["accounts"],
        summary: "List accounts (system account admins)",
        querystring: PageQuery,
        response: { 200: Page(AccountView) },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      const after = decodeCursor(q.cursor);
      let query = db.selectFrom("accounts").selectAll();
      if (after !== undefined) query = query.where("id", ">", after);
      const rows = await query
        .orderBy("id")
        .limit(limit + 1)
        .execute();
      return page(
        rows,
        limit,
        (r) => r.id,
        (a) => ({
          id: a.id,
          name: a.name,
          system: a.is_system,
          createdAt: a.created_at.toISOString(),
        }),
      );
    },
  );

  app.post(
    "/accounts",
    {
      config: { access: "system" },
      schema: {
        tags: ["accounts"],
        summary: "Create an account; answers its first admin token once",
        body: AccountCreate,
        response: { 201: AccountCreated },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      refuseReplayOfSecret(req);
      const r = await createAccount(db, { name: b.name, actor: actorOf(p) });
      return reply.status(201).send({ id: r.accountId, name: b.name, adminToken: r.adminToken });
    },
  );

  app.get(
    "/tokens",
    {
      config: { access: "admin" },
      schema: {
        tags: ["tokens"],
        summary: "List API tokens (never their secrets)",
        querystring: PageQuery,
        response: { 200: Page(TokenView) },
      },
    },
    async (req) => {
      const p = who(req);
      const q = req.query;
      const limit = q.limit ?? 100;
      const after = decodeCursor(q.cursor);
      let query = db
        .selectFrom("api_tokens")
        .select(["id", "name", "role", "expires_at", "revoked_at", "created_by", "created_at"])
        .where("account_id", "=", p.accountId);
      if (after !== undefined) query = query.where("id", ">", after);
      const rows = await query
        .orderBy("id")
        .limit(limit + 1)
        .execute();
      return page(
        rows,
        limit,
        (r) => r.id,
        (t) => ({
          id: t.id,
          name: t.name,
          role: t.role,
          expiresAt: iso(t.expires_at),
          revokedAt: iso(t.revoked_at),
          createdBy: t.created_by,
          createdAt: t.created_at.toISOString(),
        }),
      );
    },
  );

  app.post(
    "/tokens",
    {
      config: { access: "admin" },
      schema: {
        tags: ["tokens"],
        summary: "Create an API token; the secret is in this response only",
        body: TokenCreate,
        response: { 201: TokenCreated },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      refuseReplayOfSecret(req);
      {
        const issued = await issueSecret("api");
        const expires = b.expiresInSeconds
          ? new Date(Date.now() + b.expiresInSeconds * 1000)
          : null;
        const row = await db.transaction().execute(async (trx) => {
          const r = await trx
            .insertInto("api_tokens")
            .values({
              id: issued.id,
              account_id: p.accountId,
              name: b.name,
              role: b.role,
              secret_hash: issued.hash,
              expires_at: expires,
              created_by: actorOf(p),
            })
            .returning([
              "id",
              "name",
              "role",
              "expires_at",
              "revoked_at",
              "created_by",
              "created_at",
            ])
            .executeTakeFirstOrThrow();
          await audit(trx, {
            accountId: p.accountId,
            actor: actorOf(p),
            resource: "token",
            resourceId: r.id,
            action: "create",
            after: { id: r.id, name: r.name, role: r.role, expiresAt: iso(r.expires_at) },
          });
          return r;
        });
        return reply.status(201).send({
          id: row.id,
          name: row.name,
          role: row.role,
          expiresAt: iso(row.expires_at),
          revokedAt: null,
          createdBy: row.created_by,
          createdAt: row.created_at.toISOString(),
          token: issued.secret,
        });
      }
    },
  );

  app.delete(
    "/tokens/:id",
    {
      config: { access: "admin" },
      schema: {
        tags: ["tokens"],
        summary: "Revoke an API token",
        params: IdParams,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const { id } = req.params;
      await db.transaction().execute(async (trx) => {
        const r = await trx
          .updateTable("api_tokens")
          .set({ revoked_at: new Date() })
          .where("account_id", "=", p.accountId)
          .where("id", "=", id)
          .where("revoked_at", "is", null)
          .returning(["id", "name", "role"])
          .executeTakeFirst();
        if (!r) throw notFound("token");
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "token",
          resourceId: id,
          action: "revoke",
          before: r,
        });
      });
      auth.apiCache.evict(id);
      if (id === p.id) req.log.info("a token revoked itself");
      return reply.status(204).send();
    },
  );
}
