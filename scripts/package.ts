// `npm run package [-- --out DIR]`: a release of Gatehouse that installs without the development
// toolchain. It stages the committed runtime files (sources without tests, the lockfile, docs,
// deploy/, the native addons' C sources) in DIR/gatehouse-VERSION/, builds the dashboard into it
// with this install's Vite, and packs DIR/gatehouse-VERSION.tar.gz. On the target:
//   tar xzf gatehouse-VERSION.tar.gz && cd gatehouse-VERSION && npm ci --omit=dev
// installs the runtime dependencies and the pinned Node 24 (a runtime dependency), builds the
// native addons if there is a C compiler, keeps the packaged dashboard, and links
// node_modules/.bin/gatehouse. The working tree's own packages/dashboard/dist is not touched.

import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { viteCommand } from "./vite-command.ts";

const root = resolve(import.meta.dirname, "..");

/** Whether a tracked file belongs in a release: what runs, installs or documents it. */
export function shipped(path: string): boolean {
  if (/(^|\/)test\//.test(path) || /\.test\.tsx?$/.test(path)) return false;
  if (/^(bench|\.ci)\//.test(path)) return false;
  if (["biome.json", "tsconfig.json", ".gitignore", "scripts/package.ts"].includes(path))
    return false;
  // The dashboard ships as its built dist/ (added below) and its manifest, not its sources.
  if (path.startsWith("packages/dashboard/")) return path === "packages/dashboard/package.json";
  return true;
}

const { values } = parseArgs({ options: { out: { type: "string" } } });
const out = resolve(values.out ?? join(root, "release"));
const { version } = JSON.parse(
  readFileSync(join(root, "packages", "gatehouse", "package.json"), "utf8"),
) as { version: string };
const name = `gatehouse-${version}`;
const stage = join(out, name);

const vite = viteCommand(join(root, "packages", "dashboard"));
if (!vite) {
  console.error("package: Vite is not installed; run `npm install` (with dev dependencies) first");
  process.exit(1);
}

rmSync(stage, { recursive: true, force: true });
const tracked = execFileSync("git", ["ls-files", "--cached", "-z"], {
  cwd: root,
  encoding: "utf8",
  maxBuffer: 16 * 1024 * 1024,
})
  .split("\0")
  .filter((p) => p !== "" && shipped(p));
for (const p of tracked) {
  mkdirSync(dirname(join(stage, p)), { recursive: true });
  copyFileSync(join(root, p), join(stage, p));
}

const dist = join(stage, "packages", "dashboard", "dist");
execFileSync(process.execPath, [vite, "build", "--outDir", dist, "--emptyOutDir"], {
  cwd: join(root, "packages", "dashboard"),
  stdio: ["ignore", "ignore", "inherit"],
});

const tarball = join(out, `${name}.tar.gz`);
execFileSync("tar", ["-czf", tarball, "-C", out, name]);
console.log(`package: ${tarball} (${tracked.length} files and the built dashboard)`);
