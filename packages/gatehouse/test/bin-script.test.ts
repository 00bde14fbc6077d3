// The `gatehouse` launcher (packages/gatehouse/bin/gatehouse): it keeps Node's compile cache in the
// user's cache directory unless NODE_COMPILE_CACHE names one, and passes GATEHOUSE_NODE_ARGS to
// Node (docs/deployment.md).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const bin = new URL("../bin/gatehouse", import.meta.url).pathname;

function run(env: NodeJS.ProcessEnv) {
  const clean = { ...process.env };
  delete clean["NODE_COMPILE_CACHE"];
  delete clean["GATEHOUSE_NODE_ARGS"];
  return spawnSync(bin, ["--version"], { encoding: "utf8", env: { ...clean, ...env } });
}

test("the compile cache goes to $XDG_CACHE_HOME/gatehouse unless NODE_COMPILE_CACHE is set", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gh-bin-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = run({ XDG_CACHE_HOME: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^gatehouse /);
  const cache = join(dir, "gatehouse", "node-compile-cache");
  assert.ok(existsSync(cache) && readdirSync(cache).length > 0, "the cache directory is filled");

  const own = join(dir, "own");
  assert.equal(run({ XDG_CACHE_HOME: dir, NODE_COMPILE_CACHE: own }).status, 0);
  assert.ok(existsSync(own) && readdirSync(own).length > 0, "NODE_COMPILE_CACHE wins");
});

test("GATEHOUSE_NODE_ARGS reaches Node", () => {
  const bad = run({ GATEHOUSE_NODE_ARGS: "--no-such-node-flag" });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--no-such-node-flag/);
  assert.equal(run({ GATEHOUSE_NODE_ARGS: "" }).status, 0, "empty: no flags");
});
