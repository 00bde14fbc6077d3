// A production install needs no development toolchain: what `npm ci --omit=dev` installs (every
// lockfile entry not marked dev) holds no build, lint, type or browser tool but does hold the
// pinned Node.js; `npm run package` stages a release with the built dashboard and no tests; and
// the root postinstall, run where Vite is absent, keeps that dashboard (or says there is none)
// instead of failing. The install itself from the registry is proved by .ci/run.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { repoRoot } from "./support/repo-files.ts";

/** Development tools a production install must not bring. */
const TOOLS = [
  "vite",
  "@vitejs/plugin-react",
  "rolldown",
  "lightningcss",
  "@biomejs/biome",
  "typescript",
  "playwright-core",
  "react",
  "react-dom",
  "fast-check",
];

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

test("npm ci --omit=dev installs the pinned Node.js and no development tool", () => {
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean; version?: string }>;
  };
  const installed = Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith("node_modules/") && p.dev !== true)
    .map(([path]) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length));
  assert.deepEqual(
    TOOLS.filter((t) => installed.includes(t)),
    [],
  );
  assert.ok(installed.includes("node"), "the node runtime package is a runtime dependency");
  const root = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  assert.equal(root.dependencies?.["node"], lock.packages["node_modules/node"]?.version);
});

describe("npm run package", () => {
  let out: string;
  let stage: string;
  let version: string;
  before(() => {
    out = mkdtempSync(join(tmpdir(), "gatehouse-package-"));
    ({ version } = JSON.parse(
      readFileSync(join(repoRoot, "packages", "gatehouse", "package.json"), "utf8"),
    ) as { version: string });
    execFileSync(process.execPath, [join(repoRoot, "scripts", "package.ts"), "--out", out], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "inherit"],
    });
    stage = join(out, `gatehouse-${version}`);
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  test("stages the runtime with the built dashboard, and no tests or tool config", () => {
    const files = walk(stage).map((p) => relative(stage, p));
    for (const want of [
      "package.json",
      "package-lock.json",
      "LICENSE",
      "scripts/postinstall.ts",
      "packages/gatehouse/bin/gatehouse",
      "packages/gatehouse/src/cli.ts",
      "packages/control/src/index.ts",
      "packages/edge/native/build.ts",
      "packages/dashboard/package.json",
      "packages/dashboard/dist/index.html",
    ]) {
      assert.ok(files.includes(want), `${want} is in the release`);
    }
    assert.ok(statSync(join(stage, "packages/gatehouse/bin/gatehouse")).mode & 0o100);
    assert.deepEqual(
      files.filter(
        (f) =>
          /\.test\.tsx?$|(^|\/)test\//.test(f) ||
          /^(bench|\.ci)\//.test(f) ||
          /^packages\/dashboard\/(src|vite\.config\.ts)/.test(f) ||
          f === "scripts/package.ts",
      ),
      [],
    );
    // The lockfile ships unchanged, so `npm ci` accepts it against the same package.json.
    assert.equal(
      readFileSync(join(stage, "package-lock.json"), "utf8"),
      readFileSync(join(repoRoot, "package-lock.json"), "utf8"),
    );
    const listed = execFileSync("tar", ["-tzf", join(out, `gatehouse-${version}.tar.gz`)], {
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
    });
    assert.match(
      listed,
      new RegExp(`^gatehouse-${version}/packages/dashboard/dist/index\\.html$`, "m"),
    );
  });

  test("its postinstall without Vite keeps the packaged dashboard, or says there is none", () => {
    const postinstall = join(stage, "scripts", "postinstall.ts");
    const kept = spawnSync(process.execPath, [postinstall], { cwd: stage, encoding: "utf8" });
    assert.equal(kept.status, 0, kept.stderr);
    assert.match(kept.stdout, /dashboard: Vite is not installed .*keeping the built/);
    assert.ok(existsSync(join(stage, "packages/dashboard/dist/index.html")));

    rmSync(join(stage, "packages/dashboard/dist"), { recursive: true });
    const none = spawnSync(process.execPath, [postinstall], { cwd: stage, encoding: "utf8" });
    assert.equal(none.status, 0, none.stderr);
    assert.match(none.stderr, /dashboard: not built: Vite is not installed/);
  });
});
