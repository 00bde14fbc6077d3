// /resolver (upstreams, strategy, cache, conditional forwarding) and /settings (unknown
// clients, proxy, block page): one row per account, replaced whole with PUT under If-Match.

import { X509Certificate } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  BlockPageSettings,
  GatehouseError,
  ProxySettings,
  ResolverSettings,
  trustAnchorLines,
} from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { actorOf, type Db } from "../context.ts";
import { checkIfMatch, etagOf } from "../http/conventions.ts";
import { DEFAULT_RESOLVER, resolverOf, settingsView } from "../views.ts";
import { json, jsonOrNull, who } from "./common.ts";

const SettingsBody = T.Object(
  {
    /** Answer clients outside every location (an open resolver/proxy if exposed). */
    allowUnknownClients: T.Boolean(),
    proxy: T.Optional(ProxySettings),
    blockPage: T.Optional(BlockPageSettings),
  },
  { additionalProperties: false },
);

const UPSTREAM = /^(udp|tcp|tls|https):\/\/\S+$/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

function checkResolver(r: ResolverSettings): void {
  const all = [
    ...r.upstreams.map((u, i) => ({ u, path: `/upstreams/${i}` })),
    ...(r.conditionalForwarding ?? []).flatMap((c, i) =>
      c.upstreams.map((u, j) => ({ u, path: `/conditionalForwarding/${i}/upstreams/${j}` })),
    ),
  ];
  for (const { u, path } of all) {
    if (!UPSTREAM.test(u.address))
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        `upstream "${u.address}" must be udp://, tcp://, tls:// or https://`,
        { path: `${path}/address` },
      );
    // A path would name a file on each edge's disk: bundles carry the CA itself.
    if (u.caFile !== undefined)
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        `upstream "${u.address}": caFile is for edge config files; send the CA's PEM text as ca`,
        { path: `${path}/caFile` },
      );
    if (u.ca !== undefined && !/^(tls|https):/.test(u.address))
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        `upstream "${u.address}": ca applies to tls:// and https:// upstreams only`,
        { path: `${path}/ca` },
      );
    if (u.ca !== undefined && !PEM_CERT.test(u.ca))
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        `upstream "${u.address}": ca holds no PEM certificate`,
        { path: `${path}/ca` },
      );
  }
  const anchors = r.dnssec?.trustAnchors;
  if (anchors !== undefined) {
    let n: number;
    try {
      n = trustAnchorLines(anchors).length;
    } catch (e) {
      throw new GatehouseError("GH_ERR_VALIDATION", (e as Error).message, {
        path: "/dnssec/trustAnchors",
      });
    }
    if (n === 0)
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        "trustAnchors holds no DS or DNSKEY record (leave it out for the built-in root anchors)",
        { path: "/dnssec/trustAnchors" },
      );
  }
  const c = r.cache;
  if (c?.minTtl !== undefined && c.maxTtl !== undefined && c.minTtl > c.maxTtl)
    throw new GatehouseError("GH_ERR_VALIDATION", "cache.minTtl exceeds cache.maxTtl", {
      path: "/cache",
    });
}

/** Each origin CA must parse as PEM certificates (the edge builds its trust store from them). */
function checkOriginCas(cas: readonly string[] | undefined): void {
  (cas ?? []).forEach((pem, i) => {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    try {
      if (blocks.length === 0) throw new Error("no PEM certificate");
      for (const b of blocks) new X509Certificate(b);
    } catch (e) {
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        `proxy.originCas[${i}] is not a PEM certificate: ${(e as Error).message}`,
        { path: `/proxy/originCas/${i}` },
      );
    }
  });
}

async function loadRow(db: Db, accountId: string) {
  return db
    .selectFrom("account_settings")
    .selectAll()
    .where("account_id", "=", accountId)
    .executeTakeFirst();
}

/** Create the row on first write (accounts made before settings existed have none). */
async function ensureRow(db: Db, accountId: string) {
  await db
    .insertInto("account_settings")
    .values({
      account_id: accountId,
      resolver: json(DEFAULT_RESOLVER),
      allow_unknown_clients: false,
    })
    .onConflict((oc) => oc.column("account_id").doNothing())
    .execute();
  const row = await loadRow(db, accountId);
  // The insert made the row unless the account itself is gone (deleted meanwhile).
  if (row === undefined) throw new GatehouseError("GH_ERR_NOT_FOUND", "account not found");
  return row;
}

export async function settingsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;

  app.get(
    "/resolver",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["settings"],
        summary: "Resolver settings",
        response: { 200: ResolverSettings },
      },
    },
    async (req, reply) => {
      const row = await loadRow(db, who(req).accountId);
      reply.header("etag", etagOf(row?.version ?? 1));
      return resolverOf(row);
    },
  );

  app.put(
    "/resolver",
    {
      config: { access: "editor", autoPublish: true, errors: [412, 422] },
      schema: {
        tags: ["settings"],
        summary: "Replace resolver settings",
        body: T.Unsafe<ResolverSettings>({ ...ResolverSettings, additionalProperties: false }),
        response: { 200: ResolverSettings },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      checkResolver(b);
      const version = await db.transaction().execute(async (trx) => {
        const before = await ensureRow(trx, p.accountId);
        checkIfMatch(req, before.version);
        await trx
          .updateTable("account_settings")
          .set({ resolver: json(b), version: before.version + 1, updated_at: new Date() })
          .where("account_id", "=", p.accountId)
          .execute();
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "resolver",
          resourceId: null,
          action: "update",
          before: before.resolver,
          after: b,
        });
        return before.version + 1;
      });
      reply.header("etag", etagOf(version));
      return b;
    },
  );

  app.get(
    "/settings",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["settings"],
        summary: "Account-wide settings",
        response: { 200: SettingsBody },
      },
    },
    async (req, reply) => {
      const row = await loadRow(db, who(req).accountId);
      reply.header("etag", etagOf(row?.version ?? 1));
      return settingsView(row);
    },
  );

  app.put(
    "/settings",
    {
      config: { access: "editor", autoPublish: true, errors: [412, 422] },
      schema: {
        tags: ["settings"],
        summary: "Replace account-wide settings",
        body: SettingsBody,
        response: { 200: SettingsBody },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      checkOriginCas(b.proxy?.originCas);
      const version = await db.transaction().execute(async (trx) => {
        const before = await ensureRow(trx, p.accountId);
        checkIfMatch(req, before.version);
        await trx
          .updateTable("account_settings")
          .set({
            allow_unknown_clients: b.allowUnknownClients,
            proxy: jsonOrNull(b.proxy),
            block_page: jsonOrNull(b.blockPage),
            version: before.version + 1,
            updated_at: new Date(),
          })
          .where("account_id", "=", p.accountId)
          .execute();
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "settings",
          resourceId: null,
          action: "update",
          before: settingsView(before),
          after: b,
        });
        return before.version + 1;
      });
      reply.header("etag", etagOf(version));
      return b;
    },
  );
}
