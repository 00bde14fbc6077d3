// /locations: where clients come from (source networks, DoH path token, DoT label).

import { randomBytes } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  BlockPageSettings,
  GatehouseError,
  Location,
  LocationView,
  Page,
} from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { actorOf } from "../context.ts";
import { etagOf, idempotent, PageQuery } from "../http/conventions.ts";
import { NoContent } from "../http/responses.ts";
import { newId } from "../ids.ts";
import { normalizeIp } from "../lists/list-items.ts";
import { locationView } from "../views.ts";
import { type AuditedResource, deleteAudited, target, updateAudited } from "./audited-change.ts";
import { IdParams, type IdRequest, jsonOrNull, who } from "./common.ts";
import { loadOwned, pageOwned } from "./owned-rows.ts";

const props = Location.properties;
const LocationCreate = T.Object(
  {
    name: props.name,
    networks: T.Optional(props.networks),
    dohToken: T.Optional(T.Unsafe<string>(props.dohToken)),
    dotLabel: T.Optional(T.Unsafe<string>(props.dotLabel)),
    requireProxyAuth: T.Optional(T.Boolean()),
    tlsInspection: T.Optional(T.Boolean()),
    blockPage: T.Optional(BlockPageSettings),
    dnssec: T.Optional(props.dnssec),
  },
  { additionalProperties: false },
);
const LocationPatch = T.Object(
  {
    name: T.Optional(props.name),
    networks: T.Optional(props.networks),
    dotLabel: T.Optional(T.Union([T.Unsafe<string>(props.dotLabel), T.Null()])),
    requireProxyAuth: T.Optional(T.Boolean()),
    tlsInspection: T.Optional(T.Boolean()),
    blockPage: T.Optional(T.Union([BlockPageSettings, T.Null()])),
    dnssec: T.Optional(props.dnssec),
  },
  { additionalProperties: false, minProperties: 1 },
);
const tags = ["locations"];
const LOCATIONS: AuditedResource<"locations", ReturnType<typeof locationView>> = {
  table: "locations",
  resource: "location",
  view: locationView,
};

/** A DoH path token: 128 bits, URL-safe. */
function newDohToken(): string {
  return randomBytes(16).toString("base64url");
}

function normalizeNetworks(networks: readonly string[] | undefined): string[] {
  const out: string[] = [];
  (networks ?? []).forEach((n, i) => {
    const r = normalizeIp(n);
    if (!r.ok) throw new GatehouseError("GH_ERR_VALIDATION", r.reason, { path: `/networks/${i}` });
    out.push(r.value);
  });
  return out;
}

export async function locationRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;
  const load = (accountId: string, id: string) => loadOwned(db, LOCATIONS, accountId, id);

  app.get(
    "/locations",
    {
      config: { access: "viewer", cacheable: true },
      schema: {
        tags,
        summary: "List locations",
        querystring: PageQuery,
        response: { 200: Page(LocationView) },
      },
    },
    async (req) => {
      const q = req.query;
      return pageOwned(db, LOCATIONS, who(req).accountId, q);
    },
  );

  app.post(
    "/locations",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 422] },
      schema: {
        tags,
        summary: "Create a location (a DoH token is generated unless given)",
        body: LocationCreate,
        response: { 201: LocationView },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      return idempotent(db, req, reply, p.accountId, async () => {
        const networks = normalizeNetworks(b.networks);
        const row = await db.transaction().execute(async (trx) => {
          const created = await trx
            .insertInto("locations")
            .values({
              id: newId("loc"),
              account_id: p.accountId,
              name: b.name,
              networks: JSON.stringify(networks),
              doh_token: b.dohToken ?? newDohToken(),
              dot_label: b.dotLabel ?? null,
              require_proxy_auth: b.requireProxyAuth ?? false,
              tls_inspection: b.tlsInspection ?? false,
              block_page: jsonOrNull(b.blockPage),
              dnssec_validate: b.dnssec?.validate ?? true,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await audit(trx, {
            accountId: p.accountId,
            actor: actorOf(p),
            resource: "location",
            resourceId: created.id,
            action: "create",
            after: locationView(created),
          });
          return created;
        });
        reply.header("etag", etagOf(row.version));
        return { status: 201, body: locationView(row) };
      });
    },
  );

  app.get(
    "/locations/:id",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "Get a location",
        params: IdParams,
        response: { 200: LocationView },
      },
    },
    async (req, reply) => {
      const row = await load(who(req).accountId, req.params.id);
      reply.header("etag", etagOf(row.version));
      return locationView(row);
    },
  );

  const update = async (
    req: IdRequest,
    changes: (before: Awaited<ReturnType<typeof load>>) => Record<string, unknown>,
    action: string,
  ) => {
    return updateAudited(db, LOCATIONS, target(req), action, changes);
  };

  app.patch(
    "/locations/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 412, 422] },
      schema: {
        tags,
        summary: "Change a location",
        params: IdParams,
        body: LocationPatch,
        response: { 200: LocationView },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const networks = b.networks === undefined ? undefined : normalizeNetworks(b.networks);
      const row = await update(
        req,
        () => ({
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(networks !== undefined ? { networks: JSON.stringify(networks) } : {}),
          ...(b.dotLabel !== undefined ? { dot_label: b.dotLabel } : {}),
          ...(b.requireProxyAuth !== undefined ? { require_proxy_auth: b.requireProxyAuth } : {}),
          ...(b.tlsInspection !== undefined ? { tls_inspection: b.tlsInspection } : {}),
          ...(b.blockPage !== undefined ? { block_page: jsonOrNull(b.blockPage) } : {}),
          ...(b.dnssec !== undefined ? { dnssec_validate: b.dnssec.validate ?? true } : {}),
        }),
        "update",
      );
      reply.header("etag", etagOf(row.version));
      return locationView(row);
    },
  );

  app.post(
    "/locations/:id/rotate-doh-token",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 412] },
      schema: {
        tags,
        summary: "Replace the DoH token (the old path stops working)",
        params: IdParams,
        response: { 200: LocationView },
      },
    },
    async (req, reply) => {
      const row = await update(req, () => ({ doh_token: newDohToken() }), "rotate-doh-token");
      reply.header("etag", etagOf(row.version));
      return locationView(row);
    },
  );

  app.delete(
    "/locations/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: {
        tags,
        summary: "Delete a location",
        params: IdParams,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      await deleteAudited(db, LOCATIONS, target(req));
      return reply.status(204).send();
    },
  );
}
