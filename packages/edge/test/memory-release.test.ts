// Memory given back after a burst (memory-release.ts): in a child process (the test runner's
// own heap must not count), small buffers are allocated as a burst would (their backing stores
// from malloc, below the mmap threshold), most dropped with one in eight kept so the freed
// blocks sit between live ones, then the release runs. The C heap's freed pages come back only
// with the malloc_trim addon, so those assertions need it built (`native/build.ts`).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { afterSwapCollection, IDLE_UTILIZATION, trimAddon } from "../src/memory-release.ts";

const release = new URL("../src/memory-release.ts", import.meta.url).href;
const metrics = new URL("../src/telemetry/metrics.ts", import.meta.url).href;

/** Run `body` (ESM, with the module's exports in scope) in a fresh Node; its last JSON line. */
function child<T>(body: string, env: NodeJS.ProcessEnv = process.env): T {
  const script = `
    import { releaseMemory, releaseMemorySoon, watchMemory, memoryReleaseStats, trimAddon } from ${JSON.stringify(release)};
    import { edgeRegistry, trackMemoryRelease } from ${JSON.stringify(metrics)};
    let kept = [];
    /** Await p with the process held open (the release's timers are unref'd, as in an edge). */
    async function held(p) {
      const t = setInterval(() => {}, 1000);
      try { return await p; } finally { clearInterval(t); }
    }
    /** A burst's garbage: 96 MB of 2 KiB buffers, one in eight kept. */
    function burst() {
      let all = [];
      for (let i = 0; i < 48 * 1024; i++) {
        const b = Buffer.alloc(2048, i & 255);
        if (i % 8 === 0) kept.push(b);
        all.push(b);
      }
      all = null;
    }
    ${body}
  `;
  const out = execFileSync(
    process.execPath,
    ["--max-semi-space-size=1", "--input-type=module", "-e", script],
    { encoding: "utf8", timeout: 60_000, env },
  );
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}

const built = trimAddon() !== undefined;
const requireNative = process.env["GATEHOUSE_REQUIRE_NATIVE"] === "1";

test("the malloc_trim addon is built where CI requires it", {
  skip: !requireNative && "GATEHOUSE_REQUIRE_NATIVE is not set",
}, () => {
  assert.ok(
    built,
    "npm install builds packages/edge/native/build/malloc_trim.node (native/build.ts)",
  );
});

test("a release after a burst gives the C heap's freed pages back (malloc_trim addon)", {
  skip: built ? false : "native/build/malloc_trim.node is not built",
}, () => {
  const r = child<{ grown: number; back: number; kept: number; releases: number }>(`
      const base = process.memoryUsage.rss();
      burst();
      const grown = process.memoryUsage.rss() - base;
      await held(releaseMemory(true));
      const back = grown - (process.memoryUsage.rss() - base);
      console.log(JSON.stringify({ grown, back, kept: kept.length, releases: memoryReleaseStats.releases }));
    `);
  assert.equal(r.kept, 6 * 1024, "the kept buffers are still alive");
  assert.ok(r.grown > 64 * 1024 * 1024, `the burst grew RSS (${r.grown} bytes)`);
  // 7/8 of the burst is garbage; at least half of what it added must be back.
  assert.ok(r.back > r.grown / 2, `released ${r.back} of ${r.grown} bytes`);
  assert.equal(r.releases, 1);
});

