import assert from "node:assert/strict";
import { test } from "node:test";
import { ParseFailure } from "./errors.ts";
import {
  lexByteString,
  lexBytesLiteral,
  lexInt,
  lexIntRange,
  lexIpAddr,
  lexIpRange,
  lexListName,
  lexQuotedString,
  lexRawString,
  lexRegexLiteral,
  skipSpace,
} from "./lexer.ts";

function failure(fn: () => unknown): ParseFailure {
  try {
    fn();
  } catch (e) {
    if (e instanceof ParseFailure) return e;
    throw e;
  }
  assert.fail("expected a ParseFailure");
}

test("whitespace is space, CR and LF only (TAB is not)", () => {
  assert.equal(skipSpace(" \r\n x", 0), 4);
  assert.equal(skipSpace("\tx", 0), 0);
});

test("quoted strings: the four escapes, UTF-8 output, errors", () => {
  assert.deepEqual(lexQuotedString('"s\\\\t\\"r\\x0A\\000t"', 0), {
    value: 's\\t"r\n\0t',
    end: 18,
  });
  assert.equal(lexQuotedString('"\\x41\\102C"', 0).value, "ABC");
  assert.equal(lexQuotedString('"\\xFF"', 0).value, "\xff");
  assert.equal(lexQuotedString('"é"', 0).value, "\xc3\xa9");
  assert.equal(lexQuotedString('"😀"', 0).value, "\xf0\x9f\x98\x80");
  assert.equal(failure(() => lexQuotedString('"a\\nb"', 0)).kind, "InvalidCharacterEscape");
  assert.equal(failure(() => lexQuotedString('"a\\.b"', 0)).kind, "InvalidCharacterEscape");
  assert.equal(failure(() => lexQuotedString('"\\xZZ"', 0)).kind, "ParseInt");
  assert.equal(failure(() => lexQuotedString('"\\400"', 0)).kind, "ParseInt");
  assert.equal(failure(() => lexQuotedString('"\\09a"', 0)).kind, "ParseInt");
  assert.equal(failure(() => lexQuotedString('"abc', 0)).kind, "MissingEndingQuote");
});

test("raw strings: hashes, no escapes, first matching terminator", () => {
  assert.deepEqual(lexRawString('r"a"', 0), { value: "a", end: 4 });
  assert.deepEqual(lexRawString('r#"a"b"#', 0), { value: 'a"b', end: 8 });
  assert.deepEqual(lexRawString('r##"a"#b"##', 0), { value: 'a"#b', end: 11 });
  assert.deepEqual(lexRawString('r#""a"""#', 0), { value: '"a""', end: 9 });
  assert.equal(lexRawString('r"\\x41"', 0).value, "\\x41");
  // r#"ab"## consumes exactly one '#'
  assert.equal(lexRawString('r#"ab"##', 0).end, 7);
  assert.equal(failure(() => lexRawString('r#"abc"', 0)).kind, "MissingEndingQuote");
  assert.equal(
    failure(() => lexRawString(`r${"#".repeat(256)}"a"${"#".repeat(256)}`, 0)).kind,
    "InvalidRawStringHashCount",
  );
  assert.equal(lexRawString(`r${"#".repeat(255)}"a"${"#".repeat(255)}`, 0).value, "a");
});

test("byte strings: two or more bytes, mixed separators", () => {
  assert.equal(lexByteString("01:02:03", 0).value, "\x01\x02\x03");
  assert.equal(lexByteString("61-62.63", 0).value, "abc");
  assert.equal(lexBytesLiteral("6F:72:67", 0).value, "org");
  const lone = failure(() => lexByteString("01", 0));
  assert.equal(lone.kind, "ExpectedName");
  assert.equal(lone.message, "expected byte separator");
  assert.equal(failure(() => lexByteString("01:", 0)).kind, "CountMismatch");
  assert.equal(failure(() => lexByteString("xy:01", 0)).kind, "ParseInt");
  assert.equal(failure(() => lexBytesLiteral("", 0)).kind, "EOF");
  assert.equal(failure(() => lexBytesLiteral("rabc", 0)).message, 'expected " or #');
});

test("integers: decimal, hex, octal, i64 range", () => {
  assert.deepEqual(lexInt("80", 0), { value: 80, end: 2 });
  assert.equal(lexInt("-12", 0).value, -12);
  assert.equal(lexInt("0x1f5", 0).value, 501);
  assert.equal(lexInt("0123", 0).value, 83);
  assert.equal(lexInt("0", 0).value, 0);
  assert.deepEqual(lexInt("0xefg", 0), { value: 239, end: 4 });
  assert.equal(lexInt("9223372036854775807", 0).value, Number(9223372036854775807n));
  assert.equal(lexInt("-9223372036854775808", 0).value, Number(-9223372036854775808n));
  const big = failure(() => lexInt("9223372036854775808", 0));
  assert.equal(big.kind, "ParseInt");
  assert.equal(big.message, "number too large to fit in target type while parsing with radix 10");
  assert.equal(
    failure(() => lexInt("08", 0)).message,
    "invalid digit found in string while parsing with radix 8",
  );
  assert.equal(failure(() => lexInt("10fex", 0)).kind, "ParseInt");
  assert.equal(failure(() => lexInt("x", 0)).message, "expected digit");
  assert.equal(failure(() => lexInt("0xg", 0)).kind, "ExpectedName");
  assert.equal(lexInt("-012", 0).value, -12); // only decimals take a sign
  assert.deepEqual(lexInt("-0x10", 0), { value: 0, end: 2 });
});

