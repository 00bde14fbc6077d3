// DNSSEC validation cost per cache miss: Gatehouse and unbound, each validating and not, forward
// to one nsd serving the signed test tree (packages/edge/test/dnssec-hierarchy.ts) with N extra
// names in secure.gh (ECDSAP256SHA256, NSEC) and n3.gh (ECDSAP384SHA384, NSEC3). The chain of
// trust is warmed first (one query per zone), so each measured query is a miss whose answer is
// fetched from nsd and, when validating, has its signature checked with keys already known:
// the steady-state cost. Then the same names again (cache hits) through dnsperf, Gatehouse
// validating and not, to show the cached path does not change.
// Run: node bench/dns/dnssec.ts [--names 3000] [--concurrency 4] [--seconds 5] [--cpu-prof DIR]
// (--cpu-prof: the Gatehouse edges write V8 CPU profiles into DIR when they stop.)

import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildQuery,
  freePort,
  spawnDnsServer,
  unboundServerLines,
} from "../../packages/edge/test/dns-helpers.ts";
import { buildHierarchy } from "../../packages/edge/test/dnssec-hierarchy.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1]!;
};
const NAMES = Number(opt("names", "3000"));
const CONCURRENCY = Number(opt("concurrency", "4"));
const SECONDS = Number(opt("seconds", "5"));
const CPU_PROF = opt("cpu-prof", "");
const CLI = join(import.meta.dirname, "../../packages/gatehouse/src/cli.ts");
const dir = mkdtempSync(join(tmpdir(), "gh-bench-dnssec-"));
const stops: (() => Promise<void>)[] = [];

/** Send `names` (each once) with `CONCURRENCY` in flight; per-query latencies in ms. */
async function pass(
  port: number,
  names: string[],
  ad: boolean,
): Promise<{ ms: number[]; wall: number; bad: number }> {
  const s = createSocket("udp4");
  await new Promise<void>((ok) => s.bind(0, "127.0.0.1", () => ok()));
  const pending = new Map<number, { t0: number; done: (ok: boolean) => void }>();
  s.on("message", (msg) => {
    const id = msg.readUInt16BE(0);
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    const rcode = msg[3]! & 0xf;
    const adBit = (msg[3]! & 0x20) !== 0;
    p.done(rcode === 0 && adBit === ad);
  });
  const ms: number[] = [];
  let bad = 0;
  let next = 0;
  let id = 1;
  const t0 = performance.now();
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++]!;
      const qid = id++ & 0xffff;
      const start = performance.now();
      const ok = await new Promise<boolean>((done) => {
        const timer = setTimeout(() => {
          pending.delete(qid);
          done(false);
        }, 5000);
        pending.set(qid, {
          t0: start,
          done: (v) => {
            clearTimeout(timer);
            done(v);
          },
        });
        s.send(buildQuery(name, { id: qid, do: true }), port, "127.0.0.1");
      });
      if (!ok) bad++;
      ms.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wall = performance.now() - t0;
  s.close();
  return { ms, wall, bad };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function gatehouse(nsdPort: number, anchor: string, validate: boolean): Promise<number> {
  const port = await freePort();
  const cfg = join(dir, `edge-${validate}.yaml`);
  writeFileSync(
    cfg,
    JSON.stringify({
      resolver: {
        upstreams: [{ address: `udp://127.0.0.1:${nsdPort}` }],
        rateLimit: false,
        cache: { prefetch: false },
        dnssec: validate ? { trustAnchors: anchor } : { validate: false },
      },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [],
      edge: { dns: { udp: [`127.0.0.1:${port}`], tcp: [`127.0.0.1:${port}`] } },
    }),
  );
  const s = await spawnDnsServer(
    process.execPath,
    [...(CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", CPU_PROF] : []), CLI, "edge", "--config", cfg],
    port,
    (m) => m !== undefined,
  );
  stops.push(s.stop);
  return port;
}

async function unbound(nsdPort: number, anchor: string, validate: boolean): Promise<number> {
  const port = await freePort();
  const d = mkdtempSync(join(dir, "unbound-"));
  writeFileSync(join(d, "anchor"), `${anchor}\n`);
  writeFileSync(
    join(d, "unbound.conf"),
    [
      ...unboundServerLines(d, port),
      validate ? '  module-config: "validator iterator"' : '  module-config: "iterator"',
      ...(validate ? [`  trust-anchor-file: "${d}/anchor"`] : []),
      "  do-not-query-localhost: no",
      "  access-control: 127.0.0.0/8 allow",
      "  qname-minimisation: no",
      "  prefetch: no",
      "remote-control:",
      "  control-enable: no",
      "forward-zone:",
      '  name: "."',
      `  forward-addr: 127.0.0.1@${nsdPort}`,
      "",
    ].join("\n"),
  );
  const s = await spawnDnsServer(
    "unbound",
    ["-d", "-c", join(d, "unbound.conf")],
    port,
    (m) => m !== undefined,
  );
  stops.push(s.stop);
  return port;
}

function dnsperf(port: number, names: string[]): number {
  const file = join(dir, "queries.txt");
  writeFileSync(file, names.map((n) => `${n} A`).join("\n"));
  const out = execFileSync(
    "dnsperf",
    [
      "-s",
      "127.0.0.1",
      "-p",
      String(port),
      "-d",
      file,
      "-l",
      String(SECONDS),
      "-c",
      "4",
      "-q",
      "200",
      "-D",
    ],
    { encoding: "utf8" },
  );
  return Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
}

const uptime = execFileSync("uptime", { encoding: "utf8" }).trim();
console.log(`# ${uptime}`);
const h = await buildHierarchy({ names: NAMES });
stops.push(h.close);
try {
  const servers: [string, number, boolean][] = [
    ["gatehouse, validating", await gatehouse(h.port, h.anchor, true), true],
    ["gatehouse, not validating", await gatehouse(h.port, h.anchor, false), false],
    ["unbound, validating", await unbound(h.port, h.anchor, true), true],
    ["unbound, not validating", await unbound(h.port, h.anchor, false), false],
  ];
  const zones = ["secure.gh", "n3.gh"];
  console.log(`names per zone ${NAMES}, concurrency ${CONCURRENCY}`);
  console.log("| server | zone | misses/s | mean ms | p50 ms | p99 ms | wrong |");
  for (const [label, port, validating] of servers) {
    for (const zone of zones) {
      // Warm the chain of trust (root, gh, the zone) with a name outside the measured set.
      await pass(port, [`www.${zone}`], validating);
      const names = Array.from({ length: NAMES }, (_, i) => `h${i}.${zone}`);
      const r = await pass(port, names, validating);
      const mean = r.ms.reduce((a, b) => a + b, 0) / r.ms.length;
      console.log(
        `| ${label} | ${zone} | ${Math.round((names.length / r.wall) * 1000)} | ${mean.toFixed(3)} | ${pct(r.ms, 50).toFixed(3)} | ${pct(r.ms, 99).toFixed(3)} | ${r.bad} |`,
      );
    }
  }
  const cached = Array.from({ length: NAMES }, (_, i) => `h${i}.secure.gh`);
  for (const [label, port] of servers.slice(0, 2))
    console.log(
      `cached (dnsperf -l ${SECONDS} -c 4 -q 200), ${label}: ${Math.round(dnsperf(port, cached))} qps`,
    );
} finally {
  for (const s of stops.reverse()) await s();
}
