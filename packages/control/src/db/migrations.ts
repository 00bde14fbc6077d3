// Versioned migrations, applied in name order on start (and by `gatehouse control migrate`).
// One set serves PGlite and PostgreSQL. Never edit a migration that has shipped: add one.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";

const m0001: Migration = {
  async up(db) {
    const stmts = [
      sql`create table accounts (
        id text primary key,
        name text not null,
        is_system boolean not null default false,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now())`,
      sql`create table api_tokens (
        id text primary key,
        account_id text not null references accounts(id) on delete cascade,
        name text not null,
        role text not null check (role in ('admin', 'editor', 'viewer')),
        secret_hash text not null,
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz,
        created_by text,
        created_at timestamptz not null default now())`,
      sql`create index api_tokens_account on api_tokens (account_id, id)`,
      sql`create table policies (
        id text primary key,
        account_id text not null references accounts(id) on delete cascade,
        type text not null check (type in ('dns', 'http', 'net')),
        name text not null,
        description text,
        enabled boolean not null,
        precedence integer not null,
        expression text not null,
        action text not null,
        settings jsonb,
        schedule jsonb,
        version integer not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        constraint policies_precedence_unique unique (account_id, type, precedence))`,
      sql`create index policies_account on policies (account_id, id)`,
      sql`create table lists (
        id text primary key,
        account_id text not null references accounts(id) on delete cascade,
        name text not null,
        type text not null check (type in ('domain', 'ip', 'string', 'int')),
        description text,
        item_count integer not null default 0,
        version integer not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        constraint lists_name_unique unique (account_id, name))`,
      sql`create table list_items (
        list_id text not null references lists(id) on delete cascade,
        value text not null,
        primary key (list_id, value))`,
      sql`create table locations (
        id text primary key,
        account_id text not null references accounts(id) on delete cascade,
        name text not null,
        networks jsonb not null,
        doh_token text not null,
        dot_label text,
        require_proxy_auth boolean not null default false,
        block_page jsonb,
        version integer not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        constraint locations_doh_token_unique unique (doh_token),
        constraint locations_dot_label_unique unique (account_id, dot_label))`,
      sql`create index locations_account on locations (account_id, id)`,
      sql`create table identity_users (
        id text primary key,
        account_id text not null references accounts(id) on delete cascade,
        email text not null,
        name text,
        groups jsonb not null,
        version integer not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        constraint identity_users_email_unique unique (account_id, email))`,
      sql`create table identity_devices (
        id text primary key,
        account_id text not null references accounts(id) on delete cascade,
        name text not null,
        user_id text references identity_users(id) on delete set null,
        credential_hash text not null,
        version integer not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        constraint identity_devices_name_unique unique (account_id, name))`,
      sql`create table account_settings (
        account_id text primary key references accounts(id) on delete cascade,
        resolver jsonb not null,
        proxy jsonb,
        block_page jsonb,
        allow_unknown_clients boolean not null default false,
        version integer not null default 1,
        updated_at timestamptz not null default now())`,
      sql`create table audit_log (
        id bigint generated always as identity primary key,
        account_id text not null references accounts(id) on delete cascade,
        actor text not null,
        at timestamptz not null default now(),
        resource text not null,
        resource_id text,
        action text not null,
        before jsonb,
        after jsonb)`,
      sql`create index audit_log_account on audit_log (account_id, id)`,
      sql`create table bundles (
        account_id text not null references accounts(id) on delete cascade,
        version integer not null,
        hash text not null,
        content_hash text not null,
        body text not null,
        summary jsonb not null,
        created_by text not null,
        created_at timestamptz not null default now(),
        primary key (account_id, version))`,
      sql`create table idempotency_keys (
        account_id text not null references accounts(id) on delete cascade,
        key text not null,
        request_hash text not null,
        status integer not null,
        response jsonb not null,
        created_at timestamptz not null default now(),
        primary key (account_id, key))`,
      sql`create table join_tokens (
        id text primary key,
        account_id text not null references accounts(id) on delete cascade,
        secret_hash text not null,
        expires_at timestamptz not null,
        used_at timestamptz,
        edge_id text,
        created_by text not null,
        created_at timestamptz not null default now())`,
      sql`create table edges (
        id text primary key,
        account_id text not null references accounts(id) on delete cascade,
        name text not null,
        credential_hash text not null,
        status text not null default 'active'
          check (status in ('active', 'draining', 'decommissioned')),
        software_version text,
        config_version integer,
        uptime_seconds integer,
        counters jsonb,
        config_status jsonb,
        last_seen_at timestamptz,
        enrolled_at timestamptz not null default now(),
        updated_at timestamptz not null default now())`,
      sql`create index edges_account on edges (account_id, id)`,
    ];
    for (const s of stmts) await s.execute(db);
  },
};

