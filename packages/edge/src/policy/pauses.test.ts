import assert from "node:assert/strict";
import { test } from "node:test";
import { BlockingPauses } from "./pauses.ts";

test("no pauses: nothing to check", () => {
  assert.equal(BlockingPauses.of(undefined), undefined);
  assert.equal(BlockingPauses.of([]), undefined);
});

test("a pause for everyone ends at its time; one without an end lasts", () => {
  const p = BlockingPauses.of([{ until: 1000 }])!;
  assert.equal(p.isPaused(undefined, 999), true);
  assert.equal(p.isPaused("loc_a", 999), true);
  assert.equal(p.isPaused(undefined, 1000), false);
  const forever = BlockingPauses.of([{}])!;
  assert.equal(forever.isPaused("loc_a", Date.now() + 1e12), true);
});

test("a location's pause applies to its clients only", () => {
  const p = BlockingPauses.of([{ until: 1000, locationId: "loc_a" }, { locationId: "loc_b" }])!;
  assert.equal(p.isPaused("loc_a", 500), true);
  assert.equal(p.isPaused("loc_a", 1500), false);
  assert.equal(p.isPaused("loc_b", 1e15), true);
  assert.equal(p.isPaused("loc_c", 500), false);
  assert.equal(p.isPaused(undefined, 500), false);
});
