// The DNS policy slow path in-process, without sockets: queries answered from the DNS cache but
// not from the packet cache (one policy reads `dns.src_ip`, which the packet cache cannot key
// on, so every query runs the pipeline: decode, identify, policies, cache, finalize, encode,
// record). An edge's DNS service with N DNS policies — a third list lookups
// (`any(dns.domains[*] in $listK)`, 1,000 names each), a third regex matches on `dns.fqdn`, a
// third `ends_with` — none matching the asked names, so every policy is evaluated for every
// query. Reports CPU nanoseconds per answer for N = 0, 10 and 100, the per-policy cost, and the
// fast path (the same 100 policies without the `dns.src_ip` one: packet-cache answers) as the
// anchor. Alternates short slices of each setup (medians) so a loaded machine slows all alike.
// `--compare DIR` adds the pipeline setups (no fast path) of another checkout (a `git archive`
// of the commit before a change, node_modules linked in), alternated with this one's.
// `--kinds` adds setups of 99 policies all of one kind (list, regex, ends_with): the per-policy
// cost of each kind, against the `dns.src_ip`-only setup (and the compared checkout's).
// Run: node bench/dns/policy-path.ts [--seconds 6] [--compare DIR] [--kinds]

import { fileURLToPath } from "node:url";
import { bundleOfEdgeConfig, type EdgeConfigFile } from "@gatehouse/contract";
import type { DnsService } from "../../packages/edge/src/dns/dns-service.ts";
import { a, buildQuery, startFakeUpstream } from "../../packages/edge/test/dns-helpers.ts";
import { generatedPolicies, type PolicyKind } from "./policies.ts";

const args = process.argv.slice(2);
const i = args.indexOf("--seconds");
const SECONDS = i === -1 ? 6 : Number(args[i + 1]);
const c = args.indexOf("--compare");
const COMPARE = c === -1 ? "" : (args[c + 1] ?? "");
const KINDS = args.includes("--kinds");
const NAMES = 2_000;

const zone = new Map<string, { answers: ReturnType<typeof a>[] }>();
for (let k = 0; k < NAMES; k++) {
  const name = `host${k}.bench.test`;
  zone.set(`${name}/1`, { answers: [a(name, `10.0.${(k >> 8) & 255}.${k & 255}`, 3600)] });
}
const up = await startFakeUpstream(zone);

