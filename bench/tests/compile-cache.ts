// CPU of test files with and without Node's compile cache (NODE_COMPILE_CACHE), alternating:
// user+sys of the test runner and every process it waited for (test files, the CLI processes
// they start), which a loaded machine changes far less than it changes wall time.
//
//   node bench/tests/compile-cache.ts [--rounds 3] [test files...]
// PostgreSQL-backed tests need GATEHOUSE_TEST_DATABASE_URL, as in the suite.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";

const args = process.argv.slice(2);
const at = args.indexOf("--rounds");
const rounds = at >= 0 ? Number(args[at + 1]) : 3;
const given = at >= 0 ? args.filter((_, i) => i !== at && i !== at + 1) : args;
const files = given.length
  ? given
  : [
      "packages/control/test/api-rollback.test.ts",
      "packages/control/test/api-pause.test.ts",
      "packages/edge/test/dns-local-zones.test.ts",
      "packages/edge/test/proxy-http.test.ts",
      "packages/gatehouse/test/config-as-code.test.ts",
      "packages/gatehouse/test/import-yaml.test.ts",
      "packages/gatehouse/test/list-exceptions.test.ts",
      "packages/rules/test/conformance.test.ts",
    ];
const root = resolve(import.meta.dirname, "..", "..");
const cache = mkdtempSync(join(tmpdir(), "gh-compile-cache-"));
const out = join(cache, "time.txt");

function run(withCache: boolean): { cpu: number; wall: number; ok: boolean } {
  const env = { ...process.env };
  delete env["NODE_COMPILE_CACHE"];
  if (withCache) env["NODE_COMPILE_CACHE"] = cache;
  const r = spawnSync(
    "/usr/bin/time",
    ["-o", out, "-f", "%U %S %e", process.execPath, "--test", "--test-concurrency=2", ...files],
    { cwd: root, env, stdio: "ignore" },
  );
  const [user = "0", sys = "0", wall = "0"] = readFileSync(out, "utf8").trim().split(/\s+/);
  return { cpu: Number(user) + Number(sys), wall: Number(wall), ok: r.status === 0 };
}

run(true); // fills the cache, as the suite's first processes do
for (let i = 0; i < rounds; i++)
  for (const withCache of [false, true]) {
    const load = loadavg()[0]?.toFixed(1);
    const r = run(withCache);
    console.log(
      `${withCache ? "cache   " : "no cache"}: CPU ${r.cpu.toFixed(1)} s, wall ${r.wall.toFixed(1)} s, load ${load}${r.ok ? "" : " (a test failed)"}`,
    );
  }
rmSync(cache, { recursive: true, force: true });
