// biome-ignore-all lint/suspicious/noTemplateCurlyInString: regex_replace templates are written ${N}.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type CompiledRegex,
  compileRegex,
  debugHasReverse,
  debugSearchSteps,
  parseReplacement,
} from "./index.ts";

/** UTF-8 bytes of a JS string as a binary string (what the rules engine passes). */
function bytes(s: string): string {
  return String.fromCharCode(...new TextEncoder().encode(s));
}

function re(pattern: string): CompiledRegex {
  const r = compileRegex(pattern);
  if (!r.ok) assert.fail(`${pattern}: ${r.message}`);
  return r.value;
}

function compileError(pattern: string): string {
  const r = compileRegex(pattern);
  assert.equal(r.ok, false, `expected ${JSON.stringify(pattern)} to be rejected`);
  return r.ok ? "" : r.message;
}

/** [pattern, input, expected]. Patterns and inputs are binary strings. */
const MATCH_CASES: [string, string, boolean][] = [
  // The spec's examples (§3.4 / conformance cases).
  ["^/articles/200[7-8]/$", "/articles/2008/", true],
  ["^/articles/200[7-8]/$", "/articles/2007/", true],
  ["^/articles/200[7-8]/$", "/articles/2009/", false],
  ["^/articles/200[7-8]/$", "/articles/2008/x", false],
  ["a.b", "axb", true],
  ["a.b", "--axb--", true],
  ["a.b", "a\nb", false],
  ["(?i)^EXAMPLE", "example.com", true],
  ["^EXAMPLE", "example.com", false],
  ["a\\.b", "a.b", true],
  ["a\\.b", "axb", false],
  [".*@company\\.com$", "joe@company.com", true],
  [".*@company\\.com$", "joe@company.com.evil.net", false],
  [".*@company\\.com$", "joe@companyxcom", false],
  ["/api/login\\.aspx$", "/x/api/login.aspx", true],
  ["8.*", "8080", true],
  // Hostile patterns return at once.
  ["(a+)+$", `${"a".repeat(30)}!`, false],
  ["(a|aa)*b", "a".repeat(40), false],
  ["(x+x+)+y", "x".repeat(40), false],
  // Literals, escapes.
  ["", "", true],
  ["", "abc", true],
  ["abc", "xabcx", true],
  ["abc", "ab", false],
  ["\\t\\n\\r\\f\\v\\a", "\t\n\r\f\v\x07", true],
  ["\\x41\\x{42}\\u0043\\U00000044", "ABCD", true],
  ["\\xFF", "\xff", true],
  ["\\xff", "\xc3\xbf", false],
  ["\\x{FF}", "\xc3\xbf", true],
  ["\\x{FF}", "\xff", false],
  [bytes("é"), bytes("café"), true],
  ["\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\\\#\\&\\-\\~", "*+?()[]{}|^$\\#&-~", true],
  ["\\%\\@\\ \\!", "%@ !", true],
  // Dot: any byte but \n; (?s) includes \n; bytes mode matches invalid UTF-8.
  ["^.$", "\xff", true],
  ["^.$", "\n", false],
  ["(?s)^.$", "\n", true],
  ["^..$", bytes("é"), true],
  ["(?u)^.$", bytes("é"), true],
  ["(?u)^.$", "\xff", false],
  // Classes.
  ["^[abc]+$", "abcabc", true],
  ["^[abc]+$", "abcd", false],
  ["^[^abc]+$", "xyz\n\xff", true],
  ["[]]", "]", true],
  ["[^]]", "]", false],
  ["[a-]", "-", true],
  ["[-a]", "-", true],
  ["^[\\d]+$", "0123456789", true],
  ["[\\]\\[]", "[", true],
  ["^[[:alpha:]]+$", "abcXYZ", true],
  ["^[[:alpha:]]+$", "abc1", false],
  ["^[[:^alpha:]]+$", "123", true],
  ["^[[:xdigit:][:space:]]+$", "0fA \t", true],
  ["^[a-z&&[^aeiou]]+$", "bcd", true],
  ["^[a-z&&[^aeiou]]+$", "bad", false],
  ["^[a-z--[aeiou]]+$", "xyz", true],
  ["^[a-z--[aeiou]]+$", "xaz", false],
  ["^[a-c~~b-d]+$", "ad", true],
  ["^[a-c~~b-d]+$", "b", false],
  ["^[a[bc]]+$", "abc", true],
  ["\\d", "x5", true],
  ["\\D", "55", false],
  ["^\\w+$", "abc_123", true],
  ["\\W", "abc", false],
  ["\\s", "a b", true],
  ["^\\S+$", "ab", true],
  // ASCII-only classes in bytes mode, Unicode with (?u).
  ["\\w", bytes("é"), false],
  ["(?u)^\\w$", bytes("é"), true],
  ["(?u)^\\d$", bytes("٣"), true],
  ["^\\d$", bytes("٣"), false],
  ["(?u)^\\p{Greek}+$", bytes("αβγ"), true],
  ["(?u)^\\p{Greek}+$", bytes("αβc"), false],
  ["(?u)^\\pL+$", bytes("héllo"), true],
  ["(?u)^\\p{Lu}$", bytes("É"), true],
  ["(?u)^\\P{Lu}$", bytes("é"), true],
  ["(?u)^\\p{Hangul}+$", bytes("한국어"), true],
  ["(?u)^\\p{sc=Han}$", bytes("中"), true],
  ["(?u)^[\\p{Greek}\\d]+$", bytes("α1"), true],
  ["(?u)^[^a]$", bytes("é"), true],
  ["^[^a]$", bytes("é"), false],
  // Case insensitivity: ASCII-only in bytes mode, Unicode with (?u).
  ["(?i)abc", "xABCx", true],
  ["(?i)[a-c]+$", "ABC", true],
  [bytes("(?i)é"), bytes("É"), false],
  [bytes("(?iu)é"), bytes("É"), true],
  ["(?iu)k", bytes("\u212a"), true],
  ["(?i)a(?-i)b", "Ab", true],
  ["(?i)a(?-i)b", "AB", false],
  ["a(?i:b)c", "aBc", true],
  ["a(?i:b)c", "aBC", false],
  ["(?i)a|b", "B", true],
  ["(a(?i)b)c", "aBc", true],
  ["(a(?i)b)c", "aBC", false],
  // Alternation, groups, repetition.
  ["^(?:cat|dog)s?$", "dogs", true],
  ["^(?:cat|dog)s?$", "cow", false],
  ["^(?P<year>\\d{4})-(?<month>\\d\\d)$", "2024-05", true],
  ["^a{3}$", "aaa", true],
  ["^a{3}$", "aaaa", false],
  ["^a{2,}$", "aaaaa", true],
  ["^a{2,}$", "a", false],
  ["^a{2,3}$", "aaa", true],
  ["^a{2,3}$", "aaaa", false],
  ["^a{ 2 , 3 }$", "aa", true],
  ["^a{0}$", "", true],
  ["^a*?$", "aaa", true],
  ["^(a+?)b$", "aaab", true],
  ["^a**$", "aaa", true],
  ["^(?:a|)+$", "aaa", true],
  ["^(?:a*)*$", "aa", true],
  // Anchors.
  ["^abc$", "abc\n", false],
  ["\\Aabc\\z", "abc", true],
  ["(?m)^abc$", "x\nabc\ny", true],
  ["(?m)^abc$", "x\nabcd\ny", false],
  ["(?m)a$", "a\r\n", false],
  ["(?mR)a$", "a\r\n", true],
  ["(?mR)^b", "a\rb", true],
  ["(?R)a.b", "a\rb", false],
  ["\\bfoo\\b", "a foo.", true],
  ["\\bfoo\\b", "afoo", false],
  ["\\Bfoo", "afoo", true],
  ["\\Bfoo", "a foo", false],
  ["\\<foo\\>", "x foo y", true],
  ["\\b{start}foo\\b{end}", "xfoo", false],
  ["foo\\b{end-half}", "foo!", true],
  ["\\b{start-half}foo", "_foo", false],
  ["^\\b{2}a", "a", true],
  [bytes("(?u)\\bé"), bytes(" é"), true],
  [bytes("\\bé"), bytes(" é"), false],
  [bytes("(?u)é\\b"), bytes("éa"), false],
  // Verbose mode.
  ["(?x) a b c # comment\n", "abc", true],
  ["(?x) a\\ b", "a b", true],
  ["(?x)[a b]", " ", false],
  // Flags scoping and swap-greed.
  ["(?U)^(a+)", "aaa", true],
  // Search strategies: literal prefix (exact and ASCII case-insensitive), required literal,
  // reverse scan for end-anchored patterns.
  ["(?i)googlebot/\\d+\\.\\d+", "Mozilla (compatible; GoOgLeBoT/2.1)", true],
  ["(?i)googlebot/\\d+\\.\\d+", "googlebot/x googlebot/2", false],
  ["(?i)googlebot/\\d+\\.\\d+", "googlebot/x googlebot/2.0", true],
  ["(?i)\\xC9x", "\xe9x\xc9X", true],
  ["(?i)\\xC9x", "\xe9x", false],
  ["abc[0-9]", "abcabc7", true],
  ["abc[0-9]", "ab7", false],
  ["[0-9]abc", "7ab 8abc", true],
  ["x[0-9]abc\\b", "x7abcd x8abc", true],
  ["x[0-9]abc\\b", "x7abcd", false],
  ["(?:^|\\.)example\\.com$", "www.example.com", true],
  ["(?:^|\\.)example\\.com$", "example.com", true],
  ["(?:^|\\.)example\\.com$", "badexample.com", false],
  ["(?m)example$", "example\nx", true],
  ["\\bcom$", "example.com", true],
  ["\\Bcom$", "example.com", false],
  ["(?:a|b\\z)", "b", true],
  // Looks right after a byte, decided with and without knowing the next byte.
  [".^", "a", false],
  ["a\\b", "ab", false],
  ["a\\b", "a b", true],
  ["a\\b", "xa", true],
  ["a\\B", "a", false],
  ["(?m)a$", "ab", false],
  ["(?m)a^", "a\nb", false],
  ["(?m)\\n^b", "a\nb", true],
  ["\\b{start-half}a", "ba", false],
  // Non-byte code units never match a byte pattern.
  [".", "\u0100", false],
];

