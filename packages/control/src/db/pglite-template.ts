// Opening PGlite without running initdb each time. A fresh PGlite database runs initdb inside
// WebAssembly: about 15 s of CPU, a minute on a loaded machine, nearly all of control's first
// start. What initdb writes depends only on the PGlite build, so the first fresh database keeps
// a copy (PGlite's own data-directory dump, before any migration) in
// packages/control/build/, and every later fresh database, on disk or in memory, is unpacked
// from it in about 2 s. The copy is named by PGlite's version: an upgrade makes a new one. Where
// that directory is not writable (a read-only install) databases start the slow way.
// createPreparedPglite keeps, the same way, a database some code prepared after initdb (the
// tests' schemas, already migrated), named by a key that changes with that code.

import {
  existsSync,
  mkdirSync,
  openAsBlob,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";

const TEMPLATE_DIR = join(import.meta.dirname, "..", "..", "build");

/**
 * PostgreSQL's memory settings for a small machine, passed at every start (after PGlite's own
 * start parameters, so the data directory's postgresql.conf stays as initdb wrote it). initdb's
 * defaults are sized for a server (shared_buffers 128MB, maintenance_work_mem 64MB,
 * max_connections 100), and PGlite's WebAssembly memory only grows: its shared memory is zeroed
 * when the database starts, so every byte of it is resident from the start (shared_buffers 16MB:
 * 29 MB of WebAssembly memory resident, 4MB: 17 MB). Control's data (config, users, audit) is a
 * few MB, the query log lives in DuckDB, and pages that miss the buffers are read from the
 * operating system's file cache. PGlite serves one connection, so max_connections only sizes the
 * shared lock and process tables (100 → 20: 2 MB less). Measured in `gatehouse up`
 * (docs/benchmarks.md, "gatehouse up: PGlite's shared memory, the compile cache").
 * GATEHOUSE_PGLITE_SHARED_BUFFERS overrides shared_buffers (e.g. for million-item lists).
 */
export function pgliteStartParams(env: NodeJS.ProcessEnv = process.env): string[] {
  const shared = env["GATEHOUSE_PGLITE_SHARED_BUFFERS"] || "4MB";
  if (!/^[1-9][0-9]{0,6}(kB|MB|GB)$/.test(shared))
    throw new Error(
      `GATEHOUSE_PGLITE_SHARED_BUFFERS=${JSON.stringify(shared)}: expected a size such as 4MB or 1GB`,
    );
  const settings = [
    `shared_buffers=${shared}`,
    "max_connections=20",
    "work_mem=2MB",
    "maintenance_work_mem=16MB",
    "temp_buffers=2MB",
    "wal_buffers=1MB",
  ];
  return [...PGlite.defaultStartParams, ...settings.flatMap((s) => ["-c", s])];
}

/** PGlite's version, read from its package.json (next to its dist/). */
function pgliteVersion(): string {
  const entry = fileURLToPath(import.meta.resolve("@electric-sql/pglite"));
  const pkg = JSON.parse(readFileSync(join(dirname(entry), "..", "package.json"), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** Where the template for the installed PGlite lives (or would). */
export function pgliteTemplatePath(dir = TEMPLATE_DIR, kind = "initdb"): string {
  return join(dir, `pglite-${pgliteVersion()}-${kind}.tar.gz`);
}

async function openTemplate(path: string): Promise<Blob | undefined> {
  try {
    return await openAsBlob(path);
  } catch {
    return undefined;
  }
}

/**
 * PGlite in `dataDir` (created when missing), or in memory without one. A database that does
 * not exist yet is unpacked from the template when there is one; else initdb runs and its result
 * becomes the template.
 */
export async function createPglite(dataDir?: string, templateDir = TEMPLATE_DIR): Promise<PGlite> {
  if (dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true });
    if (existsSync(join(dataDir, "PG_VERSION")))
      return PGlite.create({ dataDir, startParams: pgliteStartParams() });
  }
  const path = pgliteTemplatePath(templateDir);
  const template = await openTemplate(path);
  if (template !== undefined) {
    return PGlite.create({
      ...(dataDir !== undefined ? { dataDir } : {}),
      loadDataDir: template,
      startParams: pgliteStartParams(),
    });
  }
  const db = await PGlite.create({
    ...(dataDir !== undefined ? { dataDir } : {}),
    startParams: pgliteStartParams(),
  });
  await saveTemplate(db, path);
  return db;
}

/**
 * PGlite in memory as `prepare` leaves a fresh database, from the template kept under `key`
 * (made by the first call: a fresh database, `prepare`, a dump). The key must change whenever
 * what `prepare` does changes (e.g. carry a fingerprint of the code it runs).
 */
export async function createPreparedPglite(
  key: string,
  prepare: (db: PGlite) => Promise<void>,
  templateDir = TEMPLATE_DIR,
): Promise<PGlite> {
  if (!/^[a-z0-9][a-z0-9-]{0,99}$/.test(key) || key === "initdb")
    throw new Error(`invalid PGlite template key ${JSON.stringify(key)}`);
  const path = pgliteTemplatePath(templateDir, key);
  const template = await openTemplate(path);
  if (template !== undefined)
    return PGlite.create({ loadDataDir: template, startParams: pgliteStartParams() });
  const db = await createPglite(undefined, templateDir);
  try {
    await prepare(db);
    // The dump copies files: what the buffers hold goes to them first.
    await db.exec("checkpoint");
    await saveTemplate(db, path);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

/** Keep what initdb (or a preparation) wrote as a template; a directory we may not write is no error. */
async function saveTemplate(db: PGlite, path: string): Promise<void> {
  const dump = Buffer.from(await (await db.dumpDataDir("gzip")).arrayBuffer());
  // Written aside and renamed: a process reading it meanwhile sees all of it or nothing.
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, dump);
    renameSync(tmp, path);
  } catch {
    // Read-only install: every fresh database runs initdb.
  }
}
