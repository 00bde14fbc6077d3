// The shared conformance suite (spec §6, packages/rules/spec/rules-cases.json): every case, error
// kinds included, plus the spans the brief pins down for cases 59 and 100.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { MissingMode } from "../src/index.ts";
import { Scheme } from "../src/index.ts";

interface Case {
  id: number;
  expression: string;
  fields: Record<string, unknown>;
  missing: MissingMode;
  expect: { result?: boolean; error?: string };
  note?: string;
}

const file = join(import.meta.dirname, "../spec/rules-cases.json");
const data = JSON.parse(readFileSync(file, "utf8")) as { scheme: unknown; cases: Case[] };
const { scheme, lists } = Scheme.fromJSON(data.scheme);

export function runCase(c: Case): { result?: boolean; error?: string; span?: [number, number] } {
  const compiled = scheme.compile(c.expression, { missing: c.missing });
  if (!compiled.ok) {
    const j = compiled.error.toJSON();
    return { error: j.kind, span: j.span };
  }
  const ctx = scheme.context(lists);
  for (const [name, value] of Object.entries(c.fields)) ctx.setText(name, value);
  return { result: compiled.value.execute(ctx) };
}

test("the conformance file has its 148 cases", () => {
  assert.equal(data.cases.length, 148);
});

for (const c of data.cases) {
  test(`case ${c.id}: ${JSON.stringify(c.expression).slice(0, 70)}`, () => {
    const got = runCase(c);
    if (c.expect.error !== undefined) {
      assert.equal(
        got.error,
        c.expect.error,
        `expected error ${c.expect.error}, got ${JSON.stringify(got)}`,
      );
    } else {
      assert.equal(got.error, undefined, `unexpected error ${JSON.stringify(got)}`);
      assert.equal(got.result, c.expect.result);
    }
  });
}

test("case 59: the EOF span starts at the space after `ssl` (1-based column 4) and is 7 long", () => {
  const r = scheme.parse("ssl in {0}");
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.kind, "EOF");
  assert.deepEqual(r.error.span, { start: 3, length: 7 });
  assert.equal(r.error.column, 4);
  assert.equal(r.error.line, 1);
});

test("case 100: UnknownIdentifier spans the whole name", () => {
  const r = scheme.parse("unknown.field == 1");
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.kind, "UnknownIdentifier");
  assert.deepEqual(r.error.span, { start: 0, length: 13 });
  assert.equal(r.error.column, 1);
});
