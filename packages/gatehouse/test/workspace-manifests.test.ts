// Every workspace's package.json declares what its code imports, and imports what it declares:
// a runtime import from src/ must be one of the workspace's dependencies (a production install
// has nothing else), a test or build-script import must be a dependency or devDependency of the
// workspace or of the root, and nothing is declared that no file uses. Imports are read by
// TypeScript's own pre-processor (static imports and re-exports, `import()`, `require()`),
// plus `import.meta.resolve()`; `node:` built-ins, relative paths and the workspace's own name
// are not dependencies.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { type RepoFile, repoFiles, repoRoot } from "./support/repo-files.ts";

interface Manifest {
  name: string;
  workspaces?: string[];
  exports?: Record<string, string>;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const CODE = /\.(ts|tsx|mts|js|mjs)$/;
const TEST = /(\.test\.(ts|tsx)$)|(^|\/)test\//;

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(repoRoot, dir, "package.json"), "utf8")) as Manifest;
}

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`), or undefined. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith(".") || specifier.startsWith("/") || isBuiltin(specifier)) return;
  if (specifier.startsWith("#")) return; // package.json "imports" map: the package's own files
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * The packages a source text imports, by specifier: static imports and re-exports, `import x =
 * require()`, `import()` and `require()` calls, `import("x")` types and `import.meta.resolve()`.
 * The text is parsed as what its file name says (TSX for `.tsx`): a light scanner misread JSX and
 * style objects after it as import specifiers.
 */
export function importsOf(text: string, fileName = "x.ts"): Set<string> {
  const out = new Set<string>();
  const add = (node: ts.Node | undefined) => {
    if (node !== undefined && ts.isStringLiteralLike(node)) {
      const p = packageOf(node.text);
      if (p) out.add(p);
    }
  };
  const kind = fileName.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference)
    )
      add(node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      add(node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (
        callee.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(callee) && callee.text === "require") ||
        callee.getText() === "import.meta.resolve"
      )
        add(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, kind));
  return out;
}

function names(...maps: (Record<string, string> | undefined)[]): Set<string> {
  return new Set(maps.flatMap((m) => Object.keys(m ?? {})));
}

/** Command names a package installs (its "bin"), read from its installed manifest. */
function binsOf(pkg: string): string[] {
  try {
    const m = JSON.parse(
      readFileSync(join(repoRoot, "node_modules", pkg, "package.json"), "utf8"),
    ) as { bin?: string | Record<string, string>; name: string };
    if (typeof m.bin === "string") return [m.name.split("/").pop()!];
    return Object.keys(m.bin ?? {});
  } catch {
    return [];
  }
}

/** A declared package is used by scripts when one of its commands is a word of a script. */
function usedByScripts(pkg: string, scripts: Record<string, string> | undefined): boolean {
  const words = new Set(Object.values(scripts ?? {}).flatMap((s) => s.split(/[\s;&|()]+/)));
  return binsOf(pkg).some((b) => words.has(b));
}

/** `@types/x` is used when `x` is (`@types/scope__name` for `@scope/name`). */
function typedPackage(typesPkg: string): string | undefined {
  if (!typesPkg.startsWith("@types/")) return;
  const n = typesPkg.slice("@types/".length);
  return n.includes("__") ? `@${n.replace("__", "/")}` : n;
}

interface Scan {
  runtime: Map<string, string[]>;
  other: Map<string, string[]>;
}

function scan(files: RepoFile[], isRuntime: (path: string) => boolean): Scan {
  const s: Scan = { runtime: new Map(), other: new Map() };
  for (const f of files) {
    if (!CODE.test(f.path)) continue;
    const into = isRuntime(f.path) ? s.runtime : s.other;
    for (const p of importsOf(f.read(), f.path)) {
      const at = into.get(p) ?? [];
      at.push(f.path);
      into.set(p, at);
    }
  }
  return s;
}

const root = readManifest(".");
const workspaces = root.workspaces ?? [];
const all = repoFiles();

function check(): string[] {
  const problems: string[] = [];
  const rootDev = names(root.devDependencies);
  const everywhere = new Set<string>();
  for (const dir of workspaces) {
    const m = readManifest(dir);
    const files = all
      .filter((f) => f.path.startsWith(`${dir}/`))
      .map((f) => ({ ...f, path: f.path.slice(dir.length + 1) }));
    // A workspace whose exports point into src/ runs that code from the install; one that
    // exports none of it (the dashboard) is bundled at build time, so all it needs is dev.
    const runsSrc = Object.values(m.exports ?? {}).some((t) => t.startsWith("./src/"));
    const s = scan(files, (p) => p.startsWith("src/") && !TEST.test(p));
    const deps = names(m.dependencies, m.peerDependencies, m.optionalDependencies);
    const dev = names(m.devDependencies);
    for (const [p, at] of s.runtime) {
      everywhere.add(p);
      if (p === m.name) continue;
      if (deps.has(p) || (!runsSrc && dev.has(p))) continue;
      problems.push(`${dir}: imports ${p} (${at[0]}) but does not declare it in dependencies`);
    }
    for (const [p, at] of s.other) {
      everywhere.add(p);
      if (p === m.name || deps.has(p) || dev.has(p) || rootDev.has(p)) continue;
      problems.push(`${dir}: ${at[0]} imports ${p}, declared neither by ${dir} nor the root`);
    }
    for (const p of deps) {
      if (!s.runtime.has(p))
        problems.push(`${dir}: declares ${p} in dependencies; src/ never imports it`);
    }
    for (const p of dev) {
      const typed = typedPackage(p);
      const used =
        s.runtime.has(p) ||
        s.other.has(p) ||
        usedByScripts(p, m.scripts) ||
        (typed !== undefined && (s.runtime.has(typed) || s.other.has(typed)));
      if (!used) problems.push(`${dir}: declares ${p} in devDependencies; nothing uses it`);
    }
  }
  // The root: tools (bench/, scripts/) and what every workspace's tests may lean on.
  const inWorkspace = (p: string) => workspaces.some((w) => p.startsWith(`${w}/`));
  const r = scan(
    all.filter((f) => !inWorkspace(f.path)),
    () => false,
  );
  const workspaceNames = new Set(workspaces.map((w) => readManifest(w).name));
  for (const [p, at] of r.other) {
    everywhere.add(p);
    if (!rootDev.has(p) && !names(root.dependencies).has(p) && !workspaceNames.has(p)) {
      problems.push(`root: ${at[0]} imports ${p}, which the root does not declare`);
    }
  }
  for (const p of names(root.dependencies, root.devDependencies)) {
    // `node` is the pinned runtime every script and the gatehouse command run on.
    if (p === "node") continue;
    const typed = typedPackage(p);
    const used =
      everywhere.has(p) ||
      usedByScripts(p, root.scripts) ||
      (typed !== undefined && (typed === "node" || everywhere.has(typed)));
    if (!used) problems.push(`root: declares ${p}; nothing imports it and no script runs it`);
  }
  return problems;
}

test("packageOf and importsOf read specifiers, not strings that look like them", () => {
  assert.equal(packageOf("@scope/name/sub/path.js"), "@scope/name");
  assert.equal(packageOf("name/sub"), "name");
  assert.equal(packageOf("node:fs"), undefined);
  assert.equal(packageOf("fs"), undefined);
  assert.equal(packageOf("./x.ts"), undefined);
  const text = [
    'import a from "static-one";',
    'import type { T } from "@types-only/pkg";',
    'export { b } from "re-export/sub";',
    'const s = "import c from \\"in-a-string\\"";',
    'const d = await import("dynamic");',
    'const e = import.meta.resolve("resolved/package.json");',
    'import { f } from "node:path";',
  ].join("\n");
  assert.deepEqual([...importsOf(text)].sort(), [
    "@types-only/pkg",
    "dynamic",
    "re-export",
    "resolved",
    "static-one",
  ]);
  const tsx = [
    'import { useState } from "react";',
    'const req = require("required");',
    'type L = import("typed-import").Loc;',
    'export const V = () => <code>{x || "(nothing yet)"}</code>;',
    'const style = { color: "var(--accent)", textDecoration: "underline dotted" };',
  ].join("\n");
  assert.deepEqual([...importsOf(tsx, "view.tsx")].sort(), ["react", "required", "typed-import"]);
});

test("every workspace declares what it imports and imports what it declares", () => {
  assert.ok(workspaces.length > 0, "the root package.json lists its workspaces");
  assert.deepEqual(check(), []);
});
