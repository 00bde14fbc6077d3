import assert from "node:assert/strict";
import { test } from "node:test";
import type { Expr } from "./ast.ts";
import { Scheme } from "./scheme.ts";

const scheme = new Scheme({
  fields: {
    t: "Bool",
    f: "Bool",
    ssl: "Bool",
    arr: "Array<Bool>",
    aab: "Array<Array<Bool>>",
    "http.host": "Bytes",
    "http.cookies": "Array<Bytes>",
    "http.headers": "Map<Bytes>",
    "tcp.port": "Int",
    "ip.addr": "Ip",
    "identity.groups.name": "Array<Bytes>",
  },
  aliases: { "identity.groups[*].name": "identity.groups.name[*]" },
});

/** A compact tree: and[..], or[..], xor[..], not x, (x), leaves as their field name. */
function tree(e: Expr): string {
  switch (e.kind) {
    case "combine":
      return `${e.op}[${e.items.map(tree).join(",")}]`;
    case "not":
      return `not ${tree(e.arg)}`;
    case "paren":
      return `(${tree(e.expr)})`;
    case "is_true":
      return e.value.base.name;
    case "compare":
      return `${e.lhs.base.name}${e.cmp.op}`;
    case "quantifier":
      return `${e.op}(…)`;
  }
}

function parseTree(expr: string): string {
  const r = scheme.parse(expr);
  if (!r.ok) assert.fail(r.error.render());
  return tree(r.value.expr);
}

function error(expr: string, s: Scheme = scheme) {
  const r = s.parse(expr);
  if (r.ok) assert.fail(`expected an error for ${expr}`);
  return r.error;
}

test("precedence: the wirefilter test tree of spec §1.5", () => {
  assert.equal(
    parseTree("t or t && t and t or t ^^ t and t || t"),
    "or[t,and[t,t,t],xor[t,and[t,t]],t]",
  );
});

test("precedence: not binds to one simple expression", () => {
  assert.equal(parseTree("not t && f"), "and[not t,f]");
  assert.equal(parseTree("not (t and f)"), "not (and[t,f])");
  assert.equal(parseTree("!t || f"), "or[not t,f]");
  assert.equal(parseTree("t xor f xor t"), "xor[t,f,t]");
  assert.equal(parseTree("t ^^ f and t"), "xor[t,and[f,t]]");
  assert.equal(parseTree("t and f or t and f"), "or[and[t,f],and[t,f]]");
});

test("operators need no spaces and keywords have no word boundary (Decision 1)", () => {
  assert.equal(parseTree("tcp.port==80&&ssl"), "and[tcp.porteq,ssl]");
  assert.equal(parseTree("tcp.port eq80"), "tcp.porteq");
  assert.equal(parseTree("t andt"), "and[t,t]");
});

test("nesting: 128 levels parse, 129 do not", () => {
  assert.equal(scheme.parse(`${"(".repeat(128)}ssl${")".repeat(128)}`).ok, true);
  const e = error(`${"(".repeat(129)}ssl${")".repeat(129)}`);
  assert.equal(e.kind, "NestingLimitExceeded");
  assert.equal(e.message, "maximum nesting depth exceeded (limit: 128)");
  assert.equal(error(`${"not ".repeat(200)}ssl`).kind, "NestingLimitExceeded");
  assert.equal(
    error(`${"lower(".repeat(200)}http.host${")".repeat(200)} == "a"`).kind,
    "NestingLimitExceeded",
  );
  const deep = error("(".repeat(100_000));
  assert.equal(deep.kind, "ExpressionTooLong");
});

test("the nesting limit and expression length are scheme options", () => {
  const small = new Scheme({ fields: { ssl: "Bool" }, maxNesting: 2, maxLength: 20 });
  assert.equal(small.parse("((ssl))").ok, true);
  assert.equal(error("(((ssl)))", small).kind, "NestingLimitExceeded");
  const long = error("ssl and ssl and ssl and ssl", small);
  assert.equal(long.kind, "ExpressionTooLong");
  assert.equal(long.message, "expression is too long: 27 characters, the limit is 20");
});

