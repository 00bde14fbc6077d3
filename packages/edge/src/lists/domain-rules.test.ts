import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDomainLine, ruleText } from "@gatehouse/contract/domain-rules";
import { type CompiledRule, compileRule, ListQueryState, RuleIndex } from "./domain-rules.ts";

// A list's regexes as one program (RuleIndex.seal) must find exactly the rule the per-rule
// loop finds: the same verdict and the same matched rule, for every name, query type and client.

/** Deterministic pseudo-random numbers (a test must not depend on the run). */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
}

const WORDS = ["ad", "ads", "trk", "track", "pixel", "cdn", "metrics", "tag", "beacon", "img"];

function regexLine(i: number, r: () => number): string {
  const w = WORDS[r() % WORDS.length] ?? "ad";
  const n = i % 997;
  const forms = [
    `/^${w}${n}[0-9]*\\./`,
    `/(^|\\.)${w}-?${n}\\./`,
    `/${w}[a-z]{0,3}${n}/`,
    `/\\.${w}${n}\\.example$/`,
    `/(?i)^${w.toUpperCase()}${n}/`,
    `/^(${w}|x${n})\\d+\\.[a-z]+\\.example$/`,
    `/\\b${w}${n % 50}\\b/`,
    `/(?u:\\b)${w}${n}(?u:\\b)/`,
    `/^[a-z]+${n}\\.(net|test)$/`,
    `/${w}(?P<id>${n})z/`,
  ];
  const re = forms[r() % forms.length] ?? "/x/";
  // Now and then an exception, `$important` or a modifier that is checked per rule.
  switch (r() % 12) {
    case 0:
      return `@@${re}`;
    case 1:
      return `${re}$important`;
    case 2:
      return `${re}$dnstype=AAAA`;
    case 3:
      return `${re}$client=192.0.2.0/24`;
    case 4:
      return `${re}$denyallow=ok.example`;
    case 5:
      return `@@${re}$important`;
    default:
      return re;
  }
}

/** Other rules that land among the general ones: free-standing wildcards, and some names. */
function otherLine(i: number, r: () => number): string {
  const w = WORDS[r() % WORDS.length] ?? "ad";
  switch (r() % 4) {
    case 0:
      return `${w}*${i % 31}.`;
    case 1:
      return `||${w}${i % 97}.example^$important`;
    case 2:
      return `*${w}*${i % 13}*`;
    default:
      return `|${w}${i % 89}.test^`;
  }
}

function queryName(r: () => number): string {
  const w = WORDS[r() % WORDS.length] ?? "ad";
  const n = r() % 997;
  const tail = ["example", "net", "test", "ok.example"][r() % 4];
  switch (r() % 6) {
    case 0:
      return `${w}${n}${r() % 100}.x.${tail}`;
    case 1:
      return `a.${w}${n}.${tail}`;
    case 2:
      return `${w}-${n}.cdn.${tail}`;
    case 3:
      return `${w.toUpperCase()}${n}.${tail}`.toLowerCase();
    case 4:
      return `host${r() % 100000}.plain.${tail}`;
    default:
      return `${w}x${n}z.${w}.${tail}`;
  }
}

const QUERIES = 6000;

test("regexes sealed into one program find the same rule as the per-rule loop", () => {
  const r = rng(16);
  const lines: string[] = [];
  for (let i = 0; i < 1200; i++) lines.push(i % 4 === 3 ? otherLine(i, r) : regexLine(i, r));
  const groups = ["block", "exception", "importantBlock", "importantException"] as const;
  const old: Record<string, RuleIndex> = {};
  const sealed: Record<string, RuleIndex> = {};
  for (const g of groups) {
    old[g] = new RuleIndex();
    sealed[g] = new RuleIndex();
  }
  let regexes = 0;
  for (const line of lines) {
    const parsed = parseDomainLine(line, "adblock");
    if (parsed.kind !== "rule") continue;
    const { rule } = parsed;
    const c = compileRule(rule);
    assert.notEqual(typeof c, "string", `${line}: ${String(c)}`);
    const g = rule.exception
      ? rule.important
        ? "importantException"
        : "exception"
      : rule.important
        ? "importantBlock"
        : "block";
    if (rule.pattern.kind === "regex") regexes++;
    old[g]?.add(c as CompiledRule);
    sealed[g]?.add(c as CompiledRule);
  }
  assert.ok(regexes > 600, `${regexes} regexes`);
  for (const g of groups) sealed[g]?.seal();
  const q = new ListQueryState();
  const clients = ["192.0.2.7", "198.51.100.1", undefined];
  const types: [number, string][] = [
    [1, "A"],
    [28, "AAAA"],
    [-1, ""],
  ];
  let matched = 0;
  for (let i = 0; i < QUERIES; i++) {
    const name = queryName(r);
    const [qtype, qtypeName] = types[i % 3] ?? [1, "A"];
    q.begin(qtype, qtypeName, clients[i % 3]);
    for (const g of groups) {
      const a = old[g]?.find(name, q);
      const b = sealed[g]?.find(name, q);
      assert.equal(
        b === undefined ? "" : ruleText(b.rule),
        a === undefined ? "" : ruleText(a.rule),
        `${g} ${name} ${qtypeName}`,
      );
      if (a !== undefined) matched++;
    }
    q.end();
  }
  // Both the common path (no regex matches) and the rare one (the per-rule finder) were taken.
  assert.ok(matched > 500, `${matched} matches`);
  assert.ok(matched < 4 * QUERIES - 1000, `${matched} matches`);
});

test("a union whose DFA cache thrashes is dropped for the per-rule loop, finding the same rules", () => {
  // Wide regexes on random names: the union's states do not fit its cache (cleared > 8 times
  // per 4,096 searches), so the group tries its regexes one by one again.
  const r = rng(7);
  const old = new RuleIndex();
  const sealed = new RuleIndex();
  for (let i = 0; i < 300; i++) {
    const parsed = parseDomainLine(`/${"abcdefghij"[i % 10]}[a-z0-9.]{6,14}h${i}/`, "adblock");
    assert.equal(parsed.kind, "rule");
    if (parsed.kind !== "rule") continue;
    const c = compileRule(parsed.rule);
    assert.notEqual(typeof c, "string");
    old.add(c as CompiledRule);
    sealed.add(c as CompiledRule);
  }
  sealed.seal();
  assert.equal(sealed.unionActive, true);
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789.";
  const q = new ListQueryState();
  let matched = 0;
  for (let i = 0; i < 30_000; i++) {
    let name = "";
    for (let k = 0; k < 30; k++) name += alphabet[r() % alphabet.length];
    q.begin(1, "A", undefined);
    const a = old.find(name, q);
    const b = sealed.find(name, q);
    q.end();
    assert.equal(b === undefined ? "" : ruleText(b.rule), a === undefined ? "" : ruleText(a.rule));
    if (a !== undefined) matched++;
  }
  assert.equal(sealed.unionActive, false);
  assert.ok(matched > 100, `${matched} matches`);
});
