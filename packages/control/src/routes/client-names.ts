// /client-names: names an admin gives clients, by IP address, so the query log and analytics
// show "Kitchen iPad" instead of 192.168.1.23. Stored in the canonical form the query log
// records (formatIp: IPv6 compressed, IPv4-mapped as IPv4).

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { ClientNameView, GatehouseError, Page } from "@gatehouse/contract";
import { formatIp, parseIp } from "@gatehouse/rules";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { actorOf } from "../context.ts";
import { notFound } from "../http/errors.ts";
import { NoContent } from "../http/responses.ts";
import { IdParams, who } from "./common.ts";

const MAX_NAMES = 10_000;
const ClientNameBody = T.Object(
  {
    client: T.String({ minLength: 1, maxLength: 64 }),
    name: T.String({ minLength: 1, maxLength: 100 }),
  },
  { additionalProperties: false },
);
const tags = ["clients"];

/** The canonical form of a client address, or undefined when it is not one. */
export function canonicalClient(s: string): string | undefined {
  const ip = parseIp(s.trim());
  if (!ip) return undefined;
  if (ip.family === 6) {
    const [w0, w1, w2, w3] = ip.w;
    if (w0 === 0 && w1 === 0 && w2 === 0xffff) return formatIp({ family: 4, v4: w3 });
  }
  return formatIp(ip);
}

function view(r: {
  client: string;
  name: string;
  updated_by: string;
  updated_at: Date;
}): ClientNameView {
  return {
    client: r.client,
    name: r.name,
    updatedBy: r.updated_by,
    updatedAt: r.updated_at.toISOString(),
  };
}

export async function clientNameRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;

  app.get(
    "/client-names",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "The names given to clients (by IP address), all of them",
        response: { 200: Page(ClientNameView) },
      },
    },
    async (req) => {
      const p = who(req);
      const rows = await db
        .selectFrom("client_names")
        .selectAll()
        .where("account_id", "=", p.accountId)
        .orderBy("client")
        .limit(MAX_NAMES)
        .execute();
      return { items: rows.map(view), nextCursor: null };
    },
  );

  app.post(
    "/client-names",
    {
      config: { access: "editor", errors: [409, 422] },
      schema: {
        tags,
        summary: "Name a client by its IP address (replaces its name when it has one)",
        body: ClientNameBody,
        response: { 200: ClientNameView },
      },
    },
    async (req) => {
      const p = who(req);
      const client = canonicalClient(req.body.client);
      if (client === undefined)
        throw new GatehouseError("GH_ERR_VALIDATION", "client must be an IP address", {
          path: "/client",
        });
      const name = req.body.name.trim();
      if (!name)
        throw new GatehouseError("GH_ERR_VALIDATION", "name must not be blank", { path: "/name" });
      return db.transaction().execute(async (trx) => {
        const before = await trx
          .selectFrom("client_names")
          .select("name")
          .where("account_id", "=", p.accountId)
          .where("client", "=", client)
          .executeTakeFirst();
        if (!before) {
          const count = await trx
            .selectFrom("client_names")
            .select((eb) => eb.fn.countAll<string>().as("n"))
            .where("account_id", "=", p.accountId)
            .executeTakeFirstOrThrow();
          if (Number(count.n) >= MAX_NAMES)
            throw new GatehouseError(
              "GH_ERR_CONFLICT",
              `an account names at most ${MAX_NAMES} clients`,
            );
        }
        const row = await trx
          .insertInto("client_names")
          .values({ account_id: p.accountId, client, name, updated_by: actorOf(p) })
          .onConflict((oc) =>
            oc
              .columns(["account_id", "client"])
              .doUpdateSet({ name, updated_by: actorOf(p), updated_at: new Date() }),
          )
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "client name",
          resourceId: client,
          action: before ? "update" : "create",
          ...(before ? { before: { name: before.name } } : {}),
          after: { name },
        });
        return view(row);
      });
    },
  );

  app.delete(
    "/client-names/:id",
    {
      config: { access: "editor" },
      schema: {
        tags,
        summary: "Forget a client's name (the id is its IP address)",
        params: IdParams,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const client = canonicalClient(req.params.id) ?? req.params.id;
      await db.transaction().execute(async (trx) => {
        const r = await trx
          .deleteFrom("client_names")
          .where("account_id", "=", p.accountId)
          .where("client", "=", client)
          .returning(["name"])
          .executeTakeFirst();
        if (!r) throw notFound("client name");
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "client name",
          resourceId: client,
          action: "delete",
          before: { name: r.name },
        });
      });
      return reply.status(204).send();
    },
  );
}