test("error rendering follows wirefilter's Display", () => {
  assert.equal(error("xyz").render(), "Filter parsing error (1:1):\nxyz\n^^^ unknown identifier");
  assert.equal(
    error("arr and arr").render(),
    "Filter parsing error (1:12):\narr and arr\n           ^ expected value of type Bool, but got Array<Bool>",
  );
  assert.equal(
    error("ssl in {0}").render(),
    "Filter parsing error (1:4):\nssl in {0}\n   ^^^^^^^ unrecognised input",
  );
  const multi = error('ssl and\nhttp.host == "a\\qb"');
  assert.equal(multi.line, 2);
  assert.equal(multi.column, 16);
  assert.equal(
    multi.render(),
    'Filter parsing error (2:16):\nhttp.host == "a\\qb"\n               ^^ expected ", xHH or OOO after \\',
  );
  assert.deepEqual(multi.toJSON(), {
    kind: "InvalidCharacterEscape",
    message: 'expected ", xHH or OOO after \\',
    span: [23, 2],
  });
});

test("spans are UTF-16 code units of the whole expression", () => {
  const e = error('http.host == "é" and nope');
  assert.equal(e.kind, "UnknownIdentifier");
  assert.deepEqual(e.span, { start: 21, length: 4 });
  const lead = error("   xyz   ");
  assert.deepEqual(lead.span, { start: 3, length: 3 });
});

test("error kinds and messages of spec §2.3", () => {
  const cases: [string, string, string][] = [
    ["", "ExpectedName", "expected identifier character"],
    ["(ssl", "ExpectedLiteral", 'expected literal ")"'],
    ["tcp.port EQ 80", "ExpectedName", "expected ComparisonOp"],
    [
      'http.cookies == "two"',
      "UnsupportedOp",
      "cannot perform this operation on type Array<Bytes>",
    ],
    ['tcp.port matches "8.*"', "UnsupportedOp", "cannot perform this operation on type Int"],
    ['http.host[0] == "a"', "InvalidIndexAccess", "cannot access index [0] for type Bytes"],
    [
      'http.cookies["a"] == "x"',
      "InvalidIndexAccess",
      'cannot access index ["a"] for type Array<Bytes>',
    ],
    [
      'http.cookies[-1] == "x"',
      "ExpectedLiteral",
      'expected literal "expected positive integer as index"',
    ],
    [
      'http.cookies[a] == "x"',
      "ExpectedLiteral",
      'expected literal "expected quoted utf8 string or positive integer"',
    ],
    ['http.cookies[0 == "x"', "ExpectedLiteral", 'expected literal "]"'],
    ["any(ssl)", "TypeMismatch", "expected value of type Array<Bool>, but got Bool"],
    ["ssl and arr", "TypeMismatch", "expected value of type Bool, but got Array<Bool>"],
    ['lower() == "x"', "InvalidArgumentsCount", "invalid number of arguments: expected 1"],
    [
      'lower(http.host, http.host) == "x"',
      "InvalidArgumentsCount",
      "invalid number of arguments: expected 1",
    ],
    [
      'lower(tcp.port) == "x"',
      "InvalidArgumentType",
      "invalid type of argument #0: expected value of type Bytes, but got Int",
    ],
    [
      'starts_with("/blog", "/b")',
      "InvalidArgumentKind",
      "invalid kind of argument #0: expected argument of kind Field, but got Literal",
    ],
    [
      "starts_with(http.host, http.host)",
      "InvalidArgumentKind",
      "invalid kind of argument #1: expected argument of kind Literal, but got Field",
    ],
    [
      'concat("a", http.cookies[*]) == "x"',
      "InvalidMapEachAccess",
      "invalid use of map each access operator",
    ],
    [
      'url_decode(http.host, "x") == "a"',
      "InvalidArgumentValue",
      'invalid value of argument #1: unknown option "x" (expected "r" or "u")',
    ],
    ['http.host wildcard "a**b"', "ParseWildcard", "wildcard contains a double star"],
    ['http.host in {"a" "b"', "EOF", "unrecognised input"],
    ["tcp.port in {80 443", "ExpectedName", "expected digit"],
    ["tcp.port in {80, 443}", "ExpectedName", "expected digit"],
    ["ip.addr in {10.0.0.1", "ExpectedName", "expected IP address character"],
    ["tcp.port in 80", "ExpectedLiteral", 'expected literal "{"'],
    ["ip.addr in {10.0.0.0..::1}", "IncompatibleRangeBounds", "incompatible range bounds"],
    ["http.host in $Office", "InvalidListName", 'invalid list name "O"'],
    ["ssl AND ssl", "EOF", "unrecognised input"],
    ["all(http.cookies[*])", "TypeMismatch", "expected value of type Array<Bool>, but got Bytes"],
    ["arr[*]", "TypeMismatch", "expected value of type Bool, but got Array<Bool>"],
    ["aab[*]", "UnsupportedOp", "cannot perform this operation on type Array<Array<Bool>>"],
  ];
  for (const [expr, kind, message] of cases) {
    const e = error(expr);
    assert.equal(e.kind, kind, `${expr}: ${e.render()}`);
    assert.equal(e.message, message, expr);
  }
});

