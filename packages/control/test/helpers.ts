// Test harness: every API/storage test runs against PGlite (one shared in-memory instance per
// test file, a fresh schema per group) and, when GATEHOUSE_TEST_DATABASE_URL is set, against
// PostgreSQL (a fresh schema per group, dropped afterwards). The shared PGlite starts from a
// template that holds POOLED_SCHEMAS schemas already migrated (made once, kept in
// packages/control/build/ under the migrations' fingerprint): a group takes one and renames it
// instead of running every migration; past the pool, a group's schema is migrated as before.

import { randomBytes } from "node:crypto";
import type { PGlite } from "@electric-sql/pglite";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { Kysely, sql } from "kysely";
import pg from "pg";
import { type AppOptions, buildApp } from "../src/app.ts";
import { migrationsFingerprint } from "../src/db/migrations.ts";
import { openStore } from "../src/db/open-store.ts";
import { PgliteDialect } from "../src/db/pglite-dialect.ts";
import { createPreparedPglite } from "../src/db/pglite-template.ts";

export const PG_URL = process.env.GATEHOUSE_TEST_DATABASE_URL;
export const PG_SKIP = PG_URL
  ? false
  : "PostgreSQL tests skipped: set GATEHOUSE_TEST_DATABASE_URL (CI: postgres://root@127.0.0.1:5432/test)";

export type BackendName = "pglite" | "postgres";

export const BACKENDS: readonly { name: BackendName; skip: string | false }[] = [
  { name: "pglite", skip: false },
  { name: "postgres", skip: PG_SKIP },
];

/** Migrated schemas in the shared PGlite's template (most test files open fewer groups). */
export const POOLED_SCHEMAS = 2;
/** The name of pooled schema `i` (not a test schema name: dropTestSchema refuses it). */
export function pooledSchemaName(i: number): string {
  return `pool_${i}`;
}

let shared: Promise<PGlite> | undefined;
/** Pooled schemas of the shared PGlite taken so far. */
let pooledTaken = 0;
/**
 * One PGlite per test file (process): start-up costs seconds, initdb far more (unpacked), and
 * migrating a schema most of a second; the template holds POOLED_SCHEMAS migrated schemas.
 */
export function sharedPglite(): Promise<PGlite> {
  shared ??= createPreparedPglite(
    `test-schemas-${POOLED_SCHEMAS}-${migrationsFingerprint()}`,
    async (db) => {
      for (let i = 0; i < POOLED_SCHEMAS; i++)
        await (await openStore({ pglite: db, schema: pooledSchemaName(i) })).close();
    },
  );
  return shared;
}

/**
 * Make `schema` a migrated schema of the shared PGlite by renaming the next pooled one; once the
 * pool is used up, do nothing (openStore creates and migrates the schema). Runs under the
 * dialect's session lock, so it never lands inside another group's transaction.
 */
async function takePooledSchema(schema: string): Promise<void> {
  if (pooledTaken >= POOLED_SCHEMAS) return;
  const pglite = await sharedPglite();
  const from = pooledSchemaName(pooledTaken++);
  const db = new Kysely<unknown>({ dialect: new PgliteDialect({ pglite }) });
  try {
    await sql.raw(`alter schema ${from} rename to ${schema}`).execute(db);
  } finally {
    await db.destroy();
  }
}

export function freshSchemaName(): string {
  return `t_${randomBytes(6).toString("hex")}`;
}

/** scrypt parameters for test passwords (production: PASSWORD_SCRYPT, 2^17). */
export const TEST_PASSWORD_SCRYPT = { N: 1024, r: 8, p: 1 } as const;

export interface TestApp {
  readonly app: FastifyInstance;
  /** Admin token of the system account. */
  readonly token: string;
  readonly schema: string;
  close(): Promise<void>;
}

export async function openTestApp(
  backend: BackendName,
  extra: Partial<AppOptions> = {},
): Promise<TestApp> {
  const schema = freshSchemaName();
  if (backend === "pglite") await takePooledSchema(schema);
  const base: AppOptions =
    backend === "pglite"
      ? { pglite: await sharedPglite(), schema }
      : { databaseUrl: PG_URL!, schema };
  let app: FastifyInstance;
  try {
    app = await buildApp({
      logger: false,
      autoPublishDelayMs: 0,
      ...base,
      ...extra,
      // Tests hash passwords cheaply; the password tests check the production parameters.
      auth: { passwordScrypt: TEST_PASSWORD_SCRYPT, ...extra.auth },
    });
  } catch (err) {
    await dropTestSchema(backend, schema);
    throw err;
  }
  const token = app.gatehouse.adminToken!;
  return {
    app,
    token,
    schema,
    async close() {
      await app.close();
      await dropTestSchema(backend, schema);
    },
  };
}

export async function dropTestSchema(backend: BackendName, schema: string): Promise<void> {
  if (!/^t_[0-9a-f]{12}$/.test(schema)) throw new Error("not a test schema");
  if (backend === "pglite") {
    const pgl = await sharedPglite();
    await pgl.exec(`drop schema if exists ${schema} cascade`);
    return;
  }
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await c.end();
  }
}

/** app.inject with a bearer token and JSON. */
export function call(
  app: FastifyInstance,
  token: string | undefined,
  method: InjectOptions["method"],
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined && typeof body !== "string" && !Buffer.isBuffer(body)
        ? { "content-type": "application/json" }
        : {}),
      ...headers,
    },
    ...(body !== undefined
      ? { payload: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body) }
      : {}),
  });
}

/** Close the file's shared PGlite (its internal timers would keep the process alive). */
export async function closeSharedPglite(): Promise<void> {
  if (!shared) return;
  const p = await shared;
  shared = undefined;
  pooledTaken = 0;
  await p.close();
}
