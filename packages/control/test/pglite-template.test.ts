// A fresh PGlite database is unpacked from the kept initdb result (db/pglite-template.ts)
// instead of running initdb again; an existing one is opened as it is.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createPglite, pgliteTemplatePath } from "../src/db/pglite-template.ts";

const root = mkdtempSync(join(tmpdir(), "gh-pglite-template-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function tables(db: Awaited<ReturnType<typeof createPglite>>): Promise<string[]> {
  const r = await db.query<{ relname: string }>(
    "select relname from pg_class where relname like 'marker%' order by relname",
  );
  return r.rows.map((x) => x.relname);
}

test("the first fresh database keeps the template; later fresh ones, on disk or in memory, start from it", async () => {
  const templates = join(root, "build");
  const path = pgliteTemplatePath(templates);
  assert.equal(existsSync(path), false);

  // No template yet: initdb runs, and what it wrote is kept.
  const first = await createPglite(undefined, templates);
  assert.ok(existsSync(path), "the template was written");
  assert.deepEqual(await tables(first), []);
  // A marker put into the template shows which databases were unpacked from it.
  await first.exec("create table marker_from_template (x int)");
  writeFileSync(path, Buffer.from(await (await first.dumpDataDir("gzip")).arrayBuffer()));
  await first.close();

  const dir = join(root, "data", "pglite");
  const onDisk = await createPglite(dir, templates);
  assert.deepEqual(await tables(onDisk), ["marker_from_template"]);
  assert.ok(existsSync(join(dir, "PG_VERSION")), "the database is in the data directory");
  await onDisk.exec("create table marker_own (x int)");
  await onDisk.close();

  // An existing database is opened as it is, never unpacked over.
  const reopened = await createPglite(dir, templates);
  assert.deepEqual(await tables(reopened), ["marker_from_template", "marker_own"]);
  await reopened.close();

  const inMemory = await createPglite(undefined, templates);
  assert.deepEqual(await tables(inMemory), ["marker_from_template"]);
  await inMemory.close();
});
