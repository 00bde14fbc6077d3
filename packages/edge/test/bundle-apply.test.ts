// A large bundle is compiled, hashed and written in slices: DNS keeps answering while it
// applies, and the sliced hash and file are the same as the one-go ones.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runInNewContext } from "node:vm";
import { bundleHash, type ConfigBundle, canonicalJson, checkBundle } from "@gatehouse/contract";
import { ConfigRejectedError, compileSnapshot, EdgeState, startEdge } from "@gatehouse/edge";
import { compileSnapshotSliced } from "../src/snapshot.ts";
import { bundleHashSliced } from "../src/sync/bundle-digest.ts";
import {
  BundleParseMemoryError,
  bundleParserHeapBytes,
  bundleParserThreadId,
  OFF_THREAD_BYTES,
  type ParsedBundle,
  parseBundleBody,
  unpackBundle,
} from "../src/sync/bundle-parse.ts";
import { a, startFakeUpstream, udpQuery } from "./dns-helpers.ts";
import { bigListBundle } from "./hashed-bundle.ts";

/** No per-source rate limit: the tests ask in a loop for as long as a compile takes. */
const bigBundle = (items: number): ConfigBundle =>
  bigListBundle(items, {
    resolver: {
      upstreams: [{ address: "udp://127.0.0.1:9" }],
      dnssec: { validate: false },
      rateLimit: false,
    },
  });

test("DNS queries keep being answered while a large bundle applies", {
  timeout: 120_000,
}, async () => {
  const up = await startFakeUpstream(
    new Map([["ok.example/1", { answers: [a("ok.example", "192.0.2.1")] }]]),
  );
  const edge = await startEdge({
    config: {
      resolver: {
        upstreams: [{ address: up.address }],
        dnssec: { validate: false },
        rateLimit: false,
      },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [],
      edge: { dns: { udp: ["127.0.0.1:0"] } },
    },
    log: () => {},
  });
  try {
    const port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
    const big = bigBundle(400_000);
    let applying = true;
    const applied = edge.apply(big).finally(() => {
      applying = false;
    });
    let answeredDuring = 0;
    while (applying) {
      const m = await udpQuery(port, "ok.example", { timeoutMs: 5000 });
      if (m?.answers[0]?.data === "192.0.2.1" && applying) answeredDuring++;
    }
    const snap = await applied;
    assert.ok(answeredDuring > 0, "queries were answered while the bundle compiled");
    assert.equal(snap.version, 2);
    assert.equal((await udpQuery(port, "n399999.blocked.example"))?.answers[0]?.data, "0.0.0.0");
    // The snapshot keeps the names compactly, not the bundle's million strings a second time.
    assert.equal(edge.snapshot.bundle.lists[0]?.items, undefined);
    assert.equal(edge.snapshot.lists.domains("big")?.size, 400_000);
  } finally {
    await edge.close();
    await up.close();
  }
});

test("applies run in the order asked, a slow one is not overtaken", async () => {
  const edge = await startEdge({
    config: { resolver: { upstreams: [] }, locations: [], lists: [], policies: [] },
    log: () => {},
  });
  try {
    const slow = edge.apply(bigBundle(100_000));
    const small = edge.apply({ ...bigBundle(1), version: 3 });
    await Promise.all([slow, small]);
    assert.equal(edge.snapshot.version, 3);
  } finally {
    await edge.close();
  }
});

test("the sliced hash and the last good file match the one-go canonical form", async () => {
  const b: ConfigBundle = {
    ...bigBundle(20_000),
    blockPage: undefined,
    locations: [{ id: "lo", name: "Zürich ☃ \u2028", networks: ["127.0.0.0/8", "::1"] }],
  };
  b.hash = await bundleHash(b);
  assert.equal(await bundleHashSliced(b), b.hash);
  const state = new EdgeState(await mkdtemp(join(tmpdir(), "gh-bundle-apply-")));
  await state.saveLastGood(b);
  const { hash: _h, ...rest } = b;
  const text = await readFile(state.lastGoodPath, "utf8");
  assert.equal(text, canonicalJson(b));
  assert.notEqual(canonicalJson(rest), text);
  assert.equal((await state.loadLastGood())?.hash, b.hash);
});

