// The test harness's pooled schemas (helpers.ts): a group's schema taken from the shared
// PGlite's template is the same as one migrated now — tables, columns, constraints, indexes and
// the migrator's bookkeeping — and past the pool, groups get schemas migrated as before.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { MIGRATIONS } from "../src/db/migrations.ts";
import { openStore } from "../src/db/open-store.ts";
import {
  closeSharedPglite,
  dropTestSchema,
  freshSchemaName,
  openTestApp,
  POOLED_SCHEMAS,
  pooledSchemaName,
  sharedPglite,
  type TestApp,
} from "./helpers.ts";

/**
 * What a schema holds, with its own name written as S (and left out where it qualifies a name:
 * whether Postgres qualifies one depends on the search_path of the moment).
 */
async function catalog(schema: string): Promise<unknown> {
  const pgl = await sharedPglite();
  const q = async (text: string) =>
    JSON.parse(
      JSON.stringify((await pgl.query(text, [schema])).rows)
        .replaceAll(`${schema}.`, "")
        .replaceAll(schema, "S"),
    );
  return {
    columns: await q(`select table_name, column_name, data_type, is_nullable, column_default,
        is_identity from information_schema.columns where table_schema = $1 order by 1, 2`),
    constraints: await q(`select c.relname, con.conname, con.contype,
        pg_get_constraintdef(con.oid) as def from pg_constraint con
        join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 order by 1, 2`),
    indexes: await q(
      "select tablename, indexname, indexdef from pg_indexes where schemaname = $1 order by 1, 2",
    ),
    migrations: await q(`select name from ${schema}.kysely_migration where $1 <> '' order by 1`),
  };
}

describe("pooled test schemas", () => {
  const apps: TestApp[] = [];
  after(async () => {
    for (const a of apps) await a.close();
    await closeSharedPglite();
  });

  it("are the schema the migrations make now", async () => {
    const pooled = await openTestApp("pglite");
    apps.push(pooled);
    const pgl = await sharedPglite();
    const fresh = freshSchemaName();
    await (await openStore({ pglite: pgl, schema: fresh })).close();
    try {
      const want = await catalog(fresh);
      assert.deepEqual(await catalog(pooled.schema), want);
      assert.equal(
        (want as { migrations: unknown[] }).migrations.length,
        Object.keys(MIGRATIONS).length,
      );
    } finally {
      await dropTestSchema("pglite", fresh);
    }
  });

  it("are renamed as groups take them, and later groups get migrated schemas", async () => {
    const pgl = await sharedPglite();
    const left = async () =>
      (
        await pgl.query<{ n: number }>(
          "select count(*)::int as n from pg_namespace where nspname like 'pool\\_%'",
        )
      ).rows[0]?.n;
    assert.equal(await left(), POOLED_SCHEMAS - 1);
    for (let i = 1; i <= POOLED_SCHEMAS; i++) apps.push(await openTestApp("pglite"));
    assert.equal(await left(), 0);
    assert.equal(
      (await pgl.query(`select 1 from pg_namespace where nspname = '${pooledSchemaName(0)}'`)).rows
        .length,
      0,
    );
    // Each group works in its own schema: the bootstrap's account exists once in each.
    for (const a of apps) {
      const r = await pgl.query<{ n: number }>(
        `select count(*)::int as n from ${a.schema}.accounts where is_system`,
      );
      assert.equal(r.rows[0]?.n, 1, a.schema);
    }
  });
});