test("after a swap (releaseMemorySoon) one collection and two trims give the C heap back, calls coalesced", {
  skip: built ? false : "native/build/malloc_trim.node is not built",
}, () => {
  const r = child<{ grown: number; back: number; releases: number; kept: number }>(`
      const base = process.memoryUsage.rss();
      burst();
      const grown = process.memoryUsage.rss() - base;
      // As three swaps in a row would: one release follows the last.
      releaseMemorySoon(100);
      releaseMemorySoon(100);
      releaseMemorySoon(100);
      for (let i = 0; i < 100 && memoryReleaseStats.releases < 2; i++)
        await held(new Promise((r) => setTimeout(r, 200)));
      // Nothing more comes after the second trim.
      await held(new Promise((r) => setTimeout(r, 1500)));
      const back = grown - (process.memoryUsage.rss() - base);
      console.log(JSON.stringify({ grown, back, releases: memoryReleaseStats.releases, kept: kept.length }));
    `);
  assert.equal(r.kept, 6 * 1024, "the kept buffers are still alive");
  assert.ok(r.grown > 64 * 1024 * 1024, `the burst grew RSS (${r.grown} bytes)`);
  assert.ok(r.back > r.grown / 2, `released ${r.back} of ${r.grown} bytes`);
  assert.equal(r.releases, 2, "the release (collection and trim), then the second trim");
});

test("a release compacts a heap that grew far past what it uses (a compile's garbage)", () => {
  const r = child<{ grownMb: number; slackMb: number; kept: number }>(`
      const mb = (n) => n / 1048576;
      const base = process.memoryUsage().heapTotal;
      let objs = [];
      for (let i = 0; i < 1500000; i++) objs.push({ i, s: "x" + i });
      // One in fifty kept, spread over every page the heap grew.
      const keep = objs.filter((_, i) => i % 50 === 0);
      objs = null;
      const grownMb = mb(process.memoryUsage().heapTotal - base);
      await held(releaseMemory(true));
      const m = process.memoryUsage();
      console.log(JSON.stringify({ grownMb, slackMb: mb(m.heapTotal - m.heapUsed), kept: keep.length }));
    `);
  assert.equal(r.kept, 30000);
  assert.ok(r.grownMb > 64, `the heap grew (${r.grownMb} MB)`);
  // A plain full collection leaves about all of it committed (100+ MB for a few MB used).
  assert.ok(r.slackMb < 16, `the heap keeps ${r.slackMb} MB beyond what it uses`);
});

test("after a swap, an edge idle since compacts its heap; a busier one only collects", () => {
  // Compacting hands back the pages a compile's garbage left (a 1M mixed list's edge held
  // ~15 MB more without it); it takes a few full collections, so not while queries come.
  assert.equal(afterSwapCollection(0), "compact");
  assert.equal(afterSwapCollection(IDLE_UTILIZATION), "compact");
  assert.equal(afterSwapCollection(0.1), true);
  assert.equal(afterSwapCollection(1), true);
});

test("without the addon (GATEHOUSE_MALLOC_TRIM=0) a release still collects", () => {
  const r = child<{ addon: boolean; releases: number; heapDropped: boolean }>(
    `
      const objs = [];
      for (let i = 0; i < 300000; i++) objs.push({ i, s: "x" + i });
      const before = process.memoryUsage().heapUsed;
      objs.length = 0;
      await held(releaseMemory(true));
      const after = process.memoryUsage().heapUsed;
      console.log(JSON.stringify({ addon: trimAddon() !== undefined, releases: memoryReleaseStats.releases, heapDropped: after < before }));
    `,
    { ...process.env, GATEHOUSE_MALLOC_TRIM: "0" },
  );
  assert.deepEqual(r, { addon: false, releases: 1, heapDropped: true });
});

test("the watch releases once the RSS grew and the process went quiet, and counts it in metrics", () => {
  const r = child<{ releases: number; released: boolean; metric: string }>(`
    trackMemoryRelease(memoryReleaseStats);
    const stop = watchMemory(200);
    burst();
    // Quiet from here on: wait (up to 20 s) for the watch to see it.
    for (let i = 0; i < 100 && memoryReleaseStats.releases === 0; i++)
      await held(new Promise((r) => setTimeout(r, 200)));
    stop();
    const text = await edgeRegistry().metrics();
    const metric = text.split("\\n").filter((l) => l.startsWith("gatehouse_edge_memory_releases_total")).join("");
    console.log(JSON.stringify({ releases: memoryReleaseStats.releases, released: memoryReleaseStats.releasedBytes > 0, metric }));
  `);
  assert.equal(r.releases, 1);
  assert.equal(r.released, true);
  assert.equal(r.metric, "gatehouse_edge_memory_releases_total 1");
});

