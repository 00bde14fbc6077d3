// The repository stands on its own: a fresh clone with nothing beside it must test and read
// completely, so no tracked file may reach outside the checkout for data or documentation.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
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

/** Licences a dependency may carry: permissive ones that ask for notice only. */
const PERMISSIVE = new Set([
  "MIT",
  "ISC",
  "BSD-2-Clause",
  "BSD-3-Clause",
  "0BSD",
  "Apache-2.0",
  "BlueOak-1.0.0",
  "MIT OR Apache-2.0",
]);
/** Allowed for build tools only (never part of what runs or ships): file-level copyleft. */
const DEV_ONLY = new Set(["MPL-2.0"]);

test("the repository is Apache-2.0: LICENSE and every package.json say so", () => {
  const text = readFileSync(join(repoRoot, "LICENSE"), "utf8");
  assert.match(text, /Apache License\s+Version 2\.0, January 2004/);
  assert.match(text, /END OF TERMS AND CONDITIONS/);
  const manifests = repoFiles()
    .map((f) => f.path)
    .filter((p) => p === "package.json" || /^packages\/[^/]+\/package\.json$/.test(p));
  assert.ok(manifests.length > 1);
  for (const p of manifests) {
    const m = JSON.parse(readFileSync(join(repoRoot, p), "utf8")) as { license?: string };
    assert.equal(m.license, "Apache-2.0", p);
  }
});

/**
 * Whether a package's SPDX licence expression may be used: one licence from the lists above, or
 * a disjunction ("A OR B", "(A OR B)") of which one alternative is — the user picks that one
 * (node-forge, under acme-client: "(BSD-3-Clause OR GPL-2.0)"). Conjunctions, exceptions and
 * nested expressions are refused, to be judged by a person.
 */
function licenceAllows(expression: string, dev: boolean): boolean {
  const bare = /^\(([^()]*)\)$/.exec(expression)?.[1] ?? expression;
  if (/[()]|\bAND\b|\bWITH\b/.test(bare)) return false;
  return bare.split(/\s+OR\s+/).some((lic) => PERMISSIVE.has(lic) || (dev && DEV_ONLY.has(lic)));
}

test("a licence expression is allowed when one of its alternatives is", () => {
  assert.equal(licenceAllows("MIT", false), true);
  assert.equal(licenceAllows("(BSD-3-Clause OR GPL-2.0)", false), true);
  assert.equal(licenceAllows("MIT OR Apache-2.0", false), true);
  assert.equal(licenceAllows("GPL-2.0", false), false);
  assert.equal(licenceAllows("(GPL-2.0 OR AGPL-3.0)", false), false);
  assert.equal(licenceAllows("MIT AND GPL-2.0", false), false);
  assert.equal(licenceAllows("(MIT OR GPL-2.0) AND LGPL-3.0", false), false);
  assert.equal(licenceAllows("MPL-2.0", false), false);
  assert.equal(licenceAllows("(MPL-2.0 OR GPL-2.0)", true), true);
});

test("every locked dependency carries a licence compatible with Apache-2.0", () => {
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
    packages: Record<string, { license?: string; dev?: boolean; link?: boolean }>;
  };
  const refused: string[] = [];
  for (const [path, p] of Object.entries(lock.packages)) {
    if (!path.includes("node_modules/") || p.link) continue;
    const lic = p.license ?? "(none)";
    if (licenceAllows(lic, p.dev === true)) continue;
    refused.push(`${path}: ${lic}${p.dev ? " (dev)" : ""}`);
  }
  assert.deepEqual(refused, []);
});
