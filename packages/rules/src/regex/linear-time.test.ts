import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileRegex, debugHasReverse, debugSearchSteps } from "./index.ts";

/**
 * The linear-time guarantee, checked by counting work instead of timing it: for hostile
 * patterns the number of steps (NFA-state visits for the Pike VM; DFA transitions plus
 * state-construction visits for the lazy DFA) must grow at most linearly with the input.
 */
const EVIL: [string, (n: number) => string][] = [
  ["(a+)+$", (n) => `${"a".repeat(n)}!`],
  ["(a|aa)*b", (n) => "a".repeat(n)],
  ["(x+x+)+y", (n) => "x".repeat(n)],
  ["(a*)*b", (n) => "a".repeat(n)],
  ["(.*a){12}", (n) => "a".repeat(n)],
  ["^(\\w+\\s?)+$", (n) => `${"ab ".repeat(Math.floor(n / 3))}!`],
  ["(a|a)+$", (n) => `${"a".repeat(n)}b`],
  ["(?:a?){20}a{20}", (n) => "a".repeat(n).slice(0, 19)],
];

const ENGINES = ["pike", "dfa", "reverse-dfa"] as const;

describe("regex: linear time (step counts, not timings)", () => {
  for (const engine of ENGINES) {
    for (const [pattern, makeInput] of EVIL) {
      it(`${engine}: ${pattern}`, () => {
        const r = compileRegex(pattern);
        assert.ok(r.ok);
        if (engine === "reverse-dfa" && !debugHasReverse(r.value)) return;
        const small = debugSearchSteps(r.value, makeInput(1000), engine);
        const large = debugSearchSteps(r.value, makeInput(10000), engine);
        const slowTest = r.value.test(makeInput(10000));
        assert.equal(large.matched, slowTest);
        // A small constant per input byte (the NFA of each pattern has well under 200 states).
        const c = 200;
        assert.ok(small.steps <= c * 1001, `${small.steps} steps for 1000 bytes`);
        assert.ok(large.steps <= c * 10001, `${large.steps} steps for 10000 bytes`);
        // Ten times the input costs at most about ten times the work (plus fixed setup).
        assert.ok(large.steps <= 10 * small.steps + 5000, `${small.steps} → ${large.steps}`);
      });
    }
  }

  it("evil inputs are rejected", () => {
    const cases: [string, string][] = [
      ["(a+)+$", `${"a".repeat(30)}!`],
      ["(a|aa)*b", "a".repeat(10000)],
      ["(x+x+)+y", "x".repeat(10000)],
    ];
    for (const [pattern, input] of cases) {
      const r = compileRegex(pattern);
      assert.ok(r.ok);
      assert.equal(r.value.test(input), false, pattern);
      assert.equal(debugSearchSteps(r.value, input, "pike").matched, false);
      assert.equal(debugSearchSteps(r.value, input, "dfa").matched, false);
      if (debugHasReverse(r.value)) {
        assert.equal(debugSearchSteps(r.value, input, "reverse-dfa").matched, false);
      }
    }
  });
});