test("when a load ends the watch releases at once, though it released during the load, and collects what the load left", () => {
  const r = child<{ during: number; after: number; usedBefore: number; usedAfter: number }>(`
    const stop = watchMemory(200);
    const spin = (ms) => { const t = Date.now() + ms; while (Date.now() < t); };
    const pause = (ms) => held(new Promise((r) => setTimeout(r, ms)));
    // A load that leaves the loop about 10 % busy (quiet, not idle): the first release runs during it.
    burst();
    for (let i = 0; i < 100 && memoryReleaseStats.releases === 0; i++) { spin(20); await pause(180); }
    const during = memoryReleaseStats.releases;
    // More of the load: objects that live long enough to reach the old space, then dropped, still
    // busy. Until a full collection V8 counts them as used, so the heap shows no slack.
    let objs = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 300000; i++) objs.push({ i, s: "x" + i });
      spin(20); await pause(20);
    }
    objs = null;
    spin(50);
    const usedBefore = process.memoryUsage().heapUsed;
    // Idle from here on: wait (up to 20 s, a third of the minute between quiet releases).
    for (let i = 0; i < 100 && memoryReleaseStats.releases === during; i++) await pause(200);
    const usedAfter = process.memoryUsage().heapUsed;
    stop();
    console.log(JSON.stringify({ during, after: memoryReleaseStats.releases, usedBefore, usedAfter }));
  `);
  assert.equal(r.during, 1, "one release during the load");
  assert.equal(r.after, 2, "one more once the load ended");
  assert.ok(
    r.usedAfter < r.usedBefore / 2,
    `the load's objects collected (heap used ${r.usedBefore} -> ${r.usedAfter} bytes)`,
  );
});

test("under a steady load the watch trims the C heap's freed blocks without waiting for quiet", {
  skip: built ? false : "native/build/malloc_trim.node is not built",
}, () => {
  const r = child<{ releases: number; held: number; back: number }>(`
    const v8 = await import("node:v8");
    v8.setFlagsFromString("--expose-gc");
    const gc = (await import("node:vm")).runInNewContext("gc");
    const stop = watchMemory(100, 300);
    burst();
    const before = process.memoryUsage.rss();
    // The burst's garbage collected: its buffers' blocks go back to glibc, which keeps them
    // (one block in eight is still in use between them). Busy (never quiet) from here, 2 s.
    gc();
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      const t = Date.now() + 40;
      while (Date.now() < t);
      await held(new Promise((r) => setTimeout(r, 5)));
    }
    stop();
    console.log(JSON.stringify({ releases: memoryReleaseStats.releases, held: trimAddon().stats()[1], back: before - process.memoryUsage.rss() }));
  `);
  assert.ok(r.releases >= 1, "trimmed while busy");
  assert.ok(r.back > 16 * 1024 * 1024, `gave back ${r.back} bytes`);
});

test("the watch trims what starting up freed, once, soon after it starts", {
  skip: built ? false : "native/build/malloc_trim.node is not built",
}, () => {
  const r = child<{ releases: number }>(`
    const stop = watchMemory(100);
    await held(new Promise((r) => setTimeout(r, 3000)));
    stop();
    console.log(JSON.stringify({ releases: memoryReleaseStats.releases }));
  `);
  assert.equal(r.releases, 1);
});

test("the watch's timer does not keep a process alive", () => {
  const r = child<{ exited: boolean }>(`
    watchMemory(50);
    process.on("exit", () => console.log(JSON.stringify({ exited: true })));
  `);
  assert.deepEqual(r, { exited: true });
});
