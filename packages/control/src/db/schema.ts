// Table types for Kysely: one schema for PGlite and PostgreSQL. JSON columns are written as
// JSON text (node-postgres would turn a JS array into a Postgres array literal, not JSON) and
// read back parsed by both drivers.

import type { ColumnType, Generated } from "kysely";

/** jsonb: read as a parsed value, written as JSON text. */
type Json = ColumnType<unknown, string, string>;
type JsonNullable = ColumnType<unknown, string | null | undefined, string | null>;
/** timestamptz with a database default. */
type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;
export type Version = ColumnType<number, number | undefined, number>;

export const ROLES = ["admin", "editor", "viewer"] as const;
export type Role = (typeof ROLES)[number];

interface AccountsTable {
  id: string;
  name: string;
  is_system: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

interface ApiTokensTable {
  id: string;
  account_id: string;
  name: string;
  role: Role;
  secret_hash: string;
  expires_at: Date | null;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_by: string | null;
  created_at: CreatedAt;
}

export interface PoliciesTable {
  id: string;
  account_id: string;
  type: "dns" | "http" | "net";
  name: string;
  description: string | null;
  enabled: boolean;
  precedence: number;
  expression: string;
  action: string;
  settings: JsonNullable;
  schedule: JsonNullable;
  version: Version;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface ListsTable {
  id: string;
  account_id: string;
  name: string;
  type: "domain" | "ip" | "string" | "int";
  description: string | null;
  item_count: ColumnType<number, number | undefined, number>;
  /** How the last bulk upload went (lines skipped, the first rejected ones); null before one. */
  import_status: JsonNullable;
  version: Version;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

interface ListItemsTable {
  list_id: string;
  value: string;
}

export interface LocationsTable {
  id: string;
  account_id: string;
  name: string;
  networks: Json;
  doh_token: string;
  dot_label: string | null;
  require_proxy_auth: boolean;
  tls_inspection: ColumnType<boolean, boolean | undefined, boolean>;
  block_page: JsonNullable;
  /** DNSSEC validation for this location's clients (migration 0010). */
  dnssec_validate: Generated<boolean>;
  version: Version;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** A local zone: records the edges answer authoritatively (contract LocalZone). */
export interface LocalZonesTable {
  id: string;
  account_id: string;
  name: string;
  zone: string;
  locations: JsonNullable;
  transfer_to: JsonNullable;
  version: Version;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface IdentityUsersTable {
  id: string;
  account_id: string;
  email: string;
  name: string | null;
  groups: Json;
  /** scrypt hash of the user's proxy password; null until one is issued. */
  credential_hash: ColumnType<string | null, string | null | undefined, string | null>;
  version: Version;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface IdentityDevicesTable {
  id: string;
  account_id: string;
  name: string;
  user_id: string | null;
  credential_hash: string;
  /** The location a DoH token's queries belong to. */
  location_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** SHA-256 (base64url) of the device's DoH URL token; null: none. */
  doh_token_sha256: ColumnType<string | null, string | null | undefined, string | null>;
  doh_token_issued_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  version: Version;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface AccountSettingsTable {
  account_id: string;
  resolver: Json;
  proxy: JsonNullable;
  block_page: JsonNullable;
  allow_unknown_clients: boolean;
  version: Version;
  updated_at: UpdatedAt;
}

interface BlockingPausesTable {
  account_id: string;
  /** "" for every client (or the one in `client`), else a location id. */
  scope: string;
  /** One client's address; "" for the pauses of everyone and of locations. */
  client: Generated<string>;
  until: Date | null;
  created_by: string;
  created_at: CreatedAt;
}

interface ClientSettingsTable {
  account_id: string;
  /** The client's address, canonical (as client_names.client). */
  client: string;
  blocking: boolean;
  safe_search: boolean;
  /** DNS policy ids (JSON array of strings). */
  skip_policies: Json;
  updated_by: string;
  updated_at: UpdatedAt;
}

interface AuditLogTable {
  id: Generated<string>;
  account_id: string;
  actor: string;
  at: CreatedAt;
  resource: string;
  resource_id: string | null;
  action: string;
  before: JsonNullable;
  after: JsonNullable;
}

interface BundlesTable {
  account_id: string;
  version: number;
  hash: string;
  /** Hash of the content without version and timestamp: detects a no-op publish. */
  content_hash: string;
  /** JSON text (bundles stored before migration 0003); newer bundles use body_gz. */
  body: ColumnType<string | null, string | null | undefined, string | null>;
  /** gzip of the JSON text (bundles stored between migrations 0003 and 0005). */
  body_gz: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  /** gzip of the JSON text, base64 (migration 0005 on). */
  body_gz_b64: ColumnType<string | null, string | null | undefined, string | null>;
  summary: Json;
  created_by: string;
  created_at: CreatedAt;
}

interface IdempotencyKeysTable {
  account_id: string;
  key: string;
  request_hash: string;
  status: number;
  response: Json;
  created_at: CreatedAt;
}

interface JoinTokensTable {
  id: string;
  account_id: string;
  secret_hash: string;
  expires_at: Date;
  used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  edge_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** Labels every edge enrolled with this token gets (null: none). */
  labels: ColumnType<unknown, string | null | undefined, string | null>;
  /** Enrolments this token allows, and how many it has had. */
  max_uses: ColumnType<number, number | undefined, number>;
  uses: ColumnType<number, number | undefined, number>;
  /** A decommissioned edge whose name and labels the enrolled edge takes over. */
  replaces: ColumnType<string | null, string | null | undefined, string | null>;
  created_by: string;
  created_at: CreatedAt;
}

export const EDGE_STATUSES = ["active", "draining", "decommissioned"] as const;
type EdgeStatus = (typeof EDGE_STATUSES)[number];

export interface EdgesTable {
  id: string;
  account_id: string;
  name: string;
  credential_hash: string;
  status: ColumnType<EdgeStatus, EdgeStatus | undefined, EdgeStatus>;
  software_version: string | null;
  config_version: number | null;
  uptime_seconds: number | null;
  counters: JsonNullable;
  config_status: JsonNullable;
  /** The bundle version this edge is held at (staged rollout); null: the latest. */
  pinned_version: ColumnType<number | null, number | null | undefined, number | null>;
  /** Free labels (site, role, …) that rollout stages select edges by. */
  labels: ColumnType<unknown, string | undefined, string>;
  /** As the edge last reported: serving, draining (closing its listeners) or drained. */
  serving: ColumnType<string | null, string | null | undefined, string | null>;
  /** The decommissioned edge this one took over (its name and labels). */
  replaces: ColumnType<string | null, string | null | undefined, string | null>;
  /** What it serves (EdgeEndpoints), from its last heartbeat that said; null before. */
  endpoints: JsonNullable;
  endpoints_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  last_seen_at: Date | null;
  enrolled_at: CreatedAt;
  updated_at: UpdatedAt;
}

/**
 * The organisation's root CA: the certificate, and its private key encrypted with AES-256-GCM
 * under the key-encryption key of control's data directory (tls/root-ca.ts).
 */
export interface TlsRootCasTable {
  account_id: string;
  cert_pem: string;
  /** base64 of iv (12) ‖ tag (16) ‖ ciphertext of the PKCS#8 PEM key. */
  key_enc: string;
  source: "generated" | "imported";
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** Intermediate CAs signed for edges; revoked when the edge is decommissioned. */
export interface EdgeIntermediatesTable {
  /** Lowercase hex, no leading zeros stripped. */
  serial: string;
  account_id: string;
  edge_id: string;
  cert_pem: string;
  not_after: Date;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: CreatedAt;
}

export interface ListSubscriptionsTable {
  list_id: string;
  account_id: string;
  url: string;
  format: string;
  refresh_seconds: number;
  max_bytes: number;
  etag: ColumnType<string | null, string | null | undefined, string | null>;
  next_fetch_at: ColumnType<Date, Date | undefined, Date>;
  last_fetch_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  last_success_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  last_status: JsonNullable;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface DashboardUsersTable {
  id: string;
  account_id: string;
  username: string;
  role: Role;
  password_hash: string;
  password_changed_at: UpdatedAt;
  created_by: string;
  created_at: CreatedAt;
}

export interface DashboardSessionsTable {
  id: string;
  user_id: string;
  secret_sha256: string;
  csrf_token: string;
  /** The address the session signed in from (shown to the user, never checked). */
  client: string;
  expires_at: Date;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: CreatedAt;
}

export interface ClientNamesTable {
  account_id: string;
  /** The client's IP address, as the query log records it. */
  client: string;
  name: string;
  updated_by: string;
  updated_at: UpdatedAt;
}

export interface Database {
  client_names: ClientNamesTable;
  dashboard_users: DashboardUsersTable;
  dashboard_sessions: DashboardSessionsTable;
  list_subscriptions: ListSubscriptionsTable;
  accounts: AccountsTable;
  api_tokens: ApiTokensTable;
  policies: PoliciesTable;
  lists: ListsTable;
  list_items: ListItemsTable;
  locations: LocationsTable;
  local_zones: LocalZonesTable;
  identity_users: IdentityUsersTable;
  identity_devices: IdentityDevicesTable;
  account_settings: AccountSettingsTable;
  audit_log: AuditLogTable;
  blocking_pauses: BlockingPausesTable;
  client_settings: ClientSettingsTable;
  bundles: BundlesTable;
  idempotency_keys: IdempotencyKeysTable;
  join_tokens: JoinTokensTable;
  edges: EdgesTable;
  rollout_plans: RolloutPlansTable;
  rollouts: RolloutsTable;
  policy_tests: PolicyTestsTable;
  tls_root_cas: TlsRootCasTable;
  edge_intermediates: EdgeIntermediatesTable;
}

export interface PolicyTestsTable {
  account_id: string;
  tests: ColumnType<unknown, string, string>;
  updated_by: string;
  updated_at: UpdatedAt;
}

export interface RolloutPlansTable {
  account_id: string;
  plan: ColumnType<unknown, string, string>;
  updated_by: string;
  updated_at: UpdatedAt;
}

export interface RolloutsTable {
  id: string;
  account_id: string;
  version: number;
  previous_version: number;
  state: string;
  stage: number;
  plan: ColumnType<unknown, string, string>;
  /** Edge ids pinned at previous_version by this rollout and not yet released. */
  held: ColumnType<unknown, string, string>;
  /** Per stage: its edges, when its bake started, the gate results. */
  stages: ColumnType<unknown, string, string>;
  failure: ColumnType<unknown, string | null | undefined, string | null>;
  created_by: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}