describe("regex: match table", () => {
  for (const [pattern, input, expected] of MATCH_CASES) {
    it(`${JSON.stringify(pattern)} ~ ${JSON.stringify(input)} → ${expected}`, () => {
      const r = re(pattern);
      assert.equal(r.test(input), expected);
      // Both engines must agree (the DFA cannot run Unicode word boundaries).
      assert.equal(debugSearchSteps(r, input, "pike").matched, expected, "pike");
      if (!/\(\?[a-z]*u[a-z]*\).*\\[bB<>]/.test(pattern)) {
        assert.equal(debugSearchSteps(r, input, "dfa").matched, expected, "dfa");
        if (debugHasReverse(r)) {
          assert.equal(debugSearchSteps(r, input, "reverse-dfa").matched, expected, "reverse");
        }
      }
    });
  }
});

describe("regex: compile errors", () => {
  const ERRORS: [string, RegExp][] = [
    ["(", /unclosed group.*offset 0/],
    ["a)", /unopened group.*offset 1/],
    ["[a", /unclosed character class/],
    ["\\1", /back-references/],
    ["(a)\\1", /back-references/],
    ["\\0", /back-references/],
    ["(?P=name)", /back-references/],
    ["(?=a)", /look-ahead/],
    ["(?!a)", /look-ahead/],
    ["(?<=a)b", /look-behind/],
    ["(?<!a)b", /look-behind/],
    ["*", /repetition operator missing expression/],
    ["a|*", /repetition operator missing expression/],
    ["(?i)*", /repetition operator missing expression/],
    ["a{,3}", /decimal/],
    ["a{3", /unclosed counted repetition/],
    ["a{3,2}", /min is greater than max/],
    ["\\e", /unrecognized escape/],
    ["\\Z", /not supported/],
    ["\\q", /unrecognized escape/],
    ["\\", /incomplete escape/],
    ["\\x4", /hexadecimal/],
    ["\\x{110000}", /scalar value/],
    ["\\x{D800}", /scalar value/],
    ["[z-a]", /invalid class range/],
    ["[a-\\d]", /range end/],
    ["[\\d-z]", /range start/],
    ["[\\b]", /assertions are not allowed/],
    [bytes("[é]"), /non-ASCII character in a bytes-mode class/],
    ["[\\x{e9}]", /non-ASCII character in a bytes-mode class/],
    ["\\pL", /\\p\{L\} is not allowed in bytes mode/],
    ["(?u)\\p{NoSuchClass}", /unknown or unsupported Unicode class \\p\{NoSuchClass\}/],
    ["(?u)\\p{L|.*}", /unknown or unsupported Unicode class/],
    ["(?u)\\p{Script=Greek|[^]}", /unknown or unsupported Unicode class/],
    ["(?z)", /unrecognized flag/],
    ["(?ii)", /duplicate flag/],
    ["(?i-)", /dangling/],
    ["(?)", /empty flag group/],
    ["(?P<n>a)(?P<n>b)", /duplicate capture group name/],
    ["(?P<1a>a)", /invalid character in capture group name/],
    ["(?#comment)", /not supported/],
    ["\xff", /not valid UTF-8 at byte offset 0/],
    ["ab\xc3", /not valid UTF-8 at byte offset 2/],
    ["\\b{foo}", /unrecognized special word boundary/],
    [`${"(".repeat(300)}a${")".repeat(300)}`, /nesting/],
    [`a${"*".repeat(2000)}`, /nest/],
  ];
  for (const [pattern, message] of ERRORS) {
    it(`rejects ${JSON.stringify(pattern.length > 40 ? `${pattern.slice(0, 40)}…` : pattern)}`, () => {
      assert.match(compileError(pattern), message);
    });
  }

  it("enforces the size limit on counted repetition", () => {
    assert.equal(compileError("a{1000}{1000}"), "compiled regex exceeds size limit");
    assert.equal(compileRegex("a{100}", { sizeLimit: 50 }).ok, false);
    assert.equal(compileRegex("a{10}", { sizeLimit: 50 }).ok, true);
    // Huge Unicode classes count against the limit while parsing, before the HIR gets built.
    assert.equal(compileError(`(?u)${"\\pL".repeat(3000)}`), "compiled regex exceeds size limit");
    assert.equal(compileRegex("(?u)\\pL{10}", { sizeLimit: 100 }).ok, false);
  });

  it("never throws on arbitrary bytes", () => {
    for (let seed = 0; seed < 2000; seed++) {
      let p = "";
      let x = seed * 2654435761;
      for (let k = 0; k < 8; k++) {
        x = (x * 1103515245 + 12345) >>> 0;
        p += "()[]{}|*+?^$\\.-,&~:abPp0123456789<>=!iux\xff\xc3"[x % 48];
      }
      const r = compileRegex(p);
      if (r.ok) r.value.test("ab(c)[d]{e}");
      else assert.equal(typeof r.message, "string");
    }
  });
});

