// Opens control's store: PGlite in the data directory by default (or in memory), PostgreSQL when
// a URL is given. Either way one schema and one set of migrations, applied on open.

import type { PGlite } from "@electric-sql/pglite";
import { type DatabaseIntrospector, Kysely, PostgresDialect } from "kysely";
import { migrateToLatest } from "./migrations.ts";
import { PgliteDialect, SCHEMA_NAME } from "./pglite-dialect.ts";
import { createPglite } from "./pglite-template.ts";
import type { Database } from "./schema.ts";
import { CurrentSchemaIntrospector } from "./schema-introspector.ts";

export interface StoreOptions {
  /** PGlite files live here; absent (and no URL, no instance) → an in-memory PGlite. */
  readonly dataDir?: string;
  /** postgres://… → PostgreSQL via node-postgres. */
  readonly databaseUrl?: string;
  /** An existing PGlite to share (tests); the store does not close it. */
  readonly pglite?: PGlite;
  /** Use this schema instead of `public` (tests give each run its own). */
  readonly schema?: string;
  /** Pool size for PostgreSQL; default 10. */
  readonly poolSize?: number;
}

export interface Store {
  readonly db: Kysely<Database>;
  readonly kind: "pglite" | "postgres";
  /** Migrations applied by this open (empty when already current). */
  readonly applied: readonly string[];
  /** PostgreSQL: the URL and schema, for a LISTEN connection (replica fan-out). */
  readonly postgres?: { readonly url: string; readonly schema: string | undefined };
  close(): Promise<void>;
}

/** PostgreSQL with an introspector confined to the current schema (see schema-introspector.ts). */
class CurrentSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema))
    throw new Error(`invalid schema name ${JSON.stringify(opts.schema)}`);
  let db: Kysely<Database>;
  let kind: Store["kind"];
  if (opts.databaseUrl) {
    kind = "postgres";
    // node-postgres loads only for a PostgreSQL URL (PGlite, the default, never uses it).
    const { default: pg } = await import("pg");
    const schema = opts.schema;
    if (schema) {
      // The pool's sessions start in the schema (libpq `options`), so it must exist first.
      const client = new pg.Client({ connectionString: opts.databaseUrl });
      await client.connect();
      try {
        await client.query(`create schema if not exists ${schema}`);
      } finally {
        await client.end();
      }
    }
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle client's error (server restart) must not crash the process; the pool replaces it.
    pool.on("error", () => {});
    db = new Kysely<Database>({ dialect: new CurrentSchemaPostgresDialect({ pool }) });
  } else {
    kind = "pglite";
    let pglite = opts.pglite;
    let onClose: (() => Promise<void>) | undefined;
    if (!pglite) {
      const own = await createPglite(opts.dataDir);
      pglite = own;
      onClose = () => own.close();
    }
    db = new Kysely<Database>({
      dialect: new PgliteDialect({
        pglite,
        ...(opts.schema ? { schema: opts.schema } : {}),
        ...(onClose ? { onClose } : {}),
      }),
    });
  }
  let applied: string[];
  try {
    applied = await migrateToLatest(db as Kysely<unknown>);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return {
    db,
    kind,
    applied,
    ...(opts.databaseUrl ? { postgres: { url: opts.databaseUrl, schema: opts.schema } } : {}),
    close: () => db.destroy(),
  };
}