function config(n: number, slow: boolean, kind: PolicyKind = "mixed"): EdgeConfigFile {
  const { lists, policies } = generatedPolicies(n, slow ? 2 : 1, kind);
  if (slow)
    policies.unshift({
      id: "src",
      name: "src",
      type: "dns",
      enabled: true,
      precedence: 1,
      expression: "dns.src_ip in {192.0.2.0/24}",
      action: "block",
    });
  return {
    resolver: {
      upstreams: [{ address: up.address }],
      rateLimit: false,
      dnssec: { validate: false },
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
    lists,
    policies,
  };
}

const queries: Buffer[] = [];
for (let k = 0; k < NAMES; k++) queries.push(buildQuery(`host${k}.bench.test`, { id: k & 0xffff }));
const client = { transport: "udp", ip: "127.0.0.1", port: 5353 } as const;
const out = Buffer.alloc(4096);

interface Setup {
  name: string;
  svc: DnsService;
  fast: boolean;
}

const here = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

async function setup(
  name: string,
  n: number,
  slow: boolean,
  root = here,
  kind: PolicyKind = "mixed",
): Promise<Setup> {
  const src = `${root}/packages/edge/src`;
  const { DnsService } = await import(`${src}/dns/dns-service.ts`);
  const { compileSnapshot } = await import(`${src}/snapshot.ts`);
  const { QueryLog } = await import(`${src}/telemetry/query-log.ts`);
  const svc: DnsService = new DnsService(
    compileSnapshot(bundleOfEdgeConfig(config(n, slow, kind))),
    {
      log: new QueryLog(),
    },
  );
  for (const q of queries) await svc.handle(q, client); // fill the DNS cache
  const fast = !slow;
  if (svc.tryFastInto(queries[0]!, "127.0.0.1", out, 4096) > 0 !== fast)
    throw new Error(`${name}: fast path ${fast ? "not " : ""}taken`);
  return { name, svc, fast };
}

/** CPU nanoseconds per answer over about `ms` milliseconds. */
async function slice(s: Setup, ms: number): Promise<number> {
  const deadline = performance.now() + ms;
  const cpu0 = process.cpuUsage();
  let n = 0;
  while (performance.now() < deadline) {
    if (s.fast) {
      for (const q of queries)
        if (s.svc.tryFastInto(q, "127.0.0.1", out, 4096) === 0) throw new Error("missed");
    } else {
      // 64 in flight, as a busy socket would have.
      for (let k = 0; k < queries.length; k += 64) {
        const batch: Promise<unknown>[] = [];
        for (let j = k; j < k + 64 && j < queries.length; j++)
          batch.push(s.svc.handle(queries[j]!, client));
        await Promise.all(batch);
      }
    }
    n += queries.length;
  }
  const cpu = process.cpuUsage(cpu0);
  return ((cpu.user + cpu.system) * 1000) / n;
}

const setups = [
  await setup("fast path, 100 policies", 100, false),
  await setup("pipeline, src_ip policy only", 0, true),
  await setup("pipeline, + 10 policies", 10, true),
  await setup("pipeline, + 100 policies", 100, true),
  ...(COMPARE
    ? [
        await setup("before: pipeline, src_ip policy only", 0, true, COMPARE),
        await setup("before: pipeline, + 100 policies", 100, true, COMPARE),
      ]
    : []),
];
// --kinds: 99 policies all of one kind, for the per-policy cost of each (and of the compared
// checkout's, with --compare).
const kindSetups: { kind: PolicyKind; at: number; before: number }[] = [];
if (KINDS)
  for (const kind of ["list", "regex", "ends_with"] as const) {
    const at = setups.length;
    setups.push(await setup(`pipeline, + 99 ${kind} policies`, 99, true, here, kind));
    let before = -1;
    if (COMPARE) {
      before = setups.length;
      setups.push(await setup(`before: pipeline, + 99 ${kind} policies`, 99, true, COMPARE, kind));
    }
    kindSetups.push({ kind, at, before });
  }
for (const s of setups) await slice(s, 300); // optimize before measuring
const rounds = Math.max(1, Math.round((SECONDS * 1000) / (250 * setups.length)));
const samples: number[][] = setups.map(() => []);
for (let r = 0; r < rounds; r++)
  for (let k = 0; k < setups.length; k++) samples[k]!.push(await slice(setups[k]!, 250));
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const ns = samples.map(median);
console.log("| setup | ns CPU per answer | answers per CPU second | vs fast path |");
console.log("|---|---:|---:|---:|");
for (let k = 0; k < setups.length; k++)
  console.log(
    `| ${setups[k]!.name} | ${ns[k]!.toFixed(0)} | ${Math.round(1e9 / ns[k]!).toLocaleString("en")} | ${(ns[0]! / ns[k]!).toFixed(2)}× |`,
  );
console.log(
  `per policy: ${((ns[3]! - ns[1]!) / 100).toFixed(0)} ns (100 policies), ${((ns[2]! - ns[1]!) / 10).toFixed(0)} ns (10)`,
);
if (COMPARE)
  console.log(`before: per policy ${((ns[5]! - ns[4]!) / 100).toFixed(0)} ns (100 policies)`);
for (const k of kindSetups)
  console.log(
    `per ${k.kind} policy: ${((ns[k.at]! - ns[1]!) / 99).toFixed(1)} ns` +
      (k.before >= 0 ? `, before ${((ns[k.before]! - ns[4]!) / 99).toFixed(1)} ns` : ""),
  );
for (const s of setups) s.svc.close();
await up.close();
process.exit(0);
