// `node scripts/unused-exports.ts`: exports that nothing imports. For every `export` declaration
// in packages/*/src (tests excluded), the name is looked for, as a whole word, in every other
// tracked TypeScript file (sources, tests, benches, scripts, the dashboard). A name found in
// no other file is an export nobody uses (drop the `export`, or the code if its own file does
// not use it either); a name found only in its package's entry point (src/index.ts) is
// re-exported there but used by no test or other package. Word matching over-counts (a name
// that is also a word in a comment or a property elsewhere counts as used), so what it lists
// is unused; what it does not list may still be.
// Exit status 1 when it lists anything.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const files = execFileSync("git", ["ls-files", "*.ts", "*.tsx"], { cwd: root, encoding: "utf8" })
  .split("\n")
  .filter((f) => f !== "" && !f.startsWith("node_modules/"));
const text = new Map(files.map((f) => [f, readFileSync(resolve(root, f), "utf8")]));
const isTest = (f: string) => /(^|\/)test\//.test(f) || /\.test\.tsx?$/.test(f);

const DECL =
  /^export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|const|let|class|abstract\s+class|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm;

const unused: string[] = [];
const entryOnly: string[] = [];
for (const [file, src] of text) {
  if (!/^packages\/[^/]+\/src\//.test(file) || isTest(file)) continue;
  const entry = file.replace(/(^packages\/[^/]+\/src\/).*/, "$1index.ts");
  for (const m of src.matchAll(DECL)) {
    const name = m[1]!;
    const word = new RegExp(`(^|[^\\w$])${name.replace(/\$/g, "\\$")}($|[^\\w$])`);
    const users = [...text].filter(([f, s]) => f !== file && word.test(s)).map(([f]) => f);
    const line = `${file}:${src.slice(0, m.index).split("\n").length} ${name}`;
    if (users.length === 0) unused.push(line);
    else if (users.length === 1 && users[0] === entry && entry !== file) entryOnly.push(line);
  }
}
if (unused.length > 0) console.log(`exported, used by no other file:\n  ${unused.join("\n  ")}`);
if (entryOnly.length > 0)
  console.log(`re-exported by the entry point only:\n  ${entryOnly.join("\n  ")}`);
process.exitCode = unused.length + entryOnly.length > 0 ? 1 : 0;