/**
 * List items compare byte-wise (collation "C"): they are names, addresses and numbers, not
 * prose, and locale-aware comparison made the million-row index and the bundle's ordered
 * aggregation several times slower. Also makes item order (and so cursors) locale-independent.
 */
const m0002: Migration = {
  async up(db) {
    await sql`alter table list_items alter column value type text collate "C"`.execute(db);
  },
};

/**
 * Bundles are stored gzip-compressed (a million-item bundle is ~30 MB of JSON, ~3 MB gzipped):
 * cheaper to write than Postgres' own TOAST compression, and edges that accept gzip get the
 * stored bytes as they are.
 */
const m0003: Migration = {
  async up(db) {
    await sql`alter table bundles add column body_gz bytea`.execute(db);
    await sql`alter table bundles alter column body drop not null`.execute(db);
  },
};

/** A list may follow a URL (subscription): control fetches it on an interval. */
const m0004: Migration = {
  async up(db) {
    await sql`create table list_subscriptions (
      list_id text primary key references lists(id) on delete cascade,
      account_id text not null references accounts(id) on delete cascade,
      url text not null,
      format text not null default 'auto',
      refresh_seconds integer not null,
      max_bytes integer not null,
      etag text,
      next_fetch_at timestamptz not null default now(),
      last_fetch_at timestamptz,
      last_success_at timestamptz,
      last_error text,
      last_status jsonb,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now())`.execute(db);
    await sql`create index list_subscriptions_due on list_subscriptions (next_fetch_at)`.execute(
      db,
    );
  },
};

/**
 * The gzip bytes as base64 text, stored uncompressed out of line: PGlite encodes bytea
 * parameters byte by byte (1.3 s for a 5 MB bundle) while text passes through (0.1 s), and
 * gzip output gains nothing from TOAST compression.
 */
const m0005: Migration = {
  async up(db) {
    await sql`alter table bundles add column body_gz_b64 text`.execute(db);
    await sql`alter table bundles alter column body_gz_b64 set storage external`.execute(db);
  },
};

/**
 * A user may hold a proxy password (Proxy-Authorization: Basic, user = email; RFC 7617): only
 * its scrypt hash is stored, null while none has been issued.
 */
const m0006: Migration = {
  async up(db) {
    await sql`alter table identity_users add column credential_hash text`.execute(db);
  },
};

/** Staged rollout: an edge may be pinned to one bundle version (null: it follows the latest). */
const m0007: Migration = {
  async up(db) {
    await sql`alter table edges add column pinned_version integer`.execute(db);
  },
};

/**
 * Blocking paused (dashboard "Pause blocking"): one row per account and scope — "" for every
 * client, else a location id — with its end time (null: until resumed).
 */
const m0008: Migration = {
  async up(db) {
    await sql`create table blocking_pauses (
      account_id text not null references accounts(id) on delete cascade,
      scope text not null,
      until timestamptz,
      created_by text not null,
      created_at timestamptz not null default now(),
      primary key (account_id, scope))`.execute(db);
  },
};

/** A domain list's last upload: lines skipped and the first rejected ones, with line numbers. */
const m0009: Migration = {
  async up(db) {
    await sql`alter table lists add column import_status jsonb`.execute(db);
  },
};

/** DNSSEC validation may be turned off per location (true: validated, the default). */
const m0010: Migration = {
  async up(db) {
    await sql`alter table locations add column dnssec_validate boolean not null default true`.execute(
      db,
    );
  },
};

/** Local zones ("local DNS records"), one row per zone. */
const m0011: Migration = {
  async up(db) {
    await sql`create table local_zones (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      name text not null,
      zone text not null,
      locations jsonb,
      transfer_to jsonb,
      version integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (account_id, name))`.execute(db);
  },
};

/**
 * Staged rollouts: labels on edges (stages pick edges by label), one rollout plan per account,
 * and the rollouts themselves (state, stage, the edges held at the previous version, and the
 * gate that failed with its numbers).
 */
