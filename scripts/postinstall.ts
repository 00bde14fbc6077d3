// The root postinstall (npm runs it on the pinned Node, last): builds the edge's native addons
// when there is a C compiler, and the dashboard when Vite is installed. A production install
// (`npm ci --omit=dev`) has no Vite: it keeps the dashboard a release package already holds
// (`npm run package` builds it into the package), or says plainly that there is none — control
// then serves a page that says so. A production install never fails for want of Vite.
// Run: node scripts/postinstall.ts

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { viteCommand } from "./vite-command.ts";

const root = resolve(import.meta.dirname, "..");
const dashboard = join(root, "packages", "dashboard");

function run(args: string[], cwd: string): void {
  const r = spawnSync(process.execPath, args, { cwd, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run([join(root, "packages", "edge", "native", "build.ts")], root);

const vite = viteCommand(dashboard);
if (vite) {
  run([vite, "build"], dashboard);
} else if (existsSync(join(dashboard, "dist", "index.html"))) {
  console.log(
    "dashboard: Vite is not installed (a production install); keeping the built packages/dashboard/dist",
  );
} else {
  console.warn(
    "dashboard: not built: Vite is not installed (npm ci --omit=dev) and packages/dashboard/dist " +
      "is missing, so control serves a page saying so. Install from a release package " +
      "(`npm run package`, see docs/deployment.md) or with the development dependencies.",
  );
}
