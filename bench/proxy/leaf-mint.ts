// Leaf minting for TLS inspection: latency of one mint (key pair + signature, the first
// inspected connection to a host waits for it) and of building its TLS context, and the memory
// 10,000 cached leaves hold.
// Run: node --expose-gc bench/proxy/leaf-mint.ts [leaves=10000]
// Mints one name after another (as first connections to new hosts arrive), then reports
// p50/p99/max per mint, per context build, and RSS / heap / external growth after GC with the
// leaf cache full (contexts are a separate, smaller cache: measured apart).

import { LeafMinter } from "../../packages/edge/src/tls/leaf-minter.ts";
import { testPki } from "../../packages/edge/test/tls-pki.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const N = Number(process.argv[2] ?? 10_000);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
}
const mb = (b: number) => (b / 1e6).toFixed(1);
function mem() {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heap: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external + m.arrayBuffers,
  };
}

const { issuer } = await testPki();
const minter = new LeafMinter({ maxLeaves: N, maxContexts: 512 });
minter.setIssuer(issuer);
// Warm-up: JIT and OpenSSL's first-use initialisation, not part of a steady-state mint.
for (let i = 0; i < 200; i++) await minter.leaf(`warm${i}.example`);
minter.setIssuer(issuer);
const before = mem();

const mint: number[] = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  await minter.leaf(`host-${i}.bench.example`);
  mint.push(performance.now() - t0);
}
const withLeaves = mem();

const ctx: number[] = [];
for (let i = 0; i < 512; i++) {
  const t0 = performance.now();
  await minter.secureContext(`host-${i}.bench.example`);
  ctx.push(performance.now() - t0);
}
const withContexts = mem();

// Eight first connections to different hosts at once (a page pulling from many origins).
const t0 = performance.now();
const burst = 2000;
for (let i = 0; i < burst; i += 8)
  await Promise.all(
    Array.from({ length: 8 }, (_, k) => minter.leaf(`burst-${i + k}.bench.example`)),
  );
const burstMs = performance.now() - t0;

console.log(`leaves minted: ${N} (cached: ${minter.leafCount})`);
console.log(
  `mint (key pair + signature): p50 ${pct(mint, 0.5).toFixed(3)} ms, p99 ${pct(mint, 0.99).toFixed(3)} ms, max ${Math.max(...mint).toFixed(3)} ms`,
);
console.log(
  `TLS context from a cached leaf: p50 ${pct(ctx, 0.5).toFixed(3)} ms, p99 ${pct(ctx, 0.99).toFixed(3)} ms`,
);
console.log(`mints with 8 in flight: ${((burst / burstMs) * 1000).toFixed(0)} /s`);
console.log(
  `${N} cached leaves: RSS +${mb(withLeaves.rss - before.rss)} MB, heap +${mb(withLeaves.heap - before.heap)} MB (committed +${mb(withLeaves.heapTotal - before.heapTotal)}), external +${mb(withLeaves.external - before.external)} MB`,
);
console.log(
  `512 cached TLS contexts: RSS +${mb(withContexts.rss - withLeaves.rss)} MB, heap +${mb(withContexts.heap - withLeaves.heap)} MB`,
);
