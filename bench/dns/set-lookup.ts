// CPU per DomainSet lookup, in process: a set of --names realistic names (mixed-list.ts), then
// hasFrom for names it holds and for names it does not (a parent walk's usual miss), best and
// median of --rounds. `--root` loads the set code of another tree (say /work/before) to compare;
// alternate the two on the same machine.
// Run: node bench/dns/set-lookup.ts [--names 1000000] [--queries 500000] [--rounds 5] [--root DIR]

import { parseArgs } from "node:util";
import { name } from "./mixed-list.ts";

const { values } = parseArgs({
  options: {
    names: { type: "string", default: "1000000" },
    queries: { type: "string", default: "500000" },
    rounds: { type: "string", default: "5" },
    root: { type: "string" },
  },
});
const root = values.root ?? new URL("../..", import.meta.url).pathname;
const { DomainSetBuilder } = (await import(
  `${root}/packages/edge/src/lists/domain-set.ts`
)) as typeof import("../../packages/edge/src/lists/domain-set.ts");

const N = Number(values.names);
const Q = Number(values.queries);
const b = new DomainSetBuilder();
for (let i = 0; i < N; i++) b.addString(name(i));
const set = b.build();
// Held names, and names not held (the same shapes, other numbers) — both as the rules engine
// hands them: a binary string per name.
const hits: string[] = [];
const misses: string[] = [];
for (let i = 0; i < Q; i++) {
  hits.push(name((i * 7919) % N));
  misses.push(name(N + i));
}
function round(qs: string[]): number {
  const t = process.cpuUsage();
  let found = 0;
  for (const q of qs) if (set.hasFrom(q, 0)) found++;
  const c = process.cpuUsage(t);
  if (found !== (qs === hits ? Q : 0)) throw new Error(`found ${found}`);
  return ((c.user + c.system) * 1000) / qs.length;
}
const out: Record<string, { best: number; median: number }> = {};
for (const [k, qs] of [
  ["hit", hits],
  ["miss", misses],
] as const) {
  const ns: number[] = [];
  for (let r = 0; r < Number(values.rounds); r++) ns.push(round(qs));
  ns.sort((x, y) => x - y);
  out[k] = { best: Math.round(ns[0]!), median: Math.round(ns[ns.length >> 1]!) };
}
console.log(JSON.stringify({ root, names: N, bytes: set.byteLength, nsPerLookup: out }));
