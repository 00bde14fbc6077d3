// Compiles an account's stored configuration into a config bundle (contract ConfigBundle):
// enabled policies in precedence order, every list with its items, locations, identities and
// settings. List items are aggregated to JSON inside the database (one row per list instead of
// one per item), which keeps a million-item publish to a few seconds.

import {
  type BlockingPause,
  BUNDLE_SCHEMA_VERSION,
  type ClientSettings,
  type ConfigBundle,
  type Identities,
  type List,
} from "@gatehouse/contract";
import { sql } from "kysely";
import type { Db } from "../context.ts";
import { revokedSerials } from "../tls/intermediate.ts";
import type { RootCaStore } from "../tls/root-ca.ts";
import {
  localZoneToBundle,
  locationToBundle,
  policyToBundle,
  resolverOf,
  settingsView,
} from "../views.ts";

/** The bundle without version, hash and timestamp: what a publish would ship. */
export type BundleContent = Omit<ConfigBundle, "version" | "hash" | "createdAt">;

/**
 * The bundle's `tls` section when any location inspects: the root edges chain to, and the
 * intermediates control revoked. Generating the root here (first use) is what lets an account
 * created after the first start inspect without a separate step.
 */
async function tlsSection(
  db: Db,
  accountId: string,
  roots: RootCaStore,
): Promise<NonNullable<ConfigBundle["tls"]>> {
  const root = await roots.get(accountId);
  return { rootCa: root.certPem, revokedIntermediates: await revokedSerials(db, accountId) };
}

export async function compileContent(
  db: Db,
  accountId: string,
  roots?: RootCaStore,
): Promise<BundleContent> {
  const [settings, locations, lists, policies, users, devices, pauses, zones, clients] =
    await Promise.all([
      db
        .selectFrom("account_settings")
        .selectAll()
        .where("account_id", "=", accountId)
        .executeTakeFirst(),
      db
        .selectFrom("locations")
        .selectAll()
        .where("account_id", "=", accountId)
        .orderBy("id")
        .execute(),
      db
        .selectFrom("lists")
        .select(["id", "name", "type", "description"])
        .select(
          sql<string>`(select coalesce(json_agg(i.value order by i.value), '[]')::text
          from list_items i where i.list_id = lists.id)`.as("items_json"),
        )
        .where("account_id", "=", accountId)
        .orderBy("name")
        .execute(),
      db
        .selectFrom("policies")
        .selectAll()
        .where("account_id", "=", accountId)
        .where("enabled", "=", true)
        .orderBy("type")
        .orderBy("precedence")
        .execute(),
      db
        .selectFrom("identity_users")
        .selectAll()
        .where("account_id", "=", accountId)
        .orderBy("id")
        .execute(),
      db
        .selectFrom("identity_devices")
        .selectAll()
        .where("account_id", "=", accountId)
        .orderBy("id")
        .execute(),
      activePauses(db, accountId),
      db
        .selectFrom("local_zones")
        .selectAll()
        .where("account_id", "=", accountId)
        .orderBy("name")
        .execute(),
      clientSettingsRows(db, accountId),
    ]);
  const s = settingsView(settings);
  const locationIds = new Set(locations.map((l) => l.id));
  const bundleLists: List[] = lists.map((l) => {
    const raw = JSON.parse(l.items_json) as string[];
    return {
      id: l.id,
      name: l.name,
      type: l.type,
      ...(l.description !== null ? { description: l.description } : {}),
      items: l.type === "int" ? raw.map(Number) : raw,
    };
  });
  const identities: Identities = {
    users: users.map((u) => ({
      id: u.id,
      email: u.email,
      ...(u.name !== null ? { name: u.name } : {}),
      groups: u.groups as string[],
      // The edge checks Proxy-Authorization: Basic <email>:<password> against this hash.
      ...(u.credential_hash !== null ? { credentialHash: u.credential_hash } : {}),
    })),
    devices: devices.map((d) => ({
      id: d.id,
      name: d.name,
      credentialHash: d.credential_hash,
      ...(d.user_id !== null ? { userId: d.user_id } : {}),
      // A DoH token goes out only with a location that exists (a removed one ends its use).
      ...(d.doh_token_sha256 !== null && d.location_id !== null && locationIds.has(d.location_id)
        ? { locationId: d.location_id, dohTokenSha256: d.doh_token_sha256 }
        : {}),
    })),
  };
  return {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    accountId,
    allowUnknownClients: s.allowUnknownClients,
    resolver: resolverOf(settings),
    locations: locations.map(locationToBundle),
    lists: bundleLists,
    policies: policies.map(policyToBundle),
    identities,
    ...(s.proxy ? { proxy: s.proxy } : {}),
    ...(s.blockPage ? { blockPage: s.blockPage } : {}),
    ...(pauses.length > 0 ? { pauses: pauses.map(pauseToBundle) } : {}),
    ...(clients.length > 0 ? { clients: clients.map(clientSettingsToBundle) } : {}),
    ...(zones.length > 0 ? { localZones: zones.map(localZoneToBundle) } : {}),
    ...(roots && locations.some((l) => l.tls_inspection)
      ? { tls: await tlsSection(db, accountId, roots) }
      : {}),
  };
}

/** The account's pauses that have not ended, every client's first, of locations that exist. */
export function activePauses(db: Db, accountId: string) {
  return db
    .selectFrom("blocking_pauses")
    .selectAll()
    .where("account_id", "=", accountId)
    .where((eb) => eb.or([eb("until", "is", null), eb("until", ">", new Date())]))
    .where((eb) =>
      eb.or([
        eb("scope", "=", ""),
        eb(
          "scope",
          "in",
          eb.selectFrom("locations").select("id").where("account_id", "=", accountId),
        ),
      ]),
    )
    .orderBy("scope")
    .orderBy("client")
    .execute();
}

export function pauseToBundle(p: {
  scope: string;
  client: string;
  until: Date | null;
}): BlockingPause {
  return {
    ...(p.until !== null ? { until: p.until.getTime() } : {}),
    ...(p.scope !== "" ? { locationId: p.scope } : {}),
    ...(p.client !== "" ? { client: p.client } : {}),
  };
}

/** The account's per-client settings, by address. */
export function clientSettingsRows(db: Db, accountId: string) {
  return db
    .selectFrom("client_settings")
    .selectAll()
    .where("account_id", "=", accountId)
    .orderBy("client")
    .execute();
}

/** A client's settings as the bundle carries them: only what differs from the defaults. */
export function clientSettingsToBundle(r: {
  client: string;
  blocking: boolean;
  safe_search: boolean;
  skip_policies: unknown;
}): ClientSettings {
  const skip = r.skip_policies as string[];
  return {
    client: r.client,
    ...(r.blocking ? {} : { blocking: false }),
    ...(r.safe_search ? { safeSearch: true } : {}),
    ...(skip.length > 0 ? { skipPolicies: skip } : {}),
  };
}

export interface BundleSummary {
  readonly policies: number;
  readonly lists: number;
  readonly listItems: number;
  readonly locations: number;
  readonly users: number;
  readonly devices: number;
}

export function summarize(c: BundleContent): BundleSummary {
  let listItems = 0;
  for (const l of c.lists) listItems += l.items?.length ?? 0;
  return {
    policies: c.policies.length,
    lists: c.lists.length,
    listItems,
    locations: c.locations.length,
    users: c.identities?.users.length ?? 0,
    devices: c.identities?.devices.length ?? 0,
  };
}