test("a list item outside the contract's item schema refuses the bundle, sliced or not", async () => {
  const b = bigBundle(20_000);
  b.lists[0]!.items![17_000] = "x".repeat(1025);
  for (const compile of [
    async (x: ConfigBundle) => compileSnapshot(x),
    (x: ConfigBundle) => compileSnapshotSliced(x),
  ]) {
    await assert.rejects(compile(b), (e: unknown) => {
      assert.ok(e instanceof ConfigRejectedError);
      // The same problem the contract's one-go check reports.
      assert.deepEqual(e.problems, checkBundle(b));
      assert.equal(e.problems[0]!.path, "/lists/0/items/17000");
      return true;
    });
  }
});

/** Run `f` while a 1 ms timer ping keeps going; the pings served and the longest gap. */
async function whilePinging<T>(
  f: () => Promise<T>,
): Promise<{ value: T; pings: number; maxGapMs: number }> {
  let pings = 0;
  let maxGapMs = 0;
  let last = performance.now();
  let running = true;
  const ping = (): void => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    pings++;
    if (running) setTimeout(ping, 1);
  };
  setTimeout(ping, 1);
  try {
    return { value: await f(), pings, maxGapMs };
  } finally {
    running = false;
  }
}

test("a large bundle's body is parsed and hash-checked off the event loop", {
  timeout: 120_000,
}, async () => {
  const b = bigBundle(1_000_000);
  b.hash = await bundleHash(b);
  const body = Buffer.from(JSON.stringify(b));
  // The body is handed to the parser thread (moved, not copied): its digest, to compare after.
  const sent = createHash("sha256").update(body).digest("hex");
  const last = b.lists[0]!.items!.at(-1);
  b.lists = [];
  // The main thread never runs JSON.parse over the body (one block of 0.05-2 s for tens of MB,
  // longer the fuller the heap), and keeps serving timers while the worker parses and hashes.
  const parse = JSON.parse;
  let largestParsed = 0;
  JSON.parse = (text: string, ...rest) => {
    largestParsed = Math.max(largestParsed, text.length);
    return parse(text, ...rest);
  };
  let got: Awaited<ReturnType<typeof whilePinging<ParsedBundle>>>;
  try {
    got = await whilePinging(() => parseBundleBody(body));
  } finally {
    JSON.parse = parse;
  }
  assert.ok(largestParsed < OFF_THREAD_BYTES, `the main thread parsed ${largestParsed} bytes`);
  assert.ok(got.pings > 10, `${got.pings} pings answered`);
  assert.equal(got.value.hashOk, true);
  assert.equal(got.value.packed.get(0)?.count, 1_000_000, "the domain list comes packed");
  const items = (await unpackBundle(got.value)).lists[0]?.items;
  assert.equal(items?.length, 1_000_000);
  assert.equal(items?.at(-1), last);
  assert.equal(body.byteLength, 0, "the body was moved to the parser thread");
  assert.equal(createHash("sha256").update(got.value.body).digest("hex"), sent, "and back");
});

test("the parser thread hands list items over as moved bytes, never as one long string", {
  timeout: 120_000,
}, async () => {
  const b = bigBundle(200_000);
  const names = b.lists[0]!.items!;
  // A string list packs too, and is split back into items 64 KiB of bytes at a time: empty
  // items (the last one too) and multi-byte characters on either side of a cut are kept.
  const strings = Array.from({ length: 30_000 }, (_, i) => (i % 997 === 0 ? "" : `s${i}-ü€`));
  strings.push("");
  b.lists.push({ id: "s", name: "s", type: "string", items: strings });
  b.hash = await bundleHash(b);
  const body = Buffer.from(JSON.stringify(b));
  assert.ok(body.byteLength >= OFF_THREAD_BYTES);
  const p = await parseBundleBody(body);
  assert.equal(p.hashOk, true);
  // A string from another thread is copied into fresh memory as the message is read, in one
  // block on the main thread (for 2.2M names, 70 MB: 0.3-0.5 s of page faults); bytes move.
  let longest = 0;
  const walk = (v: unknown): void => {
    if (typeof v === "string") longest = Math.max(longest, v.length);
    else if (v instanceof Map) for (const x of v.values()) walk(x);
    else if (v && typeof v === "object" && !ArrayBuffer.isView(v))
      for (const x of Object.values(v)) walk(x);
  };
  walk(p);
  assert.ok(longest < 64 * 1024, `a string of ${longest} characters came back`);
  const packed = p.packed.get(0)!;
  assert.ok(packed.bytes instanceof Uint8Array);
  assert.equal(packed.count, names.length);
  assert.equal(Buffer.from(packed.bytes).toString("utf8"), names.join("\n"));
  assert.deepEqual(p.bundle.lists[1]?.items, strings);
});

