/**
 * Regex engine benchmark: ns per test() for realistic gateway patterns, ours vs JS RegExp
 * (backtracking, shown for reference only: it is not safe on hostile patterns).
 * Run: node bench/regex/run.ts
 */
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
  ["pattern", "input", "bytes", "ours ns/test", "JS RegExp ns/test", "ratio"],
];
for (const c of CASES) {
  const compiled = compileRegex(c.pattern);
  if (!compiled.ok) throw new Error(`${c.pattern}: ${compiled.message}`);
  const ours = compiled.value;
  for (const input of c.inputs) {
    const a = nsPerOp((s) => ours.test(s), input.value, input.expected);
    const b = nsPerOp((s) => c.js.test(s), input.value, input.expected);
    rows.push([
      c.name,
      input.label,
      String(input.value.length),
      a.toFixed(0),
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
rows.push([
  "(a+)+$ (hostile)",
  "30×a + !",
  String(evilInput.length),
  evilNs.toFixed(0),
  "(exponential)",
  "",
]);

const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
for (const [i, r] of rows.entries()) {
  console.log(`| ${r.map((cell, j) => cell.padEnd(widths[j] ?? 0)).join(" | ")} |`);
  if (i === 0) console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
}
console.log(`\nnode ${process.version}, ${process.arch}`);
