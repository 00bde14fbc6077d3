// Where Vite's command is, as the dashboard package resolves it (a development install has it;
// a production install, `npm ci --omit=dev`, does not).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Path of Vite's command resolved from the package in `from`, or undefined when absent. */
export function viteCommand(from: string): string | undefined {
  try {
    const pkgPath = createRequire(join(from, "package.json")).resolve("vite/package.json");
    const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { bin: Record<string, string> };
    return join(dirname(pkgPath), pkg.bin["vite"]!);
  } catch {
    return undefined;
  }
}
