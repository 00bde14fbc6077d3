// /clients/:id: one client (by IP address, as the query log records it) — its name, the location
// its address falls in, its own settings and pause, the policies that apply to it and why
// (clients/applies.ts), and its activity over the last 24 hours from the query-log store — and
// its own settings (AdGuard Home's per-client "use global settings" or: blocking off, safe search
// on, DNS policies skipped; the defaults are "use global settings"). Settings go into the bundle
// (`clients`), published at once, audited (resource `client settings`).

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { ClientSettingsView, ClientView, GatehouseError } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { AnalyticsStore } from "../analytics/types.ts";
import { audit } from "../audit.ts";
import { activePauses } from "../bundle/compile.ts";
import { policyApplies } from "../clients/applies.ts";
import { LocationsByAddress } from "../clients/location-of.ts";
import { actorOf, type Db } from "../context.ts";
import { notFound } from "../http/errors.ts";
import { canonicalClient } from "./client-names.ts";
import { IdParams, who } from "./common.ts";
import { publishNow } from "./publish-now.ts";

/** Clients with settings of their own, at most (each is an entry in every bundle). */
const MAX_CLIENT_SETTINGS = 10_000;
const ACTIVITY_MS = 24 * 3_600_000;
const tags = ["clients"];

const SettingsBody = T.Object(
  {
    blocking: T.Boolean(),
    safeSearch: T.Boolean(),
    skipPolicies: T.Array(
      T.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" }),
      { maxItems: 1000, uniqueItems: true },
    ),
  },
  { additionalProperties: false },
);
const SettingsAnswer = T.Object({
  settings: ClientSettingsView,
  publishedVersion: T.Optional(T.Union([T.Integer(), T.Null()])),
  publishError: T.Optional(T.String()),
});

const DEFAULTS = {
  blocking: true,
  safeSearch: false,
  skipPolicies: [],
  updatedBy: null,
  updatedAt: null,
} as const;

/** The canonical address of `:id`, or a 422 naming it. */
function clientOf(id: string): string {
  const client = canonicalClient(id);
  if (client === undefined)
    throw new GatehouseError("GH_ERR_VALIDATION", "the client must be an IP address", {
      path: "/id",
    });
  return client;
}

function settingsView(
  r:
    | {
        blocking: boolean;
        safe_search: boolean;
        skip_policies: unknown;
        updated_by: string;
        updated_at: Date;
      }
    | undefined,
): ClientSettingsView {
  if (!r) return { ...DEFAULTS, skipPolicies: [] };
  return {
    blocking: r.blocking,
    safeSearch: r.safe_search,
    skipPolicies: r.skip_policies as string[],
    updatedBy: r.updated_by,
    updatedAt: r.updated_at.toISOString(),
  };
}

/** The account's locations, indexed by network. */
async function locationsOf(db: Db, accountId: string) {
  const rows = await db
    .selectFrom("locations")
    .select(["id", "name", "networks"])
    .where("account_id", "=", accountId)
    .execute();
  return new LocationsByAddress(rows.map((l) => ({ ...l, networks: l.networks as string[] })));
}

/**
 * Does the account know this client: a name, settings or a pause of its own, an address inside
 * one of its locations, or queries in its log over the last 24 hours? Any other address is
 * another account's business (404), as with every other resource.
 */
async function knows(
  db: Db,
  store: AnalyticsStore | undefined,
  accountId: string,
  client: string,
): Promise<boolean> {
  const has = async (table: "client_names" | "client_settings" | "blocking_pauses") =>
    (await db
      .selectFrom(table)
      .select("client")
      .where("account_id", "=", accountId)
      .where("client", "=", client)
      .executeTakeFirst()) !== undefined;
  if ((await has("client_names")) || (await has("client_settings"))) return true;
  if ((await has("blocking_pauses")) || (await locationsOf(db, accountId)).of(client)) return true;
  if (!store) return false;
  const now = Date.now();
  const a = await store.clientActivity({ client, from: now - ACTIVITY_MS, to: now + 1, accountId });
  return a.total > 0;
}

async function settingsRow(db: Db, accountId: string, client: string) {
  return db
    .selectFrom("client_settings")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("client", "=", client)
    .executeTakeFirst();
}