test("a regex that does not compile is ParseRegex spanning the pattern text", () => {
  const e = error('http.host matches "("');
  assert.equal(e.kind, "ParseRegex");
  assert.deepEqual(e.span, { start: 19, length: 1 });
  assert.equal(error('http.host matches "(?<=a)b"').kind, "ParseRegex");
  assert.equal(error('http.host matches "(a)\\1"').kind, "ParseRegex");
});

test("quantifier arguments: one comparison; wrap or-expressions in parentheses", () => {
  assert.equal(
    error('any(http.cookies[*] == "x" or http.cookies[*] == "y")').kind,
    "ExpectedLiteral",
  );
  assert.equal(scheme.parse('any((http.cookies[*] == "x" or http.cookies[*] == "y"))').ok, true);
  assert.equal(scheme.parse("any(arr)").ok, true);
  assert.equal(scheme.parse("any (arr)").ok, true);
  assert.equal(error('any("x")').kind, "TypeMismatch");
});

test("function-argument heuristics: literals of every kind", () => {
  assert.equal(scheme.parse('concat(http.host, "a", r"b", 6f:70) == "xabop"').ok, true);
  // wirefilter tries an Int before a byte string, so 63:64 reads as the Int 63
  assert.equal(error('concat(http.host, 63:64) == "x"').kind, "InvalidArgumentType");
  assert.equal(error('lower(http.host http.host) == "x"').kind, "ExpectedLiteral");
  assert.equal(error("lower(http.host").message, 'expected literal ")"');
  assert.equal(error("concat(http.host, zz:zz)").kind, "UnknownIdentifier");
  assert.equal(error("concat(http.host, 0g)").kind, "UnknownIdentifier");
  assert.equal(error("concat(http.host, :-)").kind, "EOF");
  assert.equal(error('concat(http.host, 10) == "x"').kind, "InvalidArgumentType");
  assert.equal(error('concat(http.host, 10.0.0.1) == "x"').kind, "InvalidArgumentType");
  assert.equal(error('concat(0, 0) == "x"').kind, "InvalidArgumentType");
  assert.equal(error('to_string(ssl and ssl) == "x"').kind, "ExpectedLiteral"); // one expression per argument
  assert.equal(scheme.parse('to_string((ssl and ssl)) == "true"').ok, true);
  assert.equal(error('lower(nope) == "x"').kind, "UnknownIdentifier");
});

test("a bare map-each comparison is a TypeMismatch unless implicitAny", () => {
  assert.equal(error('http.cookies[*] == "two"').kind, "TypeMismatch");
  const r = scheme.parse('http.cookies[*] == "two"', { implicitAny: true });
  assert.equal(r.ok, true);
  if (r.ok) assert.equal(r.value.expr.kind, "quantifier");
});

test("the identity.groups[*].name alias (Decision 4)", () => {
  const r = scheme.parse('any(identity.groups[*].name in {"finance"})');
  if (!r.ok) assert.fail(r.error.render());
  assert.deepEqual(r.value.fields, ["identity.groups.name"]);
});