test("one parser thread parses body after body; one out of its heap is replaced", {
  timeout: 120_000,
}, async () => {
  // A thread that exits leaves its pooled heap pages to the main thread to unmap, in one task.
  const b = bigBundle(Math.ceil(OFF_THREAD_BYTES / 20));
  b.hash = await bundleHash(b);
  const text = JSON.stringify(b);
  const both = await Promise.all([
    parseBundleBody(Buffer.from(text)),
    parseBundleBody(Buffer.from(text)),
  ]);
  const first = bundleParserThreadId();
  assert.notEqual(first, undefined, "the thread is kept");
  assert.deepEqual(
    both.map((p) => [p.hashOk, p.packed.get(0)?.count]),
    [
      [true, b.lists[0]!.items!.length],
      [true, b.lists[0]!.items!.length],
    ],
  );
  await assert.rejects(
    parseBundleBody(Buffer.from(`{${" ".repeat(OFF_THREAD_BYTES)}`)),
    SyntaxError,
  );
  assert.equal(bundleParserThreadId(), first, "a body that is not JSON leaves it running");
  // 400,000 names need well over 16 MiB of heap to parse: that thread dies, the next parse
  // (default limit) runs in a new one.
  const big = bigBundle(400_000);
  big.hash = await bundleHash(big);
  await assert.rejects(
    parseBundleBody(Buffer.from(JSON.stringify(big)), { memoryMb: 16 }),
    BundleParseMemoryError,
  );
  assert.equal(bundleParserThreadId(), undefined);
  const again = await parseBundleBody(Buffer.from(text));
  assert.equal(again.hashOk, true);
  assert.notEqual(bundleParserThreadId(), undefined);
  assert.notEqual(bundleParserThreadId(), first);
});

test("the kept parser thread gives back the heap a large parse grew", {
  timeout: 120_000,
}, async () => {
  // Idle, the thread allocates nothing and V8 would never collect it: 2.2M names left about
  // 290 MB resident for good.
  const big = bigBundle(400_000);
  big.hash = await bundleHash(big);
  const parsed = await parseBundleBody(Buffer.from(JSON.stringify(big)));
  assert.equal(parsed.hashOk, true);
  const MiB = 1024 * 1024;
  let heap = await bundleParserHeapBytes();
  for (let i = 0; i < 50 && (heap ?? 0) >= 24 * MiB; i++) {
    await new Promise((r) => setTimeout(r, 100));
    heap = await bundleParserHeapBytes();
  }
  assert.ok(
    heap !== undefined && heap < 24 * MiB,
    `parser heap ${((heap ?? 0) / MiB).toFixed(1)} MiB`,
  );
  // The collector was borrowed for that thread only: no context is given `gc`.
  assert.equal(runInNewContext("typeof gc"), "undefined");
});

test("parsed bodies, inline or off-thread, keep items and check hashes as JSON.parse does", async () => {
  const odd: ConfigBundle = {
    ...bigBundle(3),
    lists: [
      { id: "a", name: "a", type: "domain", items: ["x.example", "", "y\nz", "ü.example"] },
      { id: "n", name: "n", type: "domain", items: ["has\nnewline", "ok.example"] },
      { id: "e", name: "e", type: "domain", items: [] },
      { id: "one", name: "one", type: "domain", items: ["only.example"] },
    ],
  };
  odd.hash = await bundleHash(odd);
  const big = bigBundle(Math.ceil(OFF_THREAD_BYTES / 20));
  big.hash = await bundleHash(big);
  for (const b of [odd, big, { ...odd, version: 9 }, { ...big, version: 9 }]) {
    const text = JSON.stringify(b);
    const got = await parseBundleBody(Buffer.from(text));
    assert.deepEqual(await unpackBundle(got), JSON.parse(text));
    assert.equal(Buffer.from(got.body).toString(), text);
    assert.equal(got.hashOk, b.version !== 9, `version ${b.version}, ${text.length} bytes`);
  }
  for (const text of ["{", "x".repeat(OFF_THREAD_BYTES + 1)]) {
    await assert.rejects(parseBundleBody(Buffer.from(text)), SyntaxError);
  }
});

