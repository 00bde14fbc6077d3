// Rows → API objects and → bundle objects. The API view adds timestamps and the version
// (also sent as the ETag); the bundle view is exactly the contract's shape.

import type {
  BlockPageSettings,
  ImportStatus,
  LocalZone,
  Location,
  Policy,
  PolicySettings,
  ProxySettings,
  ResolverSettings,
  Schedule,
} from "@gatehouse/contract";
import type { Selectable } from "kysely";
import type {
  AccountSettingsTable,
  IdentityDevicesTable,
  IdentityUsersTable,
  ListsTable,
  LocalZonesTable,
  LocationsTable,
  PoliciesTable,
} from "./db/schema.ts";

type Row<T> = Selectable<T>;

export function policyToBundle(r: Row<PoliciesTable>): Policy {
  return {
    id: r.id,
    name: r.name,
    ...(r.description !== null ? { description: r.description } : {}),
    type: r.type,
    enabled: r.enabled,
    precedence: r.precedence,
    expression: r.expression,
    action: r.action as Policy["action"],
    ...(r.settings ? { settings: r.settings as PolicySettings } : {}),
    ...(r.schedule ? { schedule: r.schedule as Schedule } : {}),
  };
}

function stamps(r: { version: number; created_at: Date; updated_at: Date }) {
  return {
    version: r.version,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export function policyView(r: Row<PoliciesTable>) {
  return { ...policyToBundle(r), ...stamps(r) };
}

export function listView(r: Row<ListsTable>) {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    ...(r.description !== null ? { description: r.description } : {}),
    itemCount: r.item_count,
    ...(r.import_status ? { importStatus: r.import_status as ImportStatus } : {}),
    ...stamps(r),
  };
}

export function locationToBundle(r: Row<LocationsTable>): Location {
  return {
    id: r.id,
    name: r.name,
    networks: r.networks as string[],
    dohToken: r.doh_token,
    ...(r.dot_label !== null ? { dotLabel: r.dot_label } : {}),
    requireProxyAuth: r.require_proxy_auth,
    // Only when on: bundles of accounts that never inspect stay as they were.
    ...(r.tls_inspection ? { tlsInspection: true } : {}),
    ...(r.block_page ? { blockPage: r.block_page as BlockPageSettings } : {}),
    ...(r.dnssec_validate === false ? { dnssec: { validate: false } } : {}),
  };
}

export function locationView(r: Row<LocationsTable>) {
  return { ...locationToBundle(r), tlsInspection: r.tls_inspection, ...stamps(r) };
}

export function localZoneToBundle(r: Row<LocalZonesTable>): LocalZone {
  return {
    id: r.id,
    name: r.name,
    zone: r.zone,
    ...(r.locations !== null ? { locations: r.locations as string[] } : {}),
    ...(r.transfer_to !== null ? { transferTo: r.transfer_to as string[] } : {}),
  };
}

export function localZoneView(r: Row<LocalZonesTable>) {
  return { ...localZoneToBundle(r), ...stamps(r) };
}

/** Says whether a proxy password is set, never its hash. */
export function userView(r: Row<IdentityUsersTable>) {
  return {
    id: r.id,
    email: r.email,
    ...(r.name !== null ? { name: r.name } : {}),
    groups: r.groups as string[],
    hasCredential: r.credential_hash !== null,
    ...stamps(r),
  };
}

/** Never shows the credential hash. */
export function deviceView(r: Row<IdentityDevicesTable>) {
  return {
    id: r.id,
    name: r.name,
    userId: r.user_id,
    locationId: r.location_id,
    dohTokenIssuedAt: r.doh_token_issued_at?.toISOString() ?? null,
    ...stamps(r),
  };
}

export const DEFAULT_RESOLVER: ResolverSettings = {
  upstreams: [{ address: "udp://1.1.1.1:53" }, { address: "udp://9.9.9.9:53" }],
  strategy: "failover",
};

interface AccountSettingsView {
  allowUnknownClients: boolean;
  proxy?: ProxySettings;
  blockPage?: BlockPageSettings;
}

export function settingsView(r: Row<AccountSettingsTable> | undefined): AccountSettingsView {
  if (!r) return { allowUnknownClients: false };
  return {
    allowUnknownClients: r.allow_unknown_clients,
    ...(r.proxy ? { proxy: r.proxy as ProxySettings } : {}),
    ...(r.block_page ? { blockPage: r.block_page as BlockPageSettings } : {}),
  };
}

export function resolverOf(r: Row<AccountSettingsTable> | undefined): ResolverSettings {
  return r ? (r.resolver as ResolverSettings) : DEFAULT_RESOLVER;
}
