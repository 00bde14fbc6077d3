// The last good bundle on disk is served only when it parses, has a bundle's shape and matches
// its hash; a damaged or edited file is refused and moved aside, and the previous good bundle
// serves instead.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import type { ConfigBundle } from "@gatehouse/contract";
import { EdgeState } from "@gatehouse/edge";
import { hashedBundle } from "./hashed-bundle.ts";

async function saved(...versions: number[]): Promise<{ dir: string; state: EdgeState }> {
  const dir = await mkdtemp(join(tmpdir(), "gh-lastgood-"));
  const state = new EdgeState(dir);
  for (const v of versions) await state.saveLastGood(await hashedBundle(v));
  return { dir, state };
}

test("saving keeps the bundle it replaces as the previous good one", async () => {
  const { dir, state } = await saved(3, 4);
  assert.equal(JSON.parse(await readFile(state.lastGoodPath, "utf8")).version, 4);
  assert.equal(JSON.parse(await readFile(state.previousGoodPath, "utf8")).version, 3);
  const loaded = await state.loadLastGoodChecked();
  assert.equal(loaded.bundle?.version, 4);
  assert.equal(loaded.path, state.lastGoodPath);
  assert.deepEqual(loaded.problems, []);
  assert.deepEqual((await readdir(dir)).sort(), [
    "last-good-bundle.json",
    "previous-good-bundle.json",
  ]);
});

test("a truncated last good bundle is refused, moved aside, and the previous one serves", async () => {
  const { dir, state } = await saved(3, 4);
  const text = await readFile(state.lastGoodPath, "utf8");
  await writeFile(state.lastGoodPath, text.slice(0, text.length / 2));
  const loaded = await state.loadLastGoodChecked();
  assert.equal(loaded.bundle?.version, 3);
  assert.equal(loaded.path, state.previousGoodPath);
  assert.equal(loaded.problems.length, 1);
  assert.equal(loaded.problems[0]!.reason, "not_json");
  assert.equal(loaded.problems[0]!.movedTo, `${state.lastGoodPath}.rejected`);
  assert.ok((await readdir(dir)).includes("last-good-bundle.json.rejected"));
  // The next save does not keep the damaged file as the previous good one.
  await state.saveLastGood(await hashedBundle(5));
  assert.equal(JSON.parse(await readFile(state.previousGoodPath, "utf8")).version, 3);
});

test("an edited bundle that is still valid is refused: its hash does not match", async () => {
  const { state } = await saved(3, 4);
  const edited = JSON.parse(await readFile(state.lastGoodPath, "utf8")) as ConfigBundle;
  edited.policies[0]!.action = "allow"; // the hash is control's, from before the edit
  await writeFile(state.lastGoodPath, JSON.stringify(edited));
  const loaded = await state.loadLastGoodChecked();
  assert.equal(loaded.bundle?.version, 3);
  assert.equal(loaded.bundle?.policies[0]?.action, "block");
  assert.equal(loaded.problems[0]?.reason, "hash_mismatch");
  // Moved aside: loading again serves the previous one without a new problem.
  assert.deepEqual((await state.loadLastGoodChecked()).problems, []);
  assert.equal((await state.loadLastGood())?.version, 3);
});

test("a bundle without a hash, or not a bundle, is refused; with both files bad nothing serves", async () => {
  const { state } = await saved(3, 4);
  const { hash: _h, ...noHash } = JSON.parse(await readFile(state.lastGoodPath, "utf8"));
  await writeFile(state.lastGoodPath, JSON.stringify(noHash));
  await writeFile(state.previousGoodPath, JSON.stringify({ version: "x" }));
  const loaded = await state.loadLastGoodChecked();
  assert.equal(loaded.bundle, undefined);
  assert.deepEqual(
    loaded.problems.map((p) => [p.reason, p.path]),
    [
      ["hash_mismatch", state.lastGoodPath],
      ["not_a_bundle", state.previousGoodPath],
    ],
  );
  assert.match(loaded.problems[0]!.message, /no hash/);
});