test("integer ranges", () => {
  assert.deepEqual(lexIntRange("2082..2083", 0).value, { start: 2082, end: 2083, range: true });
  assert.deepEqual(lexIntRange("-20..-10", 0).value, { start: -20, end: -10, range: true });
  assert.deepEqual(lexIntRange("0123..0xef", 0).value, { start: 83, end: 239, range: true });
  assert.equal(failure(() => lexIntRange("10..0", 0)).kind, "IncompatibleRangeBounds");
});

test("IP addresses, CIDRs and ranges", () => {
  assert.deepEqual(lexIpAddr("127.0.0.1", 0).value, { family: 4, v4: 0x7f000001 });
  assert.deepEqual(lexIpAddr("::1", 0).value, { family: 6, w: [0, 0, 0, 1] });
  assert.deepEqual(lexIpAddr("::ffff:12.34.56.78", 0).value, {
    family: 6,
    w: [0, 0, 0xffff, 0x0c22384e],
  });
  assert.deepEqual(lexIpAddr("10:20:30:40:50:60:70:80", 0).value, {
    family: 6,
    w: [0x100020, 0x300040, 0x500060, 0x700080],
  });
  assert.equal(failure(() => lexIpAddr("10.0.0.0/8", 0)).kind, "ParseNetwork");
  assert.equal(failure(() => lexIpAddr("1.1.1.01", 0)).kind, "ParseNetwork");
  assert.equal(failure(() => lexIpAddr("666", 0)).kind, "ParseNetwork");
  assert.equal(failure(() => lexIpAddr(")", 0)).kind, "ExpectedName");
  const cidr = lexIpRange("12.34.56.0/24", 0).value;
  assert.equal(cidr.kind, "cidr");
  assert.equal(lexIpRange("::/10", 0).value.kind, "cidr");
  assert.equal(lexIpRange("10.0.0.0..10.0.255.255", 0).value.kind, "range");
  assert.equal(lexIpRange("::1..::2", 0).value.kind, "range");
  assert.equal(failure(() => lexIpRange("10.0.0.0/100", 0)).kind, "ParseNetwork");
  assert.equal(
    failure(() => lexIpRange("10.0.0.1/8", 0)).message,
    "host part of address was not zero",
  );
  assert.equal(failure(() => lexIpRange("10.0.0.0..::1", 0)).kind, "IncompatibleRangeBounds");
  assert.equal(failure(() => lexIpRange("10.0.0.9..10.0.0.1", 0)).kind, "IncompatibleRangeBounds");
});

test('regex literals: escapes pass through, \\" outside a class is a quote', () => {
  assert.equal(lexRegexLiteral('"a\\.b"', 0).value, "a\\.b");
  assert.equal(lexRegexLiteral('"\\d+"', 0).value, "\\d+");
  assert.equal(lexRegexLiteral('"\\\\"', 0).value, "\\\\");
  assert.equal(lexRegexLiteral('"a\\"b"', 0).value, 'a"b');
  assert.deepEqual(lexRegexLiteral('"["]"', 0), { value: '["]', end: 5 });
  assert.equal(lexRegexLiteral('"[\\"]"', 0).value, '[\\"]');
  // one flag, no nesting: the first ']' closes the class (wirefilter's scanner)
  assert.deepEqual(lexRegexLiteral('"[]"]"', 0), { value: "[]", end: 4 });
  assert.equal(lexRegexLiteral('"[a-z\\"\\]]+\\d{1,10}\\""', 0).value, '[a-z\\"\\]]+\\d{1,10}"');
  assert.equal(lexRegexLiteral('r"/api/login\\.aspx$"', 0).value, "/api/login\\.aspx$");
  assert.equal(failure(() => lexRegexLiteral('"abc', 0)).kind, "MissingEndingQuote");
  assert.equal(failure(() => lexRegexLiteral("61:62", 0)).kind, "ExpectedName");
});

test("list names", () => {
  assert.deepEqual(lexListName("$office_network", 0), { value: "office_network", end: 15 });
  assert.equal(lexListName("$hello.world", 0).value, "hello.world");
  assert.equal(
    lexListName("$01302951-49f9-47c9-a400-0297e60b6a10", 0).value,
    "01302951-49f9-47c9-a400-0297e60b6a10",
  );
  const upper = failure(() => lexListName("$Office", 0));
  assert.equal(upper.kind, "InvalidListName");
  assert.equal(upper.message, 'invalid list name "O"');
  assert.equal(failure(() => lexListName("$.a", 0)).kind, "InvalidListName");
  assert.equal(failure(() => lexListName("$a.", 0)).kind, "InvalidListName");
  assert.equal(failure(() => lexListName("$", 0)).kind, "InvalidListName");
  assert.deepEqual(lexListName("$abcD", 0), { value: "abc", end: 4 }); // the rest is left over
});
