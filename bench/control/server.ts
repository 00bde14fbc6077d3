// A control plane for the benchmarks, in its own process so its memory is measured alone.
// argv: pglite|postgres. Prints one JSON line {address, token, pid} on stdout when listening.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../../packages/control/src/app.ts";

const backend = process.argv[2] ?? "pglite";
const url = process.env.GATEHOUSE_TEST_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/test";
const schema = `bench_${process.pid}`;
const dir = backend === "pglite" ? mkdtempSync(join(tmpdir(), "gh-bench-")) : undefined;
const app = await buildApp({
  ...(dir ? { dataDir: dir } : { databaseUrl: url, schema }),
  logger: false,
  autoPublishDelayMs: 0,
  bulkBodyLimit: 512 * 1024 * 1024,
  // BENCH_READ_CACHE=off measures reads that reach the database every time.
  ...(process.env.BENCH_READ_CACHE === "off" ? { readCacheTtlMs: -1 } : {}),
});
await app.listen({ host: "127.0.0.1", port: 0 });
const a = app.server.address() as { port: number };
process.stdout.write(
  `${JSON.stringify({ address: `http://127.0.0.1:${a.port}`, token: app.gatehouse.adminToken, pid: process.pid })}\n`,
);

const stop = async () => {
  await app.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  else {
    const pg = (await import("pg")).default;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  }
  process.exit(0);
};
// SIGUSR2: report memory after a full GC (the parent measures the cost of waiting long-polls).
process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({ memory: { rss: m.rss, heapUsed: m.heapUsed, external: m.external } })}\n`,
  );
});
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
