// CPU per lookup of a 1M mixed adblock list (bench/dns/mixed-list.ts: 1,000 `/regex/` rules
// among the names, wildcards, exceptions and modifiers) for names it does not hold, in process.
// Run: node bench/dns/list-lookup.ts [--lines 1000000] [--queries 200000] [--rounds 3]
//        [--root /work/before] [--regex-hits]
// `--root` loads the list code of another tree (say the session-start one) to compare; run the
// two one after the other (or alternate them) on the same machine. Prints µs of process CPU
// (user + system, process.cpuUsage) per `any(dns.domains[*] in $l)`-style lookup (hasAny over
// the name and its parents), best and median of the rounds. `--regex-hits`: instead, 1,000
// names that the list's regexes match, one for each of its 1,000 regexes in turn (the rare path:
// the union matches, the group finds which rule).

import { parseArgs } from "node:util";
import { domainsOf } from "@gatehouse/contract";
import { mixedLine, name } from "./mixed-list.ts";

const { values } = parseArgs({
  options: {
    lines: { type: "string", default: "1000000" },
    queries: { type: "string", default: "200000" },
    rounds: { type: "string", default: "3" },
    root: { type: "string" },
    "regex-hits": { type: "boolean", default: false },
  },
});
const root = values.root ?? new URL("../..", import.meta.url).pathname;
const { buildListSet } = (await import(
  `${root}/packages/edge/src/lists/list-set.ts`
)) as typeof import("../../packages/edge/src/lists/list-set.ts");

const lines = Number(values.lines);
const items: string[] = [];
for (let i = 0; i < lines; i++) items.push(mixedLine(i));
const t0 = performance.now();
const set = buildListSet([{ id: "l", name: "l", type: "domain", items }]);
const buildMs = performance.now() - t0;
items.length = 0;
const list = set.domains("l");
if (list === undefined) throw new Error("the list did not build");

// Names the list does not hold (indexes past its lines), each with its parents.
const queries = Number(values.queries);
const names: string[][] = [];
if (values["regex-hits"])
  // mixed-list.ts: line 1000k + 8 is the regex `^trk${(1000k + 8) % 9973}[0-9]*\.`.
  for (let i = 0; i < queries; i++) {
    const k = i % 1000;
    names.push(domainsOf(`trk${(1000 * k + 8) % 9973}7.h${i}.example`));
  }
else for (let i = 0; i < queries; i++) names.push(domainsOf(name(lines + 1 + i)));

const perQuery: number[] = [];
let hits = 0;
for (let round = 0; round < Number(values.rounds); round++) {
  hits = 0;
  const c0 = process.cpuUsage();
  for (const n of names) {
    set.query.begin(1, "A", "192.0.2.10");
    if (list.hasAny(n)) hits++;
    set.query.end();
  }
  const c = process.cpuUsage(c0);
  perQuery.push((c.user + c.system) / queries);
  if (hits > 0 && !values["regex-hits"])
    console.error(`round ${round}: ${hits} of ${queries} names matched`);
}
const sorted = [...perQuery].sort((a, b) => a - b);
console.log(
  JSON.stringify({
    root,
    lines,
    queries,
    regexHits: values["regex-hits"],
    matched: hits,
    buildMs: Math.round(buildMs),
    usPerQuery: perQuery.map((x) => Number(x.toFixed(2))),
    best: Number((sorted[0] ?? 0).toFixed(2)),
    median: Number((sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(2)),
  }),
);
