import assert from "node:assert/strict";
import { test } from "node:test";
import type { Expr } from "./ast.ts";
import { format } from "./format.ts";
import { Scheme } from "./scheme.ts";
import { evalSkeleton, type Tri } from "./skeleton.ts";

const scheme = new Scheme({ fields: { a: "Bool", b: "Bool", c: "Bool", n: "Int" } });

function expr(source: string): Expr {
  const r = scheme.parse(source);
  if (!r.ok) throw new Error(source);
  return r.value.expr;
}

/** Each atom's truth by its text; atoms not named are unknown. */
function truth(source: string, known: Record<string, boolean>): Tri {
  return evalSkeleton(expr(source), (atom) => known[format(atom)]);
}

test("Kleene's and, or, xor, not over known and unknown atoms", () => {
  assert.equal(truth("a and b", { a: true, b: true }), true);
  assert.equal(truth("a and b", { a: false }), false); // false whatever b is
  assert.equal(truth("a and b", { a: true }), undefined);
  assert.equal(truth("a or b", { b: true }), true); // true whatever a is
  assert.equal(truth("a or b", { a: false, b: false }), false);
  assert.equal(truth("a or b", { a: false }), undefined);
  assert.equal(truth("a xor b", { a: true, b: false }), true);
  assert.equal(truth("a xor b", { a: true, b: true }), false);
  assert.equal(truth("a xor b", { a: true }), undefined);
  assert.equal(truth("not a", { a: false }), true);
  assert.equal(truth("not a", {}), undefined);
  assert.equal(truth("not (a or (b and n > 3))", { a: false, b: true, "n > 3": false }), true);
  assert.equal(truth("a and b and c", { a: true, b: true, c: true }), true);
});

test("every atom is visited, left to right, with no short cut", () => {
  const seen: string[] = [];
  const v = evalSkeleton(expr("a and (b or not c) and n == 1"), (atom) => {
    seen.push(format(atom));
    return false;
  });
  assert.equal(v, false);
  assert.deepEqual(seen, ["a", "b", "c", "n == 1"]);
});

test("lazy: an and stops at a false item, an or at a true one; xor reads every item", () => {
  const seen: string[] = [];
  const known: Record<string, boolean> = { a: false, b: true, c: true };
  const lazy = (source: string) =>
    evalSkeleton(
      expr(source),
      (atom) => {
        seen.push(format(atom));
        return known[format(atom)];
      },
      true,
    );
  assert.equal(lazy("a and b and c"), false);
  assert.deepEqual(seen.splice(0), ["a"]);
  assert.equal(lazy("b or a or c"), true);
  assert.deepEqual(seen.splice(0), ["b"]);
  assert.equal(lazy("n > 1 and a"), false); // unknown, then false: decided at a
  assert.deepEqual(seen.splice(0), ["n > 1", "a"]);
  assert.equal(lazy("b xor c xor a"), false);
  assert.deepEqual(seen.splice(0), ["b", "c", "a"]);
});
