// The build stamp the browser tests trust to reuse packages/dashboard/dist: a dist is current only
// while every file its build read is unchanged; a changed, removed or unlisted state is stale.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { STAMP_FILE, staleReason, stampOf } from "../build-stamp.ts";

describe("the dashboard build stamp", () => {
  let root: string;
  let dist: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "gh-build-stamp-"));
    dist = join(root, "dist");
    mkdirSync(join(root, "src"), { recursive: true });
    mkdirSync(dist);
    writeFileSync(join(root, "index.html"), "<!doctype html>");
    writeFileSync(join(root, "src", "main.tsx"), "export const a = 1;\n");
    writeFileSync(join(dist, "index.html"), "<!doctype html><script src=/x.js></script>");
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const stamp = () =>
    writeFileSync(
      join(dist, STAMP_FILE),
      JSON.stringify(
        stampOf(root, [
          join(root, "index.html"),
          join(root, "src", "main.tsx"),
          // Virtual or missing inputs are left out rather than failing the build.
          join(root, "src", "missing.ts"),
          "virtual:module",
        ]),
      ),
    );

  it("lists each input file relative to the root with its SHA-256", () => {
    const s = stampOf(root, [join(root, "src", "main.tsx"), "relative/path.ts"]);
    assert.deepEqual(Object.keys(s.files), ["src/main.tsx"]);
    assert.match(s.files["src/main.tsx"] ?? "", /^[0-9a-f]{64}$/);
  });

  it("calls a dist without a stamp stale", () => {
    assert.match(staleReason(root, dist) ?? "", /no \.sources\.json/);
  });

  it("calls a dist current while every listed file is unchanged", () => {
    stamp();
    assert.equal(staleReason(root, dist), undefined);
  });

  it("calls it stale once a listed file changes, and current again when it is rebuilt", () => {
    stamp();
    writeFileSync(join(root, "src", "main.tsx"), "export const a = 2;\n");
    assert.equal(staleReason(root, dist), "src/main.tsx changed since the build");
    stamp();
    assert.equal(staleReason(root, dist), undefined);
  });

  it("calls it stale when a listed file is gone or the build has no index.html", () => {
    stamp();
    rmSync(join(root, "index.html"));
    assert.equal(staleReason(root, dist), "index.html is gone");
    writeFileSync(join(root, "index.html"), "<!doctype html>");
    stamp();
    rmSync(join(dist, "index.html"));
    assert.match(staleReason(root, dist) ?? "", /no index\.html in/);
  });

  it("calls a stamp that lists nothing or is not JSON stale", () => {
    writeFileSync(join(dist, "index.html"), "<!doctype html>");
    writeFileSync(join(dist, STAMP_FILE), JSON.stringify({ version: 1, files: {} }));
    assert.match(staleReason(root, dist) ?? "", /lists no files/);
    writeFileSync(join(dist, STAMP_FILE), "{");
    assert.match(staleReason(root, dist) ?? "", /no \.sources\.json/);
  });
});

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUILT = join(PACKAGE_DIR, "dist", STAMP_FILE);

describe("the stamp of the dist npm install built", {
  skip: existsSync(BUILT) ? false : `${BUILT} is missing: run npm run build -w packages/dashboard`,
}, () => {
  it("lists the sources, the workspace packages they import, the config and public/", () => {
    const files = Object.keys(
      (JSON.parse(readFileSync(BUILT, "utf8")) as { files: Record<string, string> }).files,
    );
    for (const f of [
      "index.html",
      "vite.config.ts",
      "build-stamp.ts",
      "src/main.tsx",
      "src/app.tsx",
    ])
      assert.ok(files.includes(f), `${f} in ${files.length} files`);
    assert.ok(files.includes("public/favicon.svg"));
    assert.ok(
      files.some((f) => f.startsWith("../rules/src/")),
      "the rules package's sources",
    );
    assert.ok(
      files.some((f) => /node_modules\/react-dom\//.test(f)),
      "react-dom from node_modules",
    );
  });
});