describe("regex: replaceFirst", () => {
  function replace(pattern: string, input: string, template: string): string {
    const t = parseReplacement(template);
    if (!t.ok) assert.fail(t.message);
    return re(pattern).replaceFirst(input, t.value);
  }

  it("replaces only the first leftmost-first match", () => {
    assert.equal(replace("o", "foo boo", "0"), "f0o boo");
    assert.equal(replace("a|ab", "xab", "[${1}]"), "x[]b");
    assert.equal(replace("(a|ab)(c|bcd)", "abcd", "<${1}|${2}>"), "<a|bcd>");
  });

  it("expands capture references and $$", () => {
    assert.equal(
      replace("(\\w+)@(\\w+)\\.com", "mail joe@corp.com now", "${2} at ${1} $$"),
      "mail corp at joe $ now",
    );
    assert.equal(replace("^/(\\w+)/(\\d+)$", "/items/42", "/v2/${1}?id=${2}"), "/v2/items?id=42");
  });

  it("leaves the input unchanged when nothing matches", () => {
    assert.equal(replace("zzz", "abc", "x"), "abc");
  });

  it("handles empty matches and non-participating groups", () => {
    assert.equal(replace("x*", "abc", "-"), "-abc");
    assert.equal(replace("(a)|(b)", "b", "[${1}${2}]"), "[b]");
    assert.equal(replace("a", "a", "[${8}]"), "[]");
  });

  it("is greedy or lazy as written", () => {
    assert.equal(replace("a+", "caaat", "X"), "cXt");
    assert.equal(replace("a+?", "caaat", "X"), "cXaat");
    assert.equal(replace("<.*>", "<a><b>", "X"), "X");
    assert.equal(replace("<.*?>", "<a><b>", "X"), "X<b>");
  });

  it("works on raw bytes", () => {
    assert.equal(replace("\\xFF+", "a\xff\xffb", "${1}-"), "a-b");
  });

  it("finds the first (possibly empty) match where Rust does: looks", () => {
    // [pattern, haystack (UTF-8 encoded), first match as [start, end] or null]. Facts from the
    // Rust regex crate's behaviour for CRLF mode and the special word boundaries.
    const cases: [string, string, [number, number] | null][] = [
      ["(?mR)^[a-z]+$", "abc\r\ndef", [0, 3]],
      ["(?mR)^$", "abc\r\ndef\r\nxyz", null],
      ["(?mR)^$", "", [0, 0]],
      ["(?mR)^$", "\r\n", [0, 0]],
      ["(?mR)$", "abc\r\ndef", [3, 3]],
      ["(?mR)a^", "a\r\n", null],
      ["(?mR)\\n^", "a\r\nb", [2, 3]],
      ["(?mR)\\r^", "a\r\nb", null],
      ["(?mR)\\r^", "a\rb", [1, 2]],
      ["(?mR)$\\n", "a\r\nb", null],
      ["(?mR)$\\r", "a\r\nb", [1, 2]],
      ["(?R).", "\r\n\r\n", null],
      ["\\b{start}", " a ", [1, 1]],
      ["\\b{start}", "", null],
      ["\\b{start}", "𝛃b", [4, 4]],
      ["(?u)\\b{start}", "𝛃b", [0, 0]],
      ["\\b{end}", " a ", [2, 2]],
      ["\\b{end}", "𝛃", null],
      ["(?u)\\b{end}", "𝛃", [4, 4]],
      ["(?u)\\b{end}", "b𝛃", [5, 5]],
      ["\\b{start-half}", "ab", [0, 0]],
      ["\\b{end-half}", "ab", [2, 2]],
      ["\\b{end-half}", "b𝛃", [1, 1]],
      ["(?u)\\b{end-half}", "b𝛃", [5, 5]],
      ["(?u)\\b{start-half}", " 𝛃 ", [0, 0]],
      ["(?u)\\b{end-half}", "𝛃𐆀", [4, 4]],
      ["(?u)\\b{end-half}", "b𝛃", [5, 5]],
      ["(?u)\\B", "éa", [2, 2]],
      ["(?u)\\B", "", [0, 0]],
      ["(?u)\\B.\\B", "é", null],
    ];
    const mark = parseReplacement("|");
    assert.ok(mark.ok);
    // Next to invalid UTF-8, (?u)\B never holds; the ASCII \B does.
    assert.equal(re("(?u)\\B").test("\xff"), false);
    assert.equal(re("\\B").test("\xff"), true);
    for (const [pattern, haystack, span] of cases) {
      const input = bytes(haystack);
      const got = re(bytes(pattern)).replaceFirst(input, mark.value);
      const want = span === null ? input : `${input.slice(0, span[0])}|${input.slice(span[1])}`;
      assert.equal(got, want, `${pattern} on ${JSON.stringify(haystack)}`);
      assert.equal(re(bytes(pattern)).test(input), span !== null, `test: ${pattern}`);
    }
  });

  it("rejects invalid templates at parse time", () => {
    for (const bad of ["$", "$1", "${0}", "${9}", "${x}", "${1", "a$b"]) {
      const t = parseReplacement(bad);
      assert.equal(t.ok, false, bad);
      if (!t.ok) assert.match(t.message, /\$/);
    }
    assert.equal(parseReplacement("").ok, true);
    assert.equal(parseReplacement("$$${1}$$").ok, true);
  });
});
