// Property tests: whatever text arrives (random, or a valid expression mutated), parse returns a
// Result and never throws; whatever parses also compiles and executes without throwing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { format, Scheme } from "../src/index.ts";

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

const file = join(import.meta.dirname, "../spec/rules-cases.json");
const data = JSON.parse(readFileSync(file, "utf8")) as {
  scheme: unknown;
  cases: { expression: string; fields: Record<string, unknown> }[];
};
const { scheme, lists } = Scheme.fromJSON({ ...(data.scheme as object), functions: undefined });
const valid = data.cases.map((c) => c.expression).filter((e) => scheme.parse(e).ok);
const samples = data.cases.map((c) => c.fields);

/** Characters the grammar cares about, so random strings reach deep into the parser. */
const ALPHABET = [
  ..."abcdefnorstxy0123456789.:-_[]*(){}$\"'#\\rn!&|^~=<> \t\n,".split(""),
  "é",
  "😀",
];

function check(input: string): void {
  let r: ReturnType<Scheme["parse"]>;
  try {
    r = scheme.parse(input);
  } catch (e) {
    assert.fail(`parse threw on ${JSON.stringify(input)}: ${(e as Error).stack}`);
  }
  if (!r.ok) {
    assert.equal(typeof r.error.render(), "string");
    assert.ok(r.error.span.start >= 0 && r.error.span.start + r.error.span.length <= input.length);
    return;
  }
  // Whatever parses formats to text that parses back to the same tree.
  const text = format(r.value);
  const again = scheme.parse(text);
  if (!again.ok) assert.fail(`format(${JSON.stringify(input)}) = ${text}: ${again.error.render()}`);
  assert.deepEqual(shape(again.value.expr), shape(r.value.expr));
  const f = scheme.compileAst(r.value);
  for (const fields of samples.slice(0, 8)) {
    const ctx = scheme.context(lists);
    for (const [k, v] of Object.entries(fields)) ctx.setText(k, v);
    assert.equal(typeof f.execute(ctx), "boolean");
  }
}

test("random strings never make parse throw", () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...ALPHABET), { maxLength: 60 }), (chars) =>
      check(chars.join("")),
    ),
    { numRuns: 1000, seed: 1 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 80, unit: "grapheme" }), check), {
    numRuns: 300,
    seed: 2,
  });
});

test("mutated valid expressions never make parse, compile or execute throw", () => {
  const mutation = fc.record({
    base: fc.constantFrom(...valid),
    at: fc.nat(),
    cut: fc.nat({ max: 6 }),
    insert: fc.array(fc.constantFrom(...ALPHABET), { maxLength: 6 }),
  });
  fc.assert(
    fc.property(mutation, ({ base, at, cut, insert }) => {
      const i = at % (base.length + 1);
      check(base.slice(0, i) + insert.join("") + base.slice(i + cut));
    }),
    { numRuns: 1000, seed: 3 },
  );
});

test("pathological inputs end with an error, not a hang or a stack overflow", () => {
  for (const input of [
    "(".repeat(4000),
    "not ".repeat(1000),
    `${"any(".repeat(1000)}`,
    `ssl${" and ssl".repeat(500)}`,
    `http.cookies${"[0]".repeat(1000)}`,
    `lower(${"lower(".repeat(1000)}`,
    `"${"\\".repeat(3000)}`,
    `http.host matches "${"(a*)*".repeat(100)}$"`,
  ]) {
    check(input);
  }
});

/** Valid expressions from a small grammar over the conformance scheme. */
const comparisonArb = fc.oneof(
  fc
    .tuple(
      fc.constantFrom("http.host", "dns.fqdn", "lower(http.host)"),
      fc.constantFrom("==", "!=", "<", "ge", "contains", "matches", "wildcard", "strict wildcard"),
      fc.string({ maxLength: 6, unit: fc.constantFrom("a", "b", ".", "*", "é", '"') }),
    )
    .filter(([, op, s]) => !(op.includes("wildcard") && s.includes("**")))
    .map(([f, op, s]) =>
      op === "matches"
        ? `${f} matches r#"${s.replace(/[*]/g, "x")}"#`
        : `${f} ${op} "${s.replace(/"/g, '\\"')}"`,
    ),
  fc
    .tuple(
      fc.constantFrom("tcp.port", "net.dst.port"),
      fc.constantFrom("==", "<=", ">", "&"),
      fc.integer({ min: -5, max: 70000 }),
    )
    .map(([f, op, n]) => `${f} ${op} ${op === "&" ? Math.abs(n) : n}`),
  fc
    .tuple(
      fc.constantFrom("tcp.port"),
      fc.array(fc.tuple(fc.nat(100), fc.nat(5)), { maxLength: 4 }),
    )
    .map(([f, rs]) => `${f} in {${rs.map(([a, d]) => (d ? `${a}..${a + d}` : `${a}`)).join(" ")}}`),
  fc
    .tuple(
      fc.constantFrom("ip.addr", "net.dst.ip"),
      fc.constantFrom("10.0.0.0/8", "192.0.2.1", "::1", "2001:db8::/32", "1.2.3.4..1.2.3.9"),
    )
    .map(([f, v]) => `${f} in {${v}}`),
  fc.constantFrom(
    "ssl",
    "ip.addr in $office_network",
    "http.host in $blocked_hosts",
    "tcp.port in $ports",
  ),
  fc
    .tuple(
      fc.constantFrom("any", "all"),
      fc.constantFrom("http.cookies", "dns.domains"),
      fc.constantFrom("==", "contains", "!="),
      fc.constantFrom("a", "example.com", ""),
    )
    .map(([q, f, op, s]) => `${q}(${f}[*] ${op} "${s}")`),
);
const exprArb: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    comparisonArb,
    fc
      .tuple(tie("e"), fc.constantFrom("and", "or", "xor", "&&", "||", "^^"), tie("e"))
      .map(([a, op, b]) => `${a} ${op} ${b}`),
    tie("e").map((e) => `not (${e})`),
    tie("e").map((e) => `(${e})`),
  ),
})).e;

test("generated valid expressions parse, format round-trip and execute", () => {
  fc.assert(
    fc.property(exprArb, (expr) => {
      const r = scheme.parse(expr);
      if (!r.ok) assert.fail(`${expr}: ${r.error.render()}`);
      check(expr);
    }),
    { numRuns: 500, seed: 4 },
  );
});
