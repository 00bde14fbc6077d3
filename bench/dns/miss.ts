// The DNS cache-miss path: every query a name nobody asked before. nsd serves a wildcard zone
// (`*.miss.test`) on loopback; unbound (two threads, iterator only — or validator + iterator with
// --validate) and Gatehouse (one process, `resolver.dnssec.validate: false` unless --validate)
// forward to it. Each server, started fresh, first answers `--warmup` new names (not measured:
// a Node process runs its first few thousand queries in the interpreter before the JIT has
// compiled the path, which the light-load latency would otherwise measure), then gets:
//   1. light load: `dnsperf -Q 500` for 5 s of new names, p50/p99 — the relay's own latency;
//   2. closed loop, `--rounds` rounds of `--names` new names each (`-n 1 -q 200`): the first
//      round fills Gatehouse's 100,000-entry cache, later ones run with it full and evicting;
//   3. a fixed `-Q --rate` for `--seconds` s of new names (cache full): p50/p99 and lost.
// Server CPU (its /proc utime + stime) per query is reported for each phase, and its inverse,
// qps per server core (the fair comparison: unbound runs two threads, Gatehouse one worker).
// Every answer must be NOERROR (the zone is a wildcard): a phase with any other rcode fails.
// With --validate the zone is unsigned, so validation costs a proof of insecurity per answer
// (the DS lookup), as for most of the real internet's names.
// `--compare DIR` also runs the Gatehouse of another checkout (e.g. a `git archive` of the commit
// before a change, node_modules linked in) in the same run, as "gatehouse (before)".
// Run: node bench/dns/miss.ts [--names 100000] [--rounds 3] [--rate 5000] [--seconds 10] [--warmup 20000]
//   [--only unbound,gatehouse] [--validate] [--compare DIR]
//   [--node-args "--cpu-prof --cpu-prof-dir=/tmp/p"]

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  children,
  cpuSplit,
  dnsperf,
  dnsperfTotals,
  need,
  percentiles,
  rssMB,
  startGatehouse,
  startNsd,
  startUnbound,
  stop,
} from "./servers.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1]!;
};
const NAMES = Number(opt("names", "100000"));
const ROUNDS = Number(opt("rounds", "3"));
const RATE = Number(opt("rate", "5000"));
const SECONDS = Number(opt("seconds", "10"));
const ONLY = opt("only", "unbound,gatehouse").split(",");
const VALIDATE = args.includes("--validate");
const COMPARE = opt("compare", "");
const WARMUP = Number(opt("warmup", "20000"));
const NSD = 25310;
const dir = mkdtempSync(join(tmpdir(), "gh-bench-miss-"));