export async function clientRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, publisher } = app.gatehouse;

  app.get(
    "/clients/:id",
    {
      config: { access: "viewer", errors: [404, 422] },
      schema: {
        tags,
        summary: "One client: its name, location, settings, pause, policies and recent activity",
        description:
          "The id is the client's IP address; 404 unless the account knows it (a name, settings or a pause of its own, an address in one of its locations, or queries in the last 24 hours). `policies` says for each enabled policy whether it applies to this client: the expression is evaluated with the client's location and address known and everything else unknown (three-valued logic). `activity` covers the last 24 hours of the query log (null when control keeps none).",
        params: IdParams,
        response: { 200: ClientView },
      },
    },
    async (req) => {
      const p = who(req);
      const client = clientOf(req.params.id);
      const [named, locations, settings, pauses, policies] = await Promise.all([
        db
          .selectFrom("client_names")
          .select("name")
          .where("account_id", "=", p.accountId)
          .where("client", "=", client)
          .executeTakeFirst(),
        locationsOf(db, p.accountId),
        settingsRow(db, p.accountId, client),
        activePauses(db, p.accountId),
        db
          .selectFrom("policies")
          .select(["id", "name", "type", "action", "precedence", "expression"])
          .where("account_id", "=", p.accountId)
          .where("enabled", "=", true)
          .orderBy("type")
          .orderBy("precedence")
          .execute(),
      ]);
      const loc = locations.of(client);
      const location = loc ? { id: loc.id, name: loc.name } : undefined;
      const view = settingsView(settings);
      const skipped = new Set(view.skipPolicies);
      const own = pauses.find((r) => r.client === client);
      const store = app.gatehouse.analytics;
      const now = Date.now();
      const activity = store
        ? await store.clientActivity({
            client,
            from: now - ACTIVITY_MS,
            to: now + 1,
            accountId: p.accountId,
          })
        : undefined;
      if (!named && !settings && !own && !location && !(activity && activity.total > 0))
        throw notFound(`client ${client}`);
      const iso = (ts: number | null) => (ts === null ? null : new Date(ts).toISOString());
      return {
        client,
        name: named?.name ?? null,
        location: location ?? null,
        settings: view,
        pause: own
          ? {
              until: own.until?.toISOString() ?? null,
              pausedBy: own.created_by,
              pausedAt: own.created_at.toISOString(),
            }
          : null,
        coveredByPauses: pauses
          .filter((r) => r.client === "" && (r.scope === "" || r.scope === location?.id))
          .map((r) => ({
            scope: r.scope === "" ? "every client" : `location ${location?.name ?? r.scope}`,
            until: r.until?.toISOString() ?? null,
          })),
        policies: policies.map((pol) => ({
          id: pol.id,
          name: pol.name,
          type: pol.type,
          action: pol.action,
          precedence: pol.precedence,
          ...policyApplies(pol, { ip: client, location }, skipped),
        })),
        activity: activity
          ? {
              total: activity.total,
              blocked: activity.blocked,
              firstSeen: iso(activity.firstTs),
              lastSeen: iso(activity.lastTs),
              seenAs: activity.seenAs,
            }
          : null,
      };
    },
  );

  app.put(
    "/clients/:id/settings",
    {
      config: { access: "editor", errors: [404, 409, 422] },
      schema: {
        tags,
        summary: "Give a client its own settings: blocking off, safe search on, policies skipped",
        description:
          "Replaces the client's settings and publishes at once; the defaults (`blocking: true`, `safeSearch: false`, no `skipPolicies`) return it to the global settings (its own are removed, audited as `delete`). Only the DNS pipeline reads them: `blocking: false` answers what DNS block policies would block (query log reason `client_blocking_off`); `safeSearch` rewrites search engines to their safe-search names when no DNS policy matched (reason `client_safe_search`); `skipPolicies` are DNS policy ids the client is exempt from (the next matching policy decides).",
        params: IdParams,
        body: SettingsBody,
        response: { 200: SettingsAnswer },
      },
    },
    async (req) => {
      const p = who(req);
      const actor = actorOf(p);
      const client = clientOf(req.params.id);
      const { blocking, safeSearch, skipPolicies } = req.body;
      if (!(await knows(db, app.gatehouse.analytics, p.accountId, client)))
        throw notFound(`client ${client}`);
      await db.transaction().execute(async (trx) => {
        if (skipPolicies.length > 0) {
          const known = await trx
            .selectFrom("policies")
            .select("id")
            .where("account_id", "=", p.accountId)
            .where("type", "=", "dns")
            .where("id", "in", skipPolicies)
            .execute();
          const ids = new Set(known.map((k) => k.id));
          const i = skipPolicies.findIndex((id) => !ids.has(id));
          if (i >= 0)
            throw new GatehouseError(
              "GH_ERR_VALIDATION",
              `${skipPolicies[i]} is not one of this account's DNS policies`,
              { path: `/skipPolicies/${i}` },
            );
        }
        const before = await settingsRow(trx, p.accountId, client);
        // The defaults are the global settings: the client's own row goes (if it had one).
        if (blocking && !safeSearch && skipPolicies.length === 0) {
          if (!before) return;
          await trx
            .deleteFrom("client_settings")
            .where("account_id", "=", p.accountId)
            .where("client", "=", client)
            .execute();
          await audit(trx, {
            accountId: p.accountId,
            actor,
            resource: "client settings",
            resourceId: client,
            action: "delete",
            before: settingsView(before),
          });
          return;
        }
        if (!before) {
          const n = await trx
            .selectFrom("client_settings")
            .select((eb) => eb.fn.countAll<string>().as("n"))
            .where("account_id", "=", p.accountId)
            .executeTakeFirstOrThrow();
          if (Number(n.n) >= MAX_CLIENT_SETTINGS)
            throw new GatehouseError(
              "GH_ERR_CONFLICT",
              `at most ${MAX_CLIENT_SETTINGS} clients have settings of their own`,
            );
        }
        const row = {
          blocking,
          safe_search: safeSearch,
          skip_policies: JSON.stringify(skipPolicies),
          updated_by: actor,
          updated_at: new Date(),
        };
        await trx
          .insertInto("client_settings")
          .values({ account_id: p.accountId, client, ...row })
          .onConflict((oc) => oc.columns(["account_id", "client"]).doUpdateSet(row))
          .execute();
        await audit(trx, {
          accountId: p.accountId,
          actor,
          resource: "client settings",
          resourceId: client,
          action: before ? "update" : "create",
          ...(before ? { before: settingsView(before) } : {}),
          after: { blocking, safeSearch, skipPolicies },
        });
      });
      const published = await publishNow(publisher, p.accountId, actor);
      return { settings: settingsView(await settingsRow(db, p.accountId, client)), ...published };
    },
  );
}
