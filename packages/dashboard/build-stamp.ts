// What a dashboard build was made from. The build (vite.config.ts) writes dist/.sources.json:
// every file in its module graph (this package's sources, the workspace packages and
// node_modules files they import), index.html, the Vite config and public/, each with its
// SHA-256. The browser tests reuse the dist `npm install` built when every listed file is
// unchanged, and build their own otherwise: never a stale one. Control does not serve the
// stamp (it refuses dot files).

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Plugin } from "vite";

export const STAMP_FILE = ".sources.json";

interface Stamp {
  readonly version: 1;
  /** Path relative to the package root (`/` separators) → SHA-256 of the file, hex. */
  readonly files: Record<string, string>;
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function filesUnder(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: "utf8" });
  } catch {
    return [];
  }
  return entries.map((e) => join(dir, e)).filter(isFile);
}

/** The stamp of a build whose inputs are `paths` (absolute; non-files are left out). */
export function stampOf(root: string, paths: Iterable<string>): Stamp {
  const files: Record<string, string> = {};
  for (const path of paths) {
    if (!isAbsolute(path) || !isFile(path)) continue;
    files[relative(root, path).split(sep).join("/")] = sha256(path);
  }
  return { version: 1, files };
}

/**
 * Why `dist` is not a build of the files as they are now, or undefined when it is: no stamp, a
 * listed file changed or is gone.
 */
export function staleReason(root: string, dist: string): string | undefined {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readFileSync(join(dist, STAMP_FILE), "utf8")) as Stamp;
  } catch {
    return `no ${STAMP_FILE} in ${dist}`;
  }
  if (stamp.version !== 1 || typeof stamp.files !== "object" || stamp.files === null)
    return `${STAMP_FILE} is not a version 1 stamp`;
  if (!isFile(join(dist, "index.html"))) return `no index.html in ${dist}`;
  const entries = Object.entries(stamp.files);
  if (entries.length === 0) return `${STAMP_FILE} lists no files`;
  for (const [rel, hash] of entries) {
    const path = resolve(root, rel);
    if (!isFile(path)) return `${rel} is gone`;
    if (sha256(path) !== hash) return `${rel} changed since the build`;
  }
  return undefined;
}

/** Vite plugin: after a build, write the stamp into the output directory. */
export function sourceStamp(): Plugin {
  let root = "";
  let extra: string[] = [];
  let modules: string[] = [];
  return {
    name: "gatehouse-source-stamp",
    apply: "build",
    configResolved(config) {
      root = config.root;
      extra = [
        join(root, "index.html"),
        ...(config.configFile ? [config.configFile] : []),
        join(root, "build-stamp.ts"),
        ...(config.publicDir ? filesUnder(config.publicDir) : []),
      ];
    },
    generateBundle() {
      // Module ids are absolute paths, some with a query; \0-prefixed ones are virtual.
      modules = [...this.getModuleIds()]
        .filter((id) => !id.startsWith("\0"))
        .map((id) => id.replace(/\?.*$/s, ""));
    },
    writeBundle(options) {
      if (options.dir === undefined) return;
      const stamp = stampOf(root, [...new Set([...extra, ...modules])]);
      writeFileSync(join(options.dir, STAMP_FILE), `${JSON.stringify(stamp, null, 1)}\n`);
    },
  };
}