const m0012: Migration = {
  async up(db) {
    await sql`alter table edges add column labels jsonb not null default '{}'::jsonb`.execute(db);
    await sql`create table rollout_plans (
      account_id text primary key references accounts(id) on delete cascade,
      plan jsonb not null,
      updated_by text not null,
      updated_at timestamptz not null default now())`.execute(db);
    await sql`create table rollouts (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      version integer not null,
      previous_version integer not null,
      state text not null,
      stage integer not null,
      plan jsonb not null,
      held jsonb not null,
      stages jsonb not null,
      failure jsonb,
      created_by text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now())`.execute(db);
    await sql`create index rollouts_account on rollouts (account_id, created_at desc)`.execute(db);
  },
};

/**
 * TLS inspection: the organisation's root CA (key encrypted), the intermediates signed for
 * edges, and the per-location switch (off by default).
 */
const m0013: Migration = {
  async up(db) {
    await sql`create table tls_root_cas (
      account_id text primary key references accounts(id) on delete cascade,
      cert_pem text not null,
      key_enc text not null,
      source text not null check (source in ('generated', 'imported')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now())`.execute(db);
    await sql`create table edge_intermediates (
      serial text primary key,
      account_id text not null references accounts(id) on delete cascade,
      edge_id text not null references edges(id) on delete cascade,
      cert_pem text not null,
      not_after timestamptz not null,
      revoked_at timestamptz,
      created_at timestamptz not null default now())`.execute(db);
    await sql`create index edge_intermediates_account on edge_intermediates (account_id, not_after)`.execute(
      db,
    );
    await sql`alter table locations add column tls_inspection boolean not null default false`.execute(
      db,
    );
  },
};

/** Policy tests: the account's cases (a query or request and what it expects), one document. */
const m0014: Migration = {
  async up(db) {
    await sql`create table policy_tests (
      account_id text primary key references accounts(id) on delete cascade,
      tests jsonb not null,
      updated_by text not null,
      updated_at timestamptz not null default now())`.execute(db);
  },
};

/**
 * Dashboard sign-in: people with a username and a password (scrypt hash with its parameters)
 * and a role in one account, and their sessions (the cookie's secret stored as SHA-256: it is
 * 256 random bits, not a password).
 */
const m0015: Migration = {
  async up(db) {
    await sql`create table dashboard_users (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      username text not null unique,
      role text not null check (role in ('admin', 'editor', 'viewer')),
      password_hash text not null,
      password_changed_at timestamptz not null default now(),
      created_by text not null,
      created_at timestamptz not null default now())`.execute(db);
    await sql`create index dashboard_users_account on dashboard_users (account_id, id)`.execute(db);
    await sql`create table dashboard_sessions (
      id text primary key,
      user_id text not null references dashboard_users(id) on delete cascade,
      secret_sha256 text not null,
      csrf_token text not null,
      client text not null,
      expires_at timestamptz not null,
      revoked_at timestamptz,
      created_at timestamptz not null default now())`.execute(db);
    await sql`create index dashboard_sessions_user on dashboard_sessions (user_id)`.execute(db);
  },
};

/** Names an admin gives clients (by IP address), shown in the query log and analytics. */
const m0016: Migration = {
  async up(db) {
    await sql`create table client_names (
      account_id text not null references accounts(id) on delete cascade,
      client text not null,
      name text not null,
      updated_by text not null,
      updated_at timestamptz not null default now(),
      primary key (account_id, client))`.execute(db);
  },
};

/**
 * The edge life cycle: join tokens scoped to labels, a number of uses, or the replacement of a
 * decommissioned edge (whose name and labels the new machine takes); each edge's serving state
 * as it reports it (serving, draining, drained: listeners closed and connections finished) and
 * which decommissioned edge it replaced.
 */
const m0017: Migration = {
  async up(db) {
    await sql`alter table join_tokens add column labels jsonb`.execute(db);
    await sql`alter table join_tokens add column max_uses integer not null default 1`.execute(db);
    await sql`alter table join_tokens add column uses integer not null default 0`.execute(db);
    await sql`alter table join_tokens add column replaces text`.execute(db);
    await sql`update join_tokens set uses = 1 where used_at is not null`.execute(db);
    await sql`alter table edges add column serving text`.execute(db);
    await sql`alter table edges add column replaces text`.execute(db);
  },
};

