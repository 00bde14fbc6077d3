// The `gatehouse` launcher (packages/gatehouse/bin/gatehouse): it keeps Node's compile cache in the
// user's cache directory unless NODE_COMPILE_CACHE names one, and passes GATEHOUSE_NODE_ARGS to
// Node (docs/deployment.md).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const bin = new URL("../bin/gatehouse", import.meta.url).pathname;

function run(env: NodeJS.ProcessEnv, args = ["--version"]) {
  const clean = { ...process.env };
  delete clean["NODE_COMPILE_CACHE"];
  delete clean["GATEHOUSE_NODE_ARGS"];
  return spawnSync(bin, args, { encoding: "utf8", env: { ...clean, ...env } });
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

test("the default Node flags: a small young generation, and memory over speed for `up`", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gh-bin-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Node's own flags as the CLI process got them, printed on exit.
  const probe = join(dir, "exec-argv.mjs");
  writeFileSync(
    probe,
    'process.on("exit", () => process.stderr.write("execArgv " + JSON.stringify(process.execArgv) + "\\n"));\n',
  );
  const flags = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = run({ NODE_OPTIONS: `--import ${probe}`, ...env }, args);
    assert.equal(r.status, 0, r.stderr);
    const line = /^execArgv (.*)$/m.exec(r.stderr)?.[1];
    assert.ok(line !== undefined, r.stderr);
    return JSON.parse(line) as string[];
  };
  assert.deepEqual(flags(["--version"]), ["--max-semi-space-size=1"]);
  assert.deepEqual(flags(["up", "--help"]), ["--max-semi-space-size=1", "--optimize-for-size"]);
  assert.deepEqual(flags(["up", "--help"], { GATEHOUSE_NODE_ARGS: "" }), []);
});
