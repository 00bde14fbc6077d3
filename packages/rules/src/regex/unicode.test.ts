import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compileRegex } from "./index.ts";
import { encodeUtf8, utf8Sequences } from "./unicode.ts";

const enc = (s: string) => String.fromCharCode(...new TextEncoder().encode(s));

function seqMatches(seqs: number[][], bytes: number[]): boolean {
  return seqs.some(
    (seq) =>
      seq.length === bytes.length * 2 &&
      bytes.every((b, i) => b >= (seq[2 * i] ?? 256) && b <= (seq[2 * i + 1] ?? -1)),
  );
}

describe("regex: Unicode mode", () => {
  it("UTF-8 sequences of a scalar range match exactly the encodings of its members", () => {
    const scalar = fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff);
    fc.assert(
      fc.property(scalar, scalar, scalar, (x, y, probe) => {
        const lo = Math.min(x, y);
        const hi = Math.max(x, y);
        const seqs = utf8Sequences([lo, hi]);
        assert.equal(seqMatches(seqs, encodeUtf8(probe)), probe >= lo && probe <= hi);
      }),
      { numRuns: 2000, seed: 42 },
    );
  });

  it("UTF-8 sequences never match invalid UTF-8", () => {
    const seqs = utf8Sequences([0, 0x10ffff]);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }),
        (bytes) => {
          const text = new TextDecoder("utf-8", { fatal: false }).decode(Uint8Array.from(bytes));
          const valid = [...text].length === 1 && !text.includes("\ufffd");
          assert.equal(seqMatches(seqs, bytes), valid, JSON.stringify(bytes));
        },
      ),
      { numRuns: 3000, seed: 43 },
    );
  });

  it("(?iu) simple case folding agrees with JS /iu for every cased BMP character", () => {
    let checked = 0;
    for (let cp = 0; cp < 0x10000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      const lower = c.toLowerCase();
      const upper = c.toUpperCase();
      if (lower === c && upper === c) continue;
      const r = compileRegex(enc(`(?iu)^\\x{${cp.toString(16)}}$`));
      assert.ok(r.ok);
      const js = new RegExp(`^\\u{${cp.toString(16)}}$`, "iu");
      for (const other of [lower, upper]) {
        if ([...other].length !== 1) continue;
        assert.equal(r.value.test(enc(other)), js.test(other), `U+${cp.toString(16)} vs ${other}`);
        checked++;
      }
    }
    assert.ok(checked > 2000);
  });

  it("\\p classes, \\w \\d \\s agree with JS /u on sampled code points", () => {
    const pairs: [string, string][] = [
      ["\\p{Greek}", "\\p{Script=Greek}"],
      ["\\p{L}", "\\p{L}"],
      ["\\p{Lu}", "\\p{Lu}"],
      ["\\p{Uppercase_Letter}", "\\p{Lu}"],
      ["\\p{Han}", "\\p{Script=Han}"],
      ["\\p{sc:Cyrillic}", "\\p{Script=Cyrillic}"],
      ["\\p{Emoji}", "\\p{Emoji}"],
      ["\\d", "\\p{Nd}"],
      ["\\s", "\\p{White_Space}"],
      ["\\w", "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]"],
      ["\\P{L}", "\\P{L}"],
      ["\\p{^L}", "\\P{L}"],
      ["[\\p{L}--\\p{Latin}]", "[\\p{L}--\\p{Script=Latin}]"],
    ];
    for (const [ours, theirs] of pairs) {
      const r = compileRegex(`(?u)^${ours}$`);
      if (!r.ok) assert.fail(`${ours}: ${r.message}`);
      const js = new RegExp(`^${theirs}$`, "v");
      for (let cp = 0; cp <= 0x10ffff; cp += cp < 0x3000 ? 7 : 997) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const c = String.fromCodePoint(cp);
        assert.equal(r.value.test(enc(c)), js.test(c), `${ours} U+${cp.toString(16)}`);
      }
    }
  });

  it("Unicode word boundaries see whole characters (Pike VM)", () => {
    const cases: [string, string, boolean][] = [
      ["(?u)\\bжук\\b", "большой жук!", true],
      ["(?u)\\bжук\\b", "жуки", false],
      ["\\bжук", "большой жук", false],
      ["(?u)\\Bук", "жук", true],
      ["(?u)\\b{start}é", "é", true],
      ["(?u)a\\b{end}", "aé", false],
    ];
    for (const [p, input, expected] of cases) {
      const r = compileRegex(enc(p));
      if (!r.ok) assert.fail(r.message);
      assert.equal(r.value.test(enc(input)), expected, `${p} ~ ${input}`);
    }
  });
});