/**
 * Per-device DoH tokens: a device's location (whose policies its queries get) and the SHA-256 of
 * its DoH URL token (256 random bits, shown once; the edge finds the device by the hash). No
 * foreign key on the location: a YAML apply re-creates locations; the bundle leaves out a
 * device whose location is gone.
 */
const m0018: Migration = {
  async up(db) {
    await sql`alter table identity_devices add column location_id text`.execute(db);
    await sql`alter table identity_devices add column doh_token_sha256 text`.execute(db);
    await sql`alter table identity_devices add column doh_token_issued_at timestamptz`.execute(db);
    await sql`create unique index identity_devices_doh_token on identity_devices (doh_token_sha256)
      where doh_token_sha256 is not null`.execute(db);
  },
};

/**
 * What each edge serves, as its heartbeat reports it (listeners per protocol, the DoT/DoH
 * certificate, its public name): the Connect page of a standalone control builds a location's
 * addresses from it. Null until an edge that reports it heartbeats.
 */
const m0019: Migration = {
  async up(db) {
    await sql`alter table edges add column endpoints jsonb`.execute(db);
    await sql`alter table edges add column endpoints_at timestamptz`.execute(db);
  },
};

/**
 * Clients (issue 17): blocking paused per client — a pause row names one client address in
 * `client` (scope "" then; "" in `client` for the pauses of everyone and of locations) — and a
 * client's own settings (blocking off, safe search on, DNS policies skipped), by address in the
 * canonical form the query log records.
 */
const m0020: Migration = {
  async up(db) {
    await sql`alter table blocking_pauses add column client text not null default ''`.execute(db);
    await sql`alter table blocking_pauses drop constraint blocking_pauses_pkey`.execute(db);
    await sql`alter table blocking_pauses add primary key (account_id, scope, client)`.execute(db);
    await sql`create table client_settings (
      account_id text not null references accounts(id) on delete cascade,
      client text not null,
      blocking boolean not null default true,
      safe_search boolean not null default false,
      skip_policies jsonb not null default '[]',
      updated_by text not null,
      updated_at timestamptz not null default now(),
      primary key (account_id, client))`.execute(db);
  },
};

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  "0001_initial": m0001,
  "0002_list_items_c_collation": m0002,
  "0003_bundles_gzip": m0003,
  "0004_list_subscriptions": m0004,
  "0005_bundles_gzip_text": m0005,
  "0006_user_credentials": m0006,
  "0007_edge_pins": m0007,
  "0008_blocking_pauses": m0008,
  "0009_list_import_status": m0009,
  "0010_location_dnssec": m0010,
  "0011_local_zones": m0011,
  "0012_rollouts": m0012,
  "0013_tls_inspection": m0013,
  "0014_policy_tests": m0014,
  "0015_dashboard_users": m0015,
  "0016_client_names": m0016,
  "0017_edge_life_cycle": m0017,
  "0018_device_doh_tokens": m0018,
  "0019_edge_endpoints": m0019,
  "0020_clients": m0020,
};

const provider: MigrationProvider = {
  async getMigrations() {
    return { ...MIGRATIONS };
  },
};

/**
 * A short hash of every migration's name and code and of Kysely's version (whose migrator keeps
 * the bookkeeping tables): a database migrated ahead of time (a test template) is reused only
 * by the same migrations.
 */
export function migrationsFingerprint(): string {
  const h = createHash("sha256");
  for (const [name, m] of Object.entries(MIGRATIONS))
    h.update(`${name}\0${m.up.toString()}\0${m.down?.toString() ?? ""}\0`);
  h.update(`kysely ${kyselyVersion()}`);
  return h.digest("hex").slice(0, 16);
}

/** The version in the package.json of the Kysely this module imports. */
function kyselyVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve("kysely")));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === "kysely" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // No package.json here: look further up.
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("Kysely's package.json was not found above its entry point");
    dir = up;
  }
}

/** Apply every pending migration; throws with the failing migration's error. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  // Name the schema explicitly: unqualified, Kysely's "does the migration table exist" check
  // matches that table in ANY schema of the database (another tenant's or test run's).
  const current = await sql<{ s: string }>`select current_schema() as s`.execute(db);
  const schema = current.rows[0]?.s;
  if (!schema) throw new Error("no current schema (search_path names none that exists)");
  const migrator = new Migrator({ db, provider, migrationTableSchema: schema });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