/** A file of `n` names under miss.test, each once, prefixed `tag`. */
function queryFile(tag: string, n: number): string {
  const lines: string[] = new Array(n);
  for (let i = 0; i < n; i++) lines[i] = `${tag}${i.toString(36)}.miss.test A`;
  const file = join(dir, `${tag}.txt`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

interface Phase {
  phase: string;
  qps: number;
  p50: number;
  p99: number;
  lost: number;
  sent: number;
  cpuUsPerQuery: number;
  /** The kernel's share of that CPU time (system calls, page faults, softirq work). */
  sysShare: number;
}

function measure(pid: number, phase: string, run: () => string): Phase {
  const cpu0 = cpuSplit(pid);
  const out = run();
  const cpu1 = cpuSplit(pid);
  const user = cpu1.user - cpu0.user;
  const system = cpu1.system - cpu0.system;
  const cpu = user + system;
  const { qps, lost, sent, rcodes } = dnsperfTotals(out);
  // Every name exists (wildcard): anything but NOERROR is the server not relaying.
  if (!/^NOERROR \d+ \(100\.00%\)$/.test(rcodes))
    throw new Error(`${phase}: not every answer NOERROR (${rcodes}): the server did not relay`);
  const { p50, p99 } = percentiles(out);
  return {
    phase,
    qps,
    p50,
    p99,
    lost,
    sent,
    cpuUsPerQuery: (cpu * 1e6) / Math.max(1, sent),
    sysShare: cpu > 0 ? system / cpu : 0,
  };
}

async function main() {
  for (const b of ["dnsperf", "nsd", "unbound"]) need(b);
  writeFileSync(
    join(dir, "miss.test.zone"),
    [
      "$ORIGIN miss.test.",
      "$TTL 3600",
      "@ IN SOA ns.miss.test. admin.miss.test. 1 3600 600 86400 300",
      "@ IN NS ns.miss.test.",
      "ns IN A 127.0.0.1",
      "* IN A 10.0.0.1",
      "",
    ].join("\n"),
  );
  await startNsd(dir, NSD, { "miss.test": "miss.test.zone" });
  const warm = WARMUP > 0 ? queryFile("w", WARMUP) : undefined;
  const light = queryFile("l", 500 * 5 + 1000);
  const rounds = Array.from({ length: ROUNDS }, (_, r) => queryFile(`r${r}x`, NAMES));
  const fixed = queryFile("f", Math.ceil(RATE * SECONDS * 1.2));
  // Unsigned zone: a validating resolver proves it insecure with the root's trust anchor off.
  const servers: { name: string; port: number; run: () => Promise<ChildProcess> }[] = [
    {
      name: VALIDATE ? "unbound, validating" : "unbound",
      port: 25311,
      run: () => startUnbound(dir, 25311, NSD, VALIDATE ? { validate: true } : {}),
    },
    ...(COMPARE ? [COMPARE, ""] : [""]).map((root) => ({
      name: `gatehouse${root ? " (before)" : ""}${VALIDATE ? ", validating" : ""}`,
      port: 25312,
      run: () =>
        startGatehouse(
          dir,
          [
            "resolver:",
            `  upstreams: [{ address: "udp://127.0.0.1:${NSD}" }]`,
            "  cache: { maxEntries: 100000 }",
            `  dnssec: { validate: ${VALIDATE} }`,
            "  rateLimit: false",
            "locations: [{ id: lo, name: Loopback, networks: [127.0.0.0/8] }]",
            "lists: []",
            "policies: []",
            "edge:",
            "  dns: { udp: [127.0.0.1:25312] }",
            "  workers: 1",
          ],
          { nodeArgs: opt("node-args", "").split(" ").filter(Boolean), ...(root ? { root } : {}) },
        ),
    })),
  ];
  const results: { name: string; phases: Phase[]; rss: number }[] = [];
  for (const s of servers) {
    if (!ONLY.some((o) => s.name.startsWith(o))) continue;
    const p = await s.run();
    const pid = p.pid!;
    const phases: Phase[] = [];
    const note = (ph: Phase) => {
      phases.push(ph);
      console.error(
        `${s.name} ${ph.phase}: ${Math.round(ph.qps)} qps, p50 ${ph.p50.toFixed(3)} ms, p99 ${ph.p99.toFixed(3)} ms, lost ${ph.lost}/${ph.sent}, ${ph.cpuUsPerQuery.toFixed(1)} µs CPU/query (${Math.round(ph.sysShare * 100)} % kernel)`,
      );
    };
    if (warm) dnsperf(s.port, warm, ["-n", "1", "-q", "50"]);
    note(
      measure(pid, "light (500 qps)", () => dnsperf(s.port, light, ["-Q", "500", "-l", "5", "-v"])),
    );
    for (let r = 0; r < ROUNDS; r++)
      note(
        measure(pid, `closed loop, round ${r + 1}`, () =>
          dnsperf(s.port, rounds[r]!, ["-n", "1", "-q", "200", "-v"]),
        ),
      );
    note(
      measure(pid, `fixed ${RATE} qps`, () =>
        dnsperf(s.port, fixed, ["-Q", String(RATE), "-l", String(SECONDS), "-v"]),
      ),
    );
    results.push({ name: s.name, phases, rss: rssMB(pid) });
    await stop(p);
  }
  const anchor = results[0]!;
  const lines = [
    `| server | phase | qps | vs ${anchor.name} | p50 (ms) | p99 (ms) | lost | CPU µs/query | qps per server core | kernel |`,
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of results)
    r.phases.forEach((ph, i) => {
      const a = anchor.phases[i]!;
      lines.push(
        `| ${r.name} | ${ph.phase} | ${Math.round(ph.qps)} | ${(ph.qps / a.qps).toFixed(2)}× | ${ph.p50.toFixed(3)} | ${ph.p99.toFixed(3)} | ${ph.lost}/${ph.sent} | ${ph.cpuUsPerQuery.toFixed(1)} | ${Math.round(1e6 / ph.cpuUsPerQuery)} | ${Math.round(ph.sysShare * 100)} % |`,
      );
    });
  lines.push("", ...results.map((r) => `${r.name}: RSS ${r.rss} MB after`));
  console.log(lines.join("\n"));
}

try {
  await main();
} finally {
  for (const c of children) c.kill("SIGTERM");
}
