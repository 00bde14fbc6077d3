// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${N} is the replacement syntax of the rules language
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { format } from "./format.ts";
import { Scheme } from "./scheme.ts";

const file = join(import.meta.dirname, "../spec/rules-cases.json");
const data = JSON.parse(readFileSync(file, "utf8")) as {
  scheme: unknown;
  cases: { id: number; expression: string }[];
};
const { scheme } = Scheme.fromJSON({
  ...(data.scheme as object),
  functions: undefined, // every built-in, so the extra expressions below parse too
});

/** The AST without spans (spans move when the text is reformatted). */
function shape(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(shape);
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) if (k !== "span") out[k] = shape(v);
    return out;
  }
  return node;
}

function roundTrip(expr: string): string {
  const a = scheme.parse(expr);
  if (!a.ok) assert.fail(`${expr}: ${a.error.render()}`);
  const text = format(a.value);
  const b = scheme.parse(text);
  if (!b.ok) assert.fail(`format(${expr}) = ${text}: ${b.error.render()}`);
  assert.deepEqual(shape(b.value.expr), shape(a.value.expr), `${expr} → ${text}`);
  assert.equal(format(b.value), text, "format is idempotent");
  return text;
}

test("parse(format(ast)) equals ast for every valid conformance expression", () => {
  let n = 0;
  for (const c of data.cases) {
    if (!scheme.parse(c.expression).ok) continue;
    roundTrip(c.expression);
    n++;
  }
  assert.ok(n > 100, `only ${n} valid expressions`);
});

test("format round-trips literals of every form", () => {
  const extra = [
    'http.host == "a\\"b\\\\c\\x00\\xff"',
    'http.host == "é😀"',
    'http.host matches r#"a"b"#',
    'http.host matches "[\\"]\\d"',
    'http.host matches r##"x"#y"##',
    "tcp.port == 9223372036854775807",
    "tcp.port == -9223372036854775808",
    "tcp.port in {0x10 010 1..2}",
    "ip.addr in {10.0.0.0/8 ::ffff:1.2.3.4 1.2.3.4..1.2.3.5 2001:db8::/32 ::}",
    'http.headers["x\\"y"] == "1"',
    "http.cookies[4294967295] == 61:62",
    'http.host strict wildcard "a\\\\*b"',
    "not not (ssl) ^^ ssl || ssl && ssl",
    'any((http.cookies[*] == "a" or http.cookies[*] == "b"))',
    'substring(http.host, -2, 5) == "x" and to_string(tcp.port) == "1"',
    'regex_replace(http.host, "^(a)", "${1}$$") == "a"',
    'wildcard_replace(http.host, "*.com", "${1}", "s") == "a"',
  ];
  for (const e of extra) roundTrip(e);
  assert.equal(roundTrip("ssl&&tcp.port==80||not ssl"), "ssl and tcp.port == 80 or not ssl");
  assert.equal(roundTrip('http.host matches "a\\"b"'), 'http.host matches r#"a"b"#');
});

test("scheme.format returns the canonical text or the parse error", () => {
  assert.deepEqual(scheme.format("tcp.port eq 0x50"), { ok: true, value: "tcp.port == 80" });
  const bad = scheme.format("tcp.port eq");
  assert.equal(bad.ok, false);
});
