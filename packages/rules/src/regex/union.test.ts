import assert from "node:assert/strict";
import { test } from "node:test";
import { compileRegex, compileRegexUnion } from "./index.ts";

// A union answers test() as the OR of its patterns' own test(), whatever their flags, anchors,
// groups and looks; the ones it cannot hold (Unicode word boundaries) are listed in `left`.

const PATTERNS = [
  "^ad[0-9]+\\.",
  "(^|\\.)trk-?7\\.",
  "(?i)PIXEL",
  "\\.cdn\\.example$",
  "(?x) b e a c o n # a comment that must not swallow the next pattern",
  "(?P<id>tag)[a-z]{2}",
  "(?P<id>img)\\d",
  "\\bmetrics\\b",
  "(?m)^x$",
  "a|b(c",
  "(?u:\\b)ads(?u:\\b)",
  "z{2,}$",
];

test("a union matches where one of its patterns does", () => {
  const each = PATTERNS.map((p) => compileRegex(p));
  const u = compileRegexUnion(PATTERNS);
  assert.ok(u.ok);
  // `a|b(c` does not parse; the Unicode boundary would put the whole union on the Pike VM.
  assert.deepEqual(u.left, [9, 10]);
  const inUnion = each.filter((_, i) => !u.left.includes(i));
  let x = 7;
  const alphabet = "abcdeikmnoprtxz0179.-\n ADPIXEL";
  let hits = 0;
  for (let i = 0; i < 20_000; i++) {
    let s = "";
    const len = i % 24;
    for (let k = 0; k < len; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      s += alphabet[(x >>> 8) % alphabet.length];
    }
    if (i % 5 === 0) s += [".cdn.example", "ad12.", "xbeaconx", "tagzz", "img4", "zz"][i % 6];
    const want = inUnion.some((r) => r.ok && r.value.test(s));
    assert.equal(u.value.test(s), want, JSON.stringify(s));
    if (want) hits++;
  }
  assert.ok(hits > 2000);
});

test("a union over its size limit is refused, not thrown", () => {
  const u = compileRegexUnion(["[a-z]{50}", "[0-9]{50}"], { sizeLimit: 60 });
  assert.equal(u.ok, false);
});

test("compileRegex with cache: false neither reads nor fills the compile cache", () => {
  const a = compileRegex("^uncached[0-9]+x");
  const b = compileRegex("^uncached[0-9]+x");
  const c = compileRegex("^uncached[0-9]+x", { cache: false });
  const d = compileRegex("^uncached[0-9]+y", { cache: false });
  const e = compileRegex("^uncached[0-9]+y");
  assert.ok(a.ok && b.ok && c.ok && d.ok && e.ok);
  assert.equal(a.value, b.value);
  assert.notEqual(c.value, a.value);
  assert.notEqual(e.value, d.value);
  assert.equal(c.value.test("uncached12x"), true);
  assert.equal(d.value.test("uncached12x"), false);
});
