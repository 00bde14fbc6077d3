// A fresh PGlite database is unpacked from the kept initdb result (db/pglite-template.ts)
// instead of running initdb again; an existing one is opened as it is. A prepared template
// (the tests' migrated schemas) is made by its first use and loaded by later ones.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  createPglite,
  createPreparedPglite,
  pgliteStartParams,
  pgliteTemplatePath,
} from "../src/db/pglite-template.ts";

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
  // Every start gets the small-machine memory settings, on top of what initdb wrote.
  const show = async (name: string) =>
    (await reopened.query<Record<string, string>>(`show ${name}`)).rows[0]![name];
  assert.equal(await show("shared_buffers"), "4MB");
  assert.equal(await show("max_connections"), "20");
  assert.equal(await show("maintenance_work_mem"), "16MB");
  assert.equal(await show("search_path"), "public");
  await reopened.close();

  const inMemory = await createPglite(undefined, templates);
  assert.deepEqual(await tables(inMemory), ["marker_from_template"]);
  await inMemory.close();
});

test("GATEHOUSE_PGLITE_SHARED_BUFFERS sets shared_buffers; a bad value is a clear error", () => {
  const p = pgliteStartParams({ GATEHOUSE_PGLITE_SHARED_BUFFERS: "256MB" });
  assert.ok(p.includes("shared_buffers=256MB"));
  assert.ok(p.includes("--single"), "PGlite's own start parameters are kept");
  assert.throws(
    () => pgliteStartParams({ GATEHOUSE_PGLITE_SHARED_BUFFERS: "lots" }),
    /GATEHOUSE_PGLITE_SHARED_BUFFERS="lots": expected a size/,
  );
});

test("a prepared template is made once, by the first database that needs it, and loaded after", async () => {
  const templates = join(root, "prepared");
  let prepared = 0;
  const prepare = async (db: Awaited<ReturnType<typeof createPglite>>) => {
    prepared++;
    await db.exec("create table marker_prepared (x int); insert into marker_prepared values (7)");
  };
  const first = await createPreparedPglite("marker-1", prepare, templates);
  assert.equal(prepared, 1);
  assert.ok(existsSync(pgliteTemplatePath(templates, "marker-1")), "the template was written");
  assert.ok(existsSync(pgliteTemplatePath(templates)), "on top of the initdb one");
  await first.close();
  const second = await createPreparedPglite("marker-1", prepare, templates);
  assert.equal(prepared, 1, "loaded, not prepared again");
  assert.deepEqual(await tables(second), ["marker_prepared"]);
  assert.deepEqual((await second.query("select x from marker_prepared")).rows, [{ x: 7 }]);
  await second.close();
  // Another key is another template.
  const other = await createPreparedPglite("marker-2", async () => {}, templates);
  assert.deepEqual(await tables(other), []);
  await other.close();
  await assert.rejects(
    createPreparedPglite("Bad Key", prepare, templates),
    /invalid PGlite template key/,
  );
  await assert.rejects(
    createPreparedPglite("initdb", prepare, templates),
    /invalid PGlite template key/,
  );
});
