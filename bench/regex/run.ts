/**
 * Regex engine benchmark: ns per test() for realistic gateway patterns, ours vs re2js (the
 * maintained JavaScript port of RE2, the linear-time alternative we would otherwise use) and
 * JS RegExp (backtracking, shown for reference only: it is not safe on hostile patterns). All
 * three run the same pattern on the same inputs in the same process, one after the other.
 * Run: node bench/regex/run.ts
 */
import { RE2JS } from "re2js";
import { compileRegex } from "../../packages/rules/src/regex/index.ts";

interface Case {
  name: string;
  pattern: string;
  /** JS equivalent (byte-mode semantics on ASCII inputs). */
  js: RegExp;
  inputs: { label: string; value: string; expected: boolean }[];
}

const HOSTS =
  "(?:^|\\.)(?:facebook\\.com|fbcdn\\.net|instagram\\.com|tiktok\\.com|twitter\\.com|x\\.com|reddit\\.com|youtube\\.com|netflix\\.com|twitch\\.tv)$";

const CASES: Case[] = [
  {
    name: "domain suffix",
    pattern: "(^|\\.)example\\.com$",
    js: /(^|\.)example\.com$/,
    inputs: [
      { label: "match", value: "static.assets.cdn.example.com", expected: true },
      { label: "no match", value: "static.assets.cdn.example.org.evil", expected: false },
    ],
  },
  {
    name: "googlebot UA",
    pattern: "(?i)googlebot/\\d+\\.\\d+",
    js: /googlebot\/\d+\.\d+/i,
    inputs: [
      {
        label: "match",
        value: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        expected: true,
      },
      {
        label: "no match",
        value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
        expected: false,
      },
    ],
  },
  {
    name: "10-host alternation",
    pattern: HOSTS,
    js: new RegExp(HOSTS.replaceAll("(?:^|", "(?:^|")),
    inputs: [
      { label: "match", value: "video-edge-1.iad.twitch.tv", expected: true },
      { label: "no match", value: "updates.downloads.example-cdn.net", expected: false },
    ],
  },
  {
    name: "email domain",
    pattern: ".*@company\\.com$",
    js: /.*@company\.com$/,
    inputs: [
      { label: "match", value: "first.last+tag@company.com", expected: true },
      { label: "no match", value: "first.last+tag@company.co.uk", expected: false },
    ],
  },
];

function nsPerOp(fn: (s: string) => boolean, input: string, expected: boolean): number {
  // Warm up (JIT, lazy DFA states), then take the best of a few timed rounds.
  for (let i = 0; i < 20000; i++) if (fn(input) !== expected) throw new Error("wrong result");
  let best = Number.POSITIVE_INFINITY;
  const iterations = 100000;
  for (let round = 0; round < 9; round++) {
    let sink = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (fn(input)) sink++;
    const t1 = process.hrtime.bigint();
    if (sink === -1) console.log(sink);
    best = Math.min(best, Number(t1 - t0) / iterations);
  }
  return best;
}

const rows: string[][] = [
  [
    "pattern",
    "input",
    "bytes",
    "ours ns/test",
    "re2js ns/test",
    "re2js / ours",
    "JS RegExp ns/test",
    "ours / JS",
  ],
];
const re2jsRatios: number[] = [];
/** 3.1×, 16×, 104×. */
const times = (x: number) => `${x >= 10 ? x.toFixed(0) : x.toPrecision(2)}×`;
for (const c of CASES) {
  const compiled = compileRegex(c.pattern);
  if (!compiled.ok) throw new Error(`${c.pattern}: ${compiled.message}`);
  const ours = compiled.value;
  // re2js takes RE2 syntax, which our patterns stay within ((?i), \d, (?:…), ^, $).
  const re2 = RE2JS.compile(c.pattern);
  for (const input of c.inputs) {
    const a = nsPerOp((s) => ours.test(s), input.value, input.expected);
    const r = nsPerOp((s) => re2.test(s), input.value, input.expected);
    const b = nsPerOp((s) => c.js.test(s), input.value, input.expected);
    re2jsRatios.push(r / a);
    rows.push([
      c.name,
      input.label,
      String(input.value.length),
      a.toFixed(0),
      r.toFixed(0),
      times(r / a),
      b.toFixed(0),
      `${(a / b).toPrecision(2)}×`,
    ]);
  }
}

// Hostile pattern: ours stays linear; JS RegExp would take exponential time (not run here).
const evil = compileRegex("(a+)+$");
if (!evil.ok) throw new Error(evil.message);
const evilInput = `${"a".repeat(30)}!`;
const evilNs = nsPerOp((s) => evil.value.test(s), evilInput, false);
const evilRe2 = RE2JS.compile("(a+)+$");
const evilRe2Ns = nsPerOp((s) => evilRe2.test(s), evilInput, false);
re2jsRatios.push(evilRe2Ns / evilNs);
rows.push([
  "(a+)+$ (hostile)",
  "30×a + !",
  String(evilInput.length),
  evilNs.toFixed(0),
  evilRe2Ns.toFixed(0),
  times(evilRe2Ns / evilNs),
  "(exponential)",
  "",
]);

const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
for (const [i, r] of rows.entries()) {
  console.log(`| ${r.map((cell, j) => cell.padEnd(widths[j] ?? 0)).join(" | ")} |`);
  if (i === 0) console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
}
console.log(
  `\nre2js / ours: ${times(Math.min(...re2jsRatios))}–${times(Math.max(...re2jsRatios))} (higher = ours faster)`,
);
console.log(`node ${process.version}, ${process.arch}`);