test("a filter reports the fields and lists it reads", () => {
  const r = scheme.parse(
    "ip.addr in $office and (http.host in $bad or tcp.port in $ports) and ssl",
  );
  if (!r.ok) assert.fail(r.error.render());
  assert.deepEqual(r.value.fields, ["http.host", "ip.addr", "ssl", "tcp.port"]);
  assert.deepEqual(
    r.value.lists.map((l) => [l.name, l.type, l.span.start, l.span.length]),
    [
      ["office", "Ip", 11, 7],
      ["bad", "Bytes", 37, 4],
      ["ports", "Int", 57, 6],
    ],
  );
});

test("an invalid scheme definition throws a plain Error", () => {
  assert.throws(() => new Scheme({ fields: { a: "Strng" } }), /invalid type/);
  assert.throws(() => new Scheme({ fields: { a: "Array<Int" } }), /invalid type/);
  assert.throws(() => new Scheme({ fields: { "a b": "Int" } }), /invalid field name/);
  assert.throws(() => new Scheme({ fields: {}, functions: ["nope"] }), /unknown function/);
  assert.throws(() => new Scheme({ fields: { a: "Int" }, aliases: { x: "b[*]" } }), /alias/);
});

test("functions not enabled by the scheme are unknown identifiers", () => {
  const s = new Scheme({ fields: { h: "Bytes" }, functions: ["lower"] });
  assert.equal(s.parse('lower(h) == "a"').ok, true);
  const e = s.parse('upper(h) == "A"');
  assert.equal(e.ok ? "" : e.error.kind, "UnknownIdentifier");
  assert.deepEqual(s.functions, ["lower"]);
  assert.deepEqual(s.fields, ["h"]);
  assert.deepEqual(s.fieldType("h"), { kind: "Bytes" });
  assert.equal(s.fieldType("nope"), undefined);
});

test("nesting errors point at the construct that went one level too deep", () => {
  const s = new Scheme({ fields: { h: "Bytes", b: "Array<Bool>" }, maxNesting: 2 });
  const call = error('lower ( lower ( lower ( h ) ) ) == "a"', s);
  assert.equal(call.kind, "NestingLimitExceeded");
  assert.equal(call.span.start, 22); // the third "(" — wirefilter's span runs to the end
  const paren = error("any ( ( ( b or b ) ) )", s);
  assert.equal(paren.kind, "NestingLimitExceeded");
});

test("a Bool element under [*] is an is-true test usable inside parentheses", () => {
  const s = new Scheme({ fields: { b: "Array<Bool>" } });
  const f = s.compile("any((b[*])) and not all((b[*]))");
  if (!f.ok) assert.fail(f.error.render());
  assert.equal(f.value.execute(s.context().set("b", [false, true])), true);
  assert.equal(f.value.execute(s.context().set("b", [true])), false);
  assert.equal(f.value.execute(s.context()), false); // missing: any → false
});

test("a logical type mismatch is reported where the parser stopped", () => {
  const e = error("ssl and arr or ssl");
  assert.equal(e.kind, "TypeMismatch");
  assert.equal(e.span.start, 15); // after the next operator, as wirefilter reports it
});

test("a filter reports the keys it reads of a Map field, or null when it may read every key", () => {
  const keys = (src: string) => {
    const r = scheme.parse(src);
    if (!r.ok) assert.fail(r.error.render());
    return [...r.value.mapKeys].map(([f, k]) => [f, k === null ? null : [...k].sort()]);
  };
  assert.deepEqual(keys('http.host == "a"'), []);
  assert.deepEqual(keys('http.headers["b"] == "1" or lower(http.headers["a"]) == "x"'), [
    ["http.headers", ["a", "b"]],
  ]);
  assert.deepEqual(keys('http.headers["a"] == "1" or any(http.headers[*] == "x")'), [
    ["http.headers", null],
  ]);
  assert.deepEqual(keys('any(http.headers[*] == "x") or http.headers["a"] == "1"'), [
    ["http.headers", null],
  ]);
  // The compiled filter carries the same.
  const c = scheme.compile('http.headers["k"] == "v"');
  if (!c.ok) assert.fail(c.error.render());
  assert.deepEqual([...(c.value.mapKeys.get("http.headers") ?? [])], ["k"]);
});