test("a packed domain list compiles as its items do and is refused for the same problems", async () => {
  const b = bigBundle(20_000);
  const items = b.lists[0]!.items!;
  items.push("", "ü.example", "UPPER.Example", "bad name!", "n7.blocked.example");
  b.hash = await bundleHash(b);
  const parse = () => parseBundleBody(Buffer.from(JSON.stringify(b)));
  const p = await parse();
  assert.equal(p.packed.get(0)?.count, items.length);
  assert.deepEqual(p.bundle.lists[0]?.items, [], "the items travel packed only");
  const one = compileSnapshot(b);
  // A compile takes the packed bytes as the list's arena (it compacts the names in place), so
  // each compile gets a parse of its own, as each apply does.
  const again = await parse();
  for (const snap of [
    await compileSnapshotSliced(p.bundle, {}, p.packed),
    compileSnapshot(again.bundle, {}, again.packed),
  ]) {
    assert.deepEqual(snap.lists.stats, one.lists.stats);
    const set = snap.lists.domains("big")!;
    assert.equal(set.size, one.lists.domains("big")!.size);
    for (const name of ["n0.blocked.example", "n19999.blocked.example", "upper.example"])
      assert.equal(set.has(name), true, name);
    assert.equal(snap.bundle.lists[0]?.items, undefined);
  }
  // Over edge.limits.maxListItems, counted from the packed list.
  const over = await parse();
  await assert.rejects(
    compileSnapshotSliced(over.bundle, { maxListItems: 100 }, over.packed),
    /lists hold 20005 items; this edge accepts at most 100/,
  );
  // An item over the contract's length: the problem checkBundle reports for the items.
  items[17_000] = "x".repeat(1025);
  b.hash = await bundleHash(b);
  const bad = await parse();
  await assert.rejects(compileSnapshotSliced(bad.bundle, {}, bad.packed), (e: unknown) => {
    assert.ok(e instanceof ConfigRejectedError);
    assert.deepEqual(e.problems, checkBundle(b));
    assert.equal(e.problems[0]!.path, "/lists/0/items/17000");
    return true;
  });
});

test("a large body is parsed and applied without one string per name on the main thread", {
  timeout: 120_000,
}, async () => {
  const edge = await startEdge({
    config: { resolver: { upstreams: [] }, locations: [], lists: [], policies: [] },
    log: () => {},
  });
  const b = bigBundle(150_000);
  b.hash = await bundleHash(b);
  const body = Buffer.from(JSON.stringify(b));
  assert.ok(body.byteLength >= OFF_THREAD_BYTES);
  // Every way the main thread could cut the joined text into names, counted (the parser
  // thread has its own String.prototype).
  const proto = String.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const cuts = ["slice", "substring", "split", "substr"] as const;
  const real = cuts.map((k) => proto[k]!);
  let made = 0;
  cuts.forEach((k, i) => {
    proto[k] = function (this: string, ...args: unknown[]) {
      made++;
      return real[i]!.apply(this, args);
    };
  });
  try {
    const p = await parseBundleBody(body);
    assert.equal(p.hashOk, true);
    await edge.apply(p.bundle, p.packed);
  } finally {
    cuts.forEach((k, i) => {
      proto[k] = real[i]!;
    });
  }
  try {
    assert.ok(made < 2_000, `${made} strings cut on the main thread for 150,000 names`);
    assert.equal(edge.snapshot.version, 2);
    assert.equal(edge.snapshot.lists.domains("big")?.size, 150_000);
    assert.equal(edge.snapshot.lists.domains("big")?.has("n149999.blocked.example"), true);
  } finally {
    await edge.close();
  }
});
