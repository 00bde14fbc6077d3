// biome-ignore-all lint/suspicious/noTemplateCurlyInString: regex_replace templates are written ${N}.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compileRegex, debugHasReverse, debugSearchSteps, parseReplacement } from "./index.ts";

/**
 * Differential property test against JavaScript RegExp on the syntax both share. Each generated
 * pattern is rendered twice: Rust syntax for us, JS syntax for RegExp (`.` → `[^\n]`, no `u`
 * flag). On ASCII inputs both must agree on whether there is a match and on the span of the
 * leftmost-first match.
 */
interface Pat {
  rust: string;
  js: string;
  /** Can match the empty string. */
  empty?: boolean;
  /** Contains a quantifier over an empty-matching body, where Rust's leftmost-first span is
   *  defined by its Thompson NFA and differs from JS backtracking (JS's empty-iteration check);
   *  for those only is_match is compared. */
  emptyLoop?: boolean;
}

const atom: fc.Arbitrary<Pat> = fc.oneof(
  fc.constantFrom("a", "b", "c", "-", " ").map((c) => ({ rust: c, js: c })),
  fc.constant({ rust: ".", js: "[^\\n]" }),
  fc.constant({ rust: "\\.", js: "\\." }),
  fc.constantFrom("[ab]", "[^a]", "[a-c]", "[^\\n-]", "[b-c-]").map((c) => ({ rust: c, js: c })),
  fc.constantFrom("\\d", "\\w", "\\s", "\\W", "\\D").map((c) => ({ rust: c, js: c })),
);

const anchor: fc.Arbitrary<Pat> = fc
  .constantFrom("^", "$", "\\b", "\\B")
  .map((c) => ({ rust: c, js: c, empty: true }));

const quantifier = fc.constantFrom(
  "*",
  "+",
  "?",
  "{2}",
  "{1,3}",
  "{0,2}",
  "{2,}",
  "*?",
  "+?",
  "??",
  "{1,2}?",
);

const pat: fc.Arbitrary<Pat> = fc.letrec<{ node: Pat }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    atom,
    anchor,
    fc.tuple(tie("node"), tie("node")).map(([x, y]) => ({
      rust: x.rust + y.rust,
      js: x.js + y.js,
      empty: x.empty === true && y.empty === true,
      emptyLoop: x.emptyLoop === true || y.emptyLoop === true,
    })),
    fc.tuple(tie("node"), tie("node")).map(([x, y]) => ({
      rust: `(?:${x.rust}|${y.rust})`,
      js: `(?:${x.js}|${y.js})`,
      empty: x.empty === true || y.empty === true,
      emptyLoop: x.emptyLoop === true || y.emptyLoop === true,
    })),
    tie("node").map((x) => ({ ...x, rust: `(${x.rust})`, js: `(${x.js})` })),
    fc.tuple(tie("node"), quantifier).map(([x, q]) => ({
      rust: `(?:${x.rust})${q}`,
      js: `(?:${x.js})${q}`,
      empty: x.empty === true || /^[*?]|^\{0/.test(q),
      emptyLoop: x.emptyLoop === true || x.empty === true,
    })),
  ),
})).node;

const input = fc
  .array(fc.constantFrom("a", "b", "c", "-", " ", "\n", "1", "_", "."), { maxLength: 12 })
  .map((cs) => cs.join(""));

describe("regex: differential against JS RegExp", () => {
  const marker = parseReplacement("<${1}>");
  assert.ok(marker.ok);

  it("agrees on is_match and on the first match span", () => {
    fc.assert(
      fc.property(pat, fc.array(input, { minLength: 1, maxLength: 6 }), (p, inputs) => {
        const ours = compileRegex(`(${p.rust})`);
        if (!ours.ok) throw new Error(`${p.rust}: ${ours.message}`);
        const js = new RegExp(`(${p.js})`);
        for (const s of inputs) {
          const expected = js.test(s);
          assert.equal(ours.value.test(s), expected, `test(${JSON.stringify(s)})`);
          assert.equal(debugSearchSteps(ours.value, s, "pike").matched, expected, "pike");
          assert.equal(debugSearchSteps(ours.value, s, "dfa").matched, expected, "dfa");
          if (debugHasReverse(ours.value)) {
            assert.equal(debugSearchSteps(ours.value, s, "reverse-dfa").matched, expected, "rev");
          }
          if (p.emptyLoop === true) continue;
          // Span of the leftmost-first match: mark the whole match with the outer group.
          const m = js.exec(s);
          const jsMarked =
            m === null ? s : `${s.slice(0, m.index)}<${m[0]}>${s.slice(m.index + m[0].length)}`;
          assert.equal(
            ours.value.replaceFirst(s, marker.value),
            jsMarked,
            `replace(${JSON.stringify(s)})`,
          );
        }
      }),
      { numRuns: 600, seed: 20261123 },
    );
  });

  it("agrees with case-insensitive and multi-line flags", () => {
    fc.assert(
      fc.property(pat, fc.constantFrom("i", "m", "im"), input, (p, flags, s) => {
        const ours = compileRegex(`(?${flags})${p.rust}`);
        if (!ours.ok) throw new Error(`${p.rust}: ${ours.message}`);
        const js = new RegExp(p.js, flags);
        assert.equal(ours.value.test(s.toUpperCase()), js.test(s.toUpperCase()));
        assert.equal(ours.value.test(s), js.test(s));
      }),
      { numRuns: 600, seed: 7 },
    );
  });
});
