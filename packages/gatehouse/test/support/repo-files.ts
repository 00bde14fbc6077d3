// The repository's own files, for checks over the whole checkout (what a clone contains:
// tracked files plus new ones git does not ignore; never node_modules or build output).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const repoRoot = resolve(import.meta.dirname, "../../../..");

export interface RepoFile {
  /** Path relative to the repository root, with `/` separators. */
  path: string;
  read(): string;
}

export function repoFiles(): RepoFile[] {
  const out = execFileSync(
    "git",
    ["ls-files", "--cached", "--others", "--exclude-standard", "--deduplicate", "-z"],
    { cwd: repoRoot, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
  );
  return out
    .split("\0")
    .filter((p) => p !== "")
    .map((path) => ({ path, read: () => readFileSync(join(repoRoot, path), "utf8") }));
}
