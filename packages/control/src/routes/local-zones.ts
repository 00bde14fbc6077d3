// /local-zones: "local DNS records" as zones the edges answer authoritatively (contract
// LocalZone, edge dns/local-zones.ts). A zone is RFC 1035 master-file text, written by hand or
// imported whole; it is parsed here first, so a zone that does not parse is a 422 naming the line
// and never reaches a bundle.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  GatehouseError,
  isIpOrCidr,
  LocalZone,
  LocalZoneView,
  Page,
  parseZoneFile,
} from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { actorOf } from "../context.ts";
import { etagOf, idempotent, PageQuery } from "../http/conventions.ts";
import { NoContent } from "../http/responses.ts";
import { newId } from "../ids.ts";
import { localZoneView } from "../views.ts";
import { type AuditedResource, deleteAudited, target, updateAudited } from "./audited-change.ts";
import { IdParams, jsonOrNull, who } from "./common.ts";
import { loadOwned, pageOwned } from "./owned-rows.ts";

const props = LocalZone.properties;
const LocalZoneBody = T.Object(
  {
    name: props.name,
    zone: props.zone,
    locations: T.Optional(T.Union([props.locations, T.Null()])),
    transferTo: T.Optional(T.Union([props.transferTo, T.Null()])),
  },
  { additionalProperties: false },
);
const tags = ["local-zones"];
const ZONES: AuditedResource<"local_zones", ReturnType<typeof localZoneView>> = {
  table: "local_zones",
  resource: "local zone",
  view: localZoneView,
};

/** Validate a zone body: the apex, the zone text (422 names the line), secondaries. */
function checked(b: {
  name: string;
  zone: string;
  locations?: string[] | null;
  transferTo?: string[] | null;
}) {
  const name = b.name.toLowerCase().replace(/\.$/, "");
  if (
    !/^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(name)
  )
    throw new GatehouseError("GH_ERR_VALIDATION", `not a zone name: ${JSON.stringify(b.name)}`, {
      path: "/name",
    });
  try {
    parseZoneFile(b.zone, name);
  } catch (e) {
    throw new GatehouseError("GH_ERR_VALIDATION", `zone: ${(e as Error).message}`, {
      path: "/zone",
      line: (e as { line?: number }).line,
    });
  }
  (b.transferTo ?? []).forEach((a, i) => {
    if (!isIpOrCidr(a))
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        `not an address or CIDR: ${JSON.stringify(a)}`,
        {
          path: `/transferTo/${i}`,
        },
      );
  });
  return {
    name,
    zone: b.zone,
    locations: jsonOrNull(b.locations ?? undefined),
    transfer_to: jsonOrNull(b.transferTo ?? undefined),
  };
}

export async function localZoneRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;

  app.get(
    "/local-zones",
    {
      config: { access: "viewer", cacheable: true },
      schema: {
        tags,
        summary: "List local zones",
        querystring: PageQuery,
        response: { 200: Page(LocalZoneView) },
      },
    },
    async (req) => pageOwned(db, ZONES, who(req).accountId, req.query),
  );

  app.post(
    "/local-zones",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 422] },
      schema: {
        tags,
        summary: "Create a local zone (records as zone-file text, or an imported zone file)",
        body: LocalZoneBody,
        response: { 201: LocalZoneView },
      },
    },
    async (req, reply) => {
      const p = who(req);
      return idempotent(db, req, reply, p.accountId, async () => {
        const values = checked(req.body);
        const row = await db.transaction().execute(async (trx) => {
          const taken = await trx
            .selectFrom("local_zones")
            .select("id")
            .where("account_id", "=", p.accountId)
            .where("name", "=", values.name)
            .executeTakeFirst();
          if (taken)
            throw new GatehouseError("GH_ERR_CONFLICT", `a local zone ${values.name} exists`, {
              id: taken.id,
            });
          const created = await trx
            .insertInto("local_zones")
            .values({ id: newId("lzn"), account_id: p.accountId, ...values })
            .returningAll()
            .executeTakeFirstOrThrow();
          await audit(trx, {
            accountId: p.accountId,
            actor: actorOf(p),
            resource: "local zone",
            resourceId: created.id,
            action: "create",
            after: localZoneView(created),
          });
          return created;
        });
        reply.header("etag", etagOf(row.version));
        return { status: 201, body: localZoneView(row) };
      });
    },
  );

  app.get(
    "/local-zones/:id",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "Get a local zone",
        params: IdParams,
        response: { 200: LocalZoneView },
      },
    },
    async (req, reply) => {
      const row = await loadOwned(db, ZONES, who(req).accountId, req.params.id);
      reply.header("etag", etagOf(row.version));
      return localZoneView(row);
    },
  );

  app.put(
    "/local-zones/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 412, 422] },
      schema: {
        tags,
        summary: "Replace a local zone (If-Match)",
        params: IdParams,
        body: LocalZoneBody,
        response: { 200: LocalZoneView },
      },
    },
    async (req, reply) => {
      const values = checked(req.body);
      const row = await updateAudited(db, ZONES, target(req), "update", () => values);
      reply.header("etag", etagOf(row.version));
      return localZoneView(row);
    },
  );

  app.delete(
    "/local-zones/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: {
        tags,
        summary: "Delete a local zone",
        params: IdParams,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      await deleteAudited(db, ZONES, target(req));
      return reply.status(204).send();
    },
  );
}
