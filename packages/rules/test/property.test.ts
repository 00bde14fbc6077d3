// Property tests: whatever text arrives (random, or a valid expression mutated), parse returns a
// Result and never throws; whatever parses also compiles and executes without throwing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { Scheme } from "../src/index.ts";

const file = join(import.meta.dirname, "../../../../shared/spec/rules-cases.json");
const data = JSON.parse(readFileSync(file, "utf8")) as {
  scheme: unknown;
  cases: { expression: string; fields: Record<string, unknown> }[];
};
const { scheme, lists } = Scheme.fromJSON({ ...(data.scheme as object), functions: undefined });
const valid = data.cases.map((c) => c.expression).filter((e) => scheme.parse(e).ok);
const samples = data.cases.map((c) => c.fields);

/** Characters the grammar cares about, so random strings reach deep into the parser. */
const ALPHABET = [
  ..."abcdefnorstxy0123456789.:-_[]*(){}$\"'#\\rn!&|^~=<> \t\n,".split(""),
  "é",
  "😀",
];

function check(input: string): void {
  let r: ReturnType<Scheme["parse"]>;
  try {
    r = scheme.parse(input);
  } catch (e) {
    assert.fail(`parse threw on ${JSON.stringify(input)}: ${(e as Error).stack}`);
  }
  if (!r.ok) {
    assert.equal(typeof r.error.render(), "string");
    assert.ok(r.error.span.start >= 0 && r.error.span.start + r.error.span.length <= input.length);
    return;
  }
  const f = scheme.compileAst(r.value);
  for (const fields of samples.slice(0, 8)) {
    const ctx = scheme.context(lists);
    for (const [k, v] of Object.entries(fields)) ctx.setText(k, v);
    assert.equal(typeof f.execute(ctx), "boolean");
  }
}

test("random strings never make parse throw", () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...ALPHABET), { maxLength: 60 }), (chars) =>
      check(chars.join("")),
    ),
    { numRuns: 1000, seed: 1 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 80, unit: "grapheme" }), check), {
    numRuns: 300,
    seed: 2,
  });
});

test("mutated valid expressions never make parse, compile or execute throw", () => {
  const mutation = fc.record({
    base: fc.constantFrom(...valid),
    at: fc.nat(),
    cut: fc.nat({ max: 6 }),
    insert: fc.array(fc.constantFrom(...ALPHABET), { maxLength: 6 }),
  });
  fc.assert(
    fc.property(mutation, ({ base, at, cut, insert }) => {
      const i = at % (base.length + 1);
      check(base.slice(0, i) + insert.join("") + base.slice(i + cut));
    }),
    { numRuns: 1000, seed: 3 },
  );
});

test("pathological inputs end with an error, not a hang or a stack overflow", () => {
  for (const input of [
    "(".repeat(4000),
    "not ".repeat(1000),
    `${"any(".repeat(1000)}`,
    `ssl${" and ssl".repeat(500)}`,
    `http.cookies${"[0]".repeat(1000)}`,
    `lower(${"lower(".repeat(1000)}`,
    `"${"\\".repeat(3000)}`,
    `http.host matches "${"(a*)*".repeat(100)}$"`,
  ]) {
    check(input);
  }
});
