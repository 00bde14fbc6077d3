import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ExecutionContext, Filter, ListSet, MissingMode } from "./api.ts";
import { createListSet } from "./lists.ts";
import { literalSuffixOf } from "./regex/index.ts";
import { Scheme } from "./scheme.ts";

/** The indexes of the filters the group finds matching, walking it as an embedder does. */
function walk(group: ReturnType<Scheme["group"]>, ctx: ExecutionContext): number[] {
  const out: number[] = [];
  for (let i = group.first(ctx, 0); i >= 0; i = group.first(ctx, i + 1)) out.push(i);
  return out;
}

function each(filters: readonly Filter[], ctx: ExecutionContext): number[] {
  const out: number[] = [];
  filters.forEach((f, i) => {
    if (f.execute(ctx)) out.push(i);
  });
  return out;
}

test("a group of every conformance expression agrees with each filter on every case's fields", () => {
  const file = join(import.meta.dirname, "../spec/rules-cases.json");
  const data = JSON.parse(readFileSync(file, "utf8")) as {
    scheme: unknown;
    cases: { expression: string; fields: Record<string, unknown>; missing: MissingMode }[];
  };
  const { scheme, lists } = Scheme.fromJSON(data.scheme);
  for (const missing of ["cloudflare", "wirefilter"] as const) {
    const filters: Filter[] = [];
    for (const c of data.cases) {
      const r = scheme.compile(c.expression, { missing });
      if (r.ok) filters.push(r.value);
    }
    assert.ok(filters.length > 100);
    const group = scheme.group(filters);
    for (const c of data.cases) {
      const ctx = scheme.context(lists);
      for (const [name, value] of Object.entries(c.fields)) ctx.setText(name, value);
      assert.deepEqual(
        walk(group, ctx),
        each(filters, ctx),
        `${missing}: fields of ${c.expression}`,
      );
    }
  }
});

test("literal tests on a field: exact, suffix, prefix, regex endings, under not/or/xor, missing", () => {
  const scheme = new Scheme({ fields: { name: "Bytes", other: "Bytes", n: "Int" } });
  const sources = [
    'name == "a.example"',
    'name in {"b.example" "c.example"}',
    'ends_with(name, ".tracker.example")',
    'ends_with(name, "")',
    'starts_with(name, "ads")',
    'name matches "^ads[0-9]*[.]tracker[.]example$"',
    'name matches "(?i)TRACKER[.]EXAMPLE$"',
    'name matches "x\\\\b$"',
    'not ends_with(name, ".example")',
    'ends_with(name, ".tracker.example") and n > 3',
    'ends_with(name, ".tracker.example") xor starts_with(name, "ads")',
    'name == "a.example" or other == "a.example"',
    'name != "a.example"',
    '(starts_with(name, "ads") and (name == "ads.example" or ends_with(name, ".net")))',
    'ends_with(other, ".example") or ends_with(name, ".example")',
  ];
  const names = [
    "a.example",
    "b.example",
    "ads.example",
    "ads12.tracker.example",
    "ads12x.tracker.example",
    "x.TRACKER.EXAMPLE",
    "ads.net",
    "box",
    "",
    "tracker.example",
  ];
  for (const missing of ["cloudflare", "wirefilter"] as const) {
    const filters = sources.map((s) => {
      const r = scheme.compile(s, { missing });
      assert.ok(r.ok, s);
      return r.value;
    });
    const group = scheme.group(filters);
    const ctx = scheme.context();
    for (const name of [...names, undefined])
      for (const other of ["a.example", undefined])
        for (const n of [1, 5, undefined]) {
          ctx.reset();
          if (name !== undefined) ctx.set("name", name);
          if (other !== undefined) ctx.set("other", other);
          if (n !== undefined) ctx.set("n", n);
          assert.deepEqual(
            walk(group, ctx),
            each(filters, ctx),
            `${missing} ${name} ${other} ${n}`,
          );
        }
  }
});

test("list tests: in $list and any(f[*] in $list), with and without hasAny, stable or not", () => {
  const scheme = new Scheme({ fields: { name: "Bytes", names: "Array<Bytes>" } });
  const reg = createListSet().addBytes("l", ["ads.example", "x.test"]);
  // A matcher reading the array as a whole: true only for a two-element array starting "x.test".
  const whole = {
    has: (v: string) => v === "whole",
    hasAny: (vs: readonly string[]) => vs.length === 2 && vs[0] === "x.test",
  };
  const stable: ListSet = {
    stable: true,
    bytes: (n) => (n === "w" ? whole : reg.bytes(n)),
    int: () => undefined,
    ip: () => undefined,
  };
  const sources = [
    "any(names[*] in $l)",
    "name in $l",
    "not any(names[*] in $l)",
    "any(names[*] in $missing)",
    "any(names[*] in $w)",
    "name in $w",
    "any((names[*] in $l)) and name in $l",
  ];
  const filters = sources.map((s) => {
    const r = scheme.compile(s);
    assert.ok(r.ok, s);
    return r.value;
  });
  const group = scheme.group(filters);
  for (const lists of [reg, stable, undefined])
    for (const name of ["ads.example", "whole", "b.test", undefined])
      for (const names of [["x.test", "test"], ["a.x.test", "x.test", "test"], [], undefined]) {
        const ctx = scheme.context(lists);
        if (name !== undefined) ctx.set("name", name);
        if (names !== undefined) ctx.set("names", names);
        assert.deepEqual(walk(group, ctx), each(filters, ctx), `${name} ${names}`);
      }
});

test("a list set that is not stable is asked for its lists at every evaluation", () => {
  const scheme = new Scheme({ fields: { name: "Bytes" } });
  const reg = createListSet().addBytes("l", ["a.example"]);
  const f = scheme.compile("name in $l");
  assert.ok(f.ok);
  const group = scheme.group([f.value]);
  const ctx = scheme.context(reg).set("name", "b.example");
  assert.equal(group.first(ctx, 0), -1);
  reg.addBytes("l", ["b.example"]);
  assert.equal(group.first(ctx, 0), 0, "the replaced list is read");
});

test("a group takes only its own scheme's filters", () => {
  const a = new Scheme({ fields: { x: "Bytes" } });
  const b = new Scheme({ fields: { x: "Bytes" } });
  const f = a.compile('x == "1"');
  assert.ok(f.ok);
  assert.throws(() => b.group([f.value]), /its own scheme/);
});

test("literalSuffixOf: the bytes every match ends with, only when anchored at the end", () => {
  assert.equal(literalSuffixOf("^ads[0-9]*[.]tracker[.]example$"), ".tracker.example");
  assert.equal(literalSuffixOf("(a|b)c(de)\\z"), "cde");
  assert.equal(literalSuffixOf("example$$"), "example");
  assert.equal(literalSuffixOf("example"), "");
  assert.equal(literalSuffixOf("(?m)example$"), "");
  assert.equal(literalSuffixOf("(?i)example$"), "");
  assert.equal(literalSuffixOf("x\\b$"), "");
  assert.equal(literalSuffixOf("a$|b$"), "");
  assert.equal(literalSuffixOf("("), "");
});
