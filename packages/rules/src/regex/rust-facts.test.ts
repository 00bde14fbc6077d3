import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileRegex, debugCaptures } from "./index.ts";

/** UTF-8 bytes of a JS string as a binary string. */
function bytes(s: string): string {
  return String.fromCharCode(...new TextEncoder().encode(s));
}

/**
 * Behaviour of the Rust regex crate on known tricky inputs (regressions it has fixed over the
 * years), restated as [pattern, haystack, expected first-match capture slots or null]. Slots
 * are byte offsets [start0, end0, start1, end1, …] with -1 for a non-participating group.
 * Patterns run in our configuration (bytes mode unless `(?u)`), so Unicode-mode facts carry an
 * explicit `(?u)`.
 */
const FACTS: [string, string, number[] | null][] = [
  ["(?i-u)[a_]+", "A_", [0, 2]],
  ["(?i-u)[A_]+", "a_", [0, 2]],
  ["(?iu)\\p{Ll}+", "ΛΘΓΔα", [0, 10]],
  ["(?iu)\\P{Lu}", "aB", null],
  ["(?iu)[^\\p{Lu}]", "aB", null],
  ["(?iu)\\P{Lu}", "aB1", [2, 3]],
  ["(?i)[^x]", "x", null],
  ["(?i)[^x]", "X", null],
  ["[[:word:]]", "_", [0, 1]],
  ["([a-f]){2}(?P<foo>[x-z])", "abx", [0, 3, 1, 2, 2, 3]],
  ["ab?|$", "az", [0, 1]],
  ["^(?:.*?)(?:\\n|\\r\\n?|$)", "ab\rcd", [0, 3]],
  ["z*azb", "azb", [0, 3]],
  ["1|2|3|4|5|6|7|8|9|10|int", "int", [0, 3]],
  ["\\b", "Should this (work?)", [0, 0]],
  ["^a|b", "ba", [0, 1]],
  ["(?m:$)|(?-u:\\b)", "\u{6084E}", [4, 4]],
  ["(?i-u:\\x00)|$", "\u{E682F}", [4, 4]],
  ["(?u:\\b)^(?-u:X)", "X", [0, 1]],
  ["$\\B", "\u{5C124}\u{B576C}", [8, 8]],
  ["^a|z", "yyyyya", null],
  ["a$|z", "ayyyyy", null],
  ["(?:ABC|CDA|BC)X", "CDAX", [0, 4]],
  ["((IMG|CAM|MG|MB2)_|(DSCN|CIMG))(?P<n>[0-9]+)$", "CIMG2341", [0, 8, 0, 4, -1, -1, 0, 4, 4, 8]],
  ["[^\\x00-\\xFF]", "abc\xff", null],
  ["a^{2}", "", null],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${2}` is regex syntax here.
  ["${2}a", "", null],
  ["a(b*(X|$))?", "abcbX", [0, 1, -1, -1, -1, -1]],
  ["(aa$)?", "aaz", [0, 0, -1, -1]],
  ["(a)\\d*\\.?\\d+\\b", "a0.0c", [0, 2, 0, 1]],
  ["typename type\\-parameter\\-[0-9]+\\-[0-9]+::.+", "test", null],
  ["(?:(?:(?x)))", "", [0, 0]],
  ["(?:(?i)foo)|Bar", "bar Foo", [4, 7]],
  ["(?:)Ј01", "zЈ01", [1, 5]],
  ["\\b..\\b", "I have 12, he has 2!", [0, 2]],
  ["\\b..\\b", "az,,b", [0, 2]],
  ["[0-4][0-4][0-4]000", "153.230000", [4, 10]],
  ["\\w+foobar\\b", "xyzfoobarZ", null],
  ["\\bs(?:[ab])", "s\xe4", null],
  ["(?m)^(?:[^ ]+?)$", "line1\nline2", [0, 5]],
  ["^a[[:^space:]]", "a ", null],
  ["^-[a-z]", "r-f", null],
  ["samwise|sam|a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z", "samwise", [0, 7]],
  ["(a$)b$", "ab", null],
  ["^(a|ab)$", "ab", [0, 2, 0, 2]],
  ["(?:(?-u:\\b)|(?u:h))+", "h", [0, 0]],
  ["(?u:\\B)", "鋸", null],
  ["(?:(?u:\\b)|(?s-u:.))+", "oB", [0, 0]],
  ["(?:(?-u:\\B)|(?su:.))+", "\u{FEF80}", [0, 0]],
  ["(?m:$)(?m:^)(?su:.)", "\n‣", [0, 1]],
  ["(?m:$)^(?m:^)", "\n", [0, 0]],
  ["(?P<kp>(?iu:do)(?m:$))*", "dodo", [0, 0, -1, -1]],
  ["(?u:\\B)", "䡁", null],
  ["((?m:$)(?-u:\\B)(?s-u:.)(?-u:\\B)$)", "\n\n", [1, 2, 1, 2]],
  ["(?m:$)(?m:$)^(?su:.)", "\n\u0081¨\u200a", [0, 1]],
  ["(?-u:\\B)(?m:^)", "0\n", [2, 2]],
  ["(?:(?u:\\b)|(?-u:.))+", "0", [0, 0]],
  ["a([bc]*)c*", "abc", [0, 3, 1, 3]],
  ["(?i:(?:\\b|_)win(?:32|64|dows)?(?:\\b|_))", "ubi-Darwin-x86_64.tar.gz", null],
  [".*[^\\s\\S]A|B", "B", [0, 1]],
  ["(a){0}(a)", "a", [0, 1, -1, -1, 0, 1]],
  ["(?u)\\B.*", "!\u02D7", [0, 3]],
  ["e..+e.ee>", "Zeee.eZZZZZZZZeee>eeeeeee>", [1, 26]],
  ["(?:(\\d+)[:.])?(\\d{1,2})[:.](\\d{2})", "102:12:39", [0, 9, 0, 3, 4, 6, 7, 9]],
  ["(?:([0-9][0-9][0-9]):)?([0-9][0-9]):([0-9][0-9])", "102:12:39", [0, 9, 0, 3, 4, 6, 7, 9]],
  ["(?u).+\\b\\n", "β77\n", [0, 5]],
  ["^[[:alnum:]./-]+$", "a-b", [0, 3]],
  ["(\\\\N\\{[^}]+})|([{}])", "hiya \\N{snowman} bye", [5, 16, 5, 16, -1, -1]],
  ["(?i)domain\\.com$", "go to DOMAIN.COM", [6, 16]],
];

const REJECTED = ["(*)", "(?:?)", "(?)", "*", "(?m){1,1}"];

describe("regex: Rust regex crate behaviour on known tricky cases", () => {
  for (const [pattern, haystack, expected] of FACTS) {
    it(`${pattern} on ${JSON.stringify(haystack)}`, () => {
      const r = compileRegex(bytes(pattern));
      if (!r.ok) assert.fail(r.message);
      const input =
        /[^\x00-\x7f]/.test(haystack) && !haystack.includes("\xe4") && !haystack.includes("\xff")
          ? bytes(haystack)
          : haystack;
      assert.deepEqual(debugCaptures(r.value, input), expected);
      assert.equal(r.value.test(input), expected !== null);
    });
  }
  for (const pattern of REJECTED) {
    it(`rejects ${pattern}`, () => {
      assert.equal(compileRegex(pattern).ok, false);
    });
  }
});
