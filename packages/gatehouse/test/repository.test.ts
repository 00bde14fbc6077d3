// The repository stands on its own: a fresh clone with nothing beside it must test and read
// completely, so no tracked file may reach outside the checkout for data or documentation.

import assert from "node:assert/strict";
import { test } from "node:test";
import { repoFiles, repoRoot } from "./support/repo-files.ts";

// Built from parts so that this file does not match itself.
const outside = [`..${"/"}shared`, `/work${"/"}shared`];

test("no tracked file reads or links a directory outside the repository", () => {
  const offenders: string[] = [];
  for (const file of repoFiles()) {
    if (!/\.(ts|tsx|js|mjs|md|json|yml|yaml|sh)$/.test(file.path) && !file.path.startsWith(".ci/"))
      continue;
    const text = file.read();
    for (const needle of outside) {
      if (text.includes(needle)) offenders.push(`${file.path}: ${needle}`);
    }
  }
  assert.deepEqual(offenders, [], `files reaching outside ${repoRoot}`);
});
