// The boundaries docs/architecture.md draws between packages ("Packages and their boundaries"):
// the edge never imports control, and control's non-test code imports from the edge only the
// four pure modules the policy tests share with it (the list matcher, local zones, pauses and
// the DNS type table), by their subpath exports — never the edge's pipelines, sockets or state.
// Specifiers are read by TypeScript's pre-processor, as the workspace-manifests test reads them.

import assert from "node:assert/strict";
import { test } from "node:test";
import ts from "typescript";
import { repoFiles } from "./support/repo-files.ts";

const CONTROL_MAY_IMPORT_FROM_EDGE = new Set([
  "@gatehouse/edge/lists",
  "@gatehouse/edge/local-zones",
  "@gatehouse/edge/pauses",
  "@gatehouse/edge/dns-types",
]);
const CODE = /\.(ts|tsx|mts|js|mjs)$/;
const TEST = /(\.test\.(ts|tsx)$)|(^|\/)test\//;

function specifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

test("the edge never imports control; control imports only the edge's four shared modules", () => {
  const wrong: string[] = [];
  let controlFiles = 0;
  for (const f of repoFiles()) {
    if (!CODE.test(f.path) || TEST.test(f.path)) continue;
    if (f.path.startsWith("packages/edge/")) {
      for (const s of specifiers(f.read()))
        if (s === "@gatehouse/control" || s.startsWith("@gatehouse/control/"))
          wrong.push(`${f.path} imports ${s}`);
    }
    if (f.path.startsWith("packages/control/src/")) {
      controlFiles++;
      for (const s of specifiers(f.read())) {
        if (s.includes("packages/edge") || s.includes("../edge/"))
          wrong.push(`${f.path} reaches into the edge by path: ${s}`);
        if (
          (s === "@gatehouse/edge" || s.startsWith("@gatehouse/edge/")) &&
          !CONTROL_MAY_IMPORT_FROM_EDGE.has(s)
        )
          wrong.push(`${f.path} imports ${s}`);
      }
    }
  }
  assert.ok(controlFiles > 50, `read only ${controlFiles} control files`);
  assert.deepEqual(wrong, []);
});

// An ESM value import of node:http builds the module's namespace, which loads Node's bundled
// undici (~13 MB of RSS); the edge takes node:http from net/node-http.ts (process.getBuiltinModule)
// and imports only types from "node:http" itself.
test("edge code takes node:http from net/node-http.ts, importing only types from node:http", () => {
  const wrong: string[] = [];
  let edgeFiles = 0;
  for (const f of repoFiles()) {
    if (!f.path.startsWith("packages/edge/src/") || !CODE.test(f.path) || TEST.test(f.path))
      continue;
    edgeFiles++;
    const src = ts.createSourceFile(f.path, f.read(), ts.ScriptTarget.Latest);
    for (const st of src.statements) {
      if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
      if (st.moduleSpecifier.text !== "node:http") continue;
      const clause = st.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) wrong.push(`${f.path}: ${st.getText(src)}`);
    }
  }
  assert.ok(edgeFiles > 100, `read only ${edgeFiles} edge files`);
  assert.deepEqual(wrong, []);
});
