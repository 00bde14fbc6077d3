import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compileProgram, DEFAULT_SIZE_LIMIT } from "./compiler.ts";
import { LazyDfa } from "./lazy-dfa.ts";
import { parseRegex } from "./parser.ts";
import { PikeVm } from "./pike-vm.ts";

function engines(pattern: string, cacheBytes: number) {
  const parsed = parseRegex(pattern);
  const prog = compileProgram(parsed.hir, parsed.captureCount, DEFAULT_SIZE_LIMIT);
  return { dfa: new LazyDfa(prog, cacheBytes), pike: new PikeVm(prog) };
}

describe("regex: lazy DFA cache", () => {
  it("stays correct when a tiny cache must be cleared over and over", () => {
    // (a|b)*a(a|b){10} needs 2^11 DFA states: far more than a 1 KiB cache holds.
    const { dfa, pike } = engines("(?:a|b)*a(?:a|b){10}c", 1024);
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 200 }), (cs) => {
        const s = cs.join("");
        assert.equal(dfa.isMatch(s), pike.search(s, undefined));
      }),
      { numRuns: 300, seed: 99 },
    );
    assert.ok(dfa.clears > 0, "the cache was never cleared: the test does not test clearing");
  });

  it("counts large kernels against the budget", () => {
    // Every state of this DFA holds hundreds of NFA states: the budget, not the state count,
    // forces the clears.
    const { dfa, pike } = engines("(?:[a-z]{0,300}x){2}", 64 * 1024);
    const input = "ab".repeat(400);
    assert.equal(dfa.isMatch(input), pike.search(input, undefined));
    assert.ok(dfa.clears > 0);
  });

  it("stays correct with looks across cache clears", () => {
    const { dfa, pike } = engines("(?m)^(?:a|b)*a(?:a|b){6}\\b", 512);
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "b", " ", "\n"), { maxLength: 120 }), (cs) => {
        const s = cs.join("");
        assert.equal(dfa.isMatch(s), pike.search(s, undefined));
      }),
      { numRuns: 300, seed: 100 },
    );
    assert.ok(dfa.clears > 0);
  });
});
