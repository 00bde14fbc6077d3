// The streaming bundle reader (sync/bundle-stream.ts): a canonical body read in two passes gives
// the same bundle and packed lists as the whole-body parse, whatever chunks it arrives in; the
// hash is checked over the bytes; bodies that are not canonical, damaged or malformed fall back
// to the whole-body parse (which refuses what is not JSON) and are never half-used.
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  BUNDLE_SCHEMA_VERSION,
  bundleHash,
  type ConfigBundle,
  canonicalJson,
} from "@gatehouse/contract";
import { compileSnapshot } from "@gatehouse/edge";
import { compileSharedLists } from "../src/snapshot.ts";
import { bundleParserThreadId, parseAndPack } from "../src/sync/bundle-parse.ts";
import { BundleBuilder, BundleScanner, parseBundleFile } from "../src/sync/bundle-stream.ts";

const dir = await mkdtemp(join(tmpdir(), "gh-bundle-stream-"));
let files = 0;

async function fileOf(text: string | Uint8Array): Promise<string> {
  const path = join(dir, `b${++files}.json`);
  await writeFile(path, text);
  return path;
}

/** A bundle with lists of every kind of item the reader must decode or leave alone. */
function sample(extra: Partial<ConfigBundle> = {}): ConfigBundle {
  return {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    version: 7,
    resolver: { upstreams: [], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
    lists: [
      {
        id: "ads",
        name: "ads",
        type: "domain",
        items: [
          "ads.example",
          "trk.example.org",
          "bücher.example", // raw UTF-8 in the body
          'quote"and\\backslash.example', // escaped in the body
          "tab\there.example",
          "\u00e9t\u00e9.example",
          "emoji-😀.example", // 4 bytes
          "lone-\ud800-surrogate.example", // \ud800 in the body: U+FFFD, as TextEncoder writes it
          "not a domain!!",
          "||*.wild.example^",
        ],
      },
      { id: "one", name: "one", type: "domain", items: ["single.example"] },
      { id: "nl", name: "nl", type: "domain", items: ["a.example", "line\nbreak.example"] },
      { id: "words", name: "words", type: "string", items: ["alpha", "beta", 'gam"ma'] },
      { id: "ports", name: "ports", type: "int", items: [80, 443, "8080"] },
      { id: "nets", name: "nets", type: "ip", items: ["10.0.0.0/8", "192.0.2.1"] },
      { id: "empty", name: "empty", type: "domain", items: [] },
    ],
    policies: [
      {
        id: "p",
        name: "p",
        type: "dns",
        enabled: true,
        precedence: 1,
        expression: "any(dns.domains[*] in $ads)",
        action: "block",
      },
    ],
    ...extra,
  };
}

async function hashed(b: ConfigBundle): Promise<ConfigBundle> {
  b.hash = await bundleHash(b);
  return b;
}

/** What the whole-body parse makes of the same text (the reference). */
async function reference(text: string) {
  const r = await parseAndPack(new TextEncoder().encode(text));
  return {
    bundle: r.bundle,
    hashOk: r.hashOk,
    packed: new Map(r.packed.map((p) => [p.list, Buffer.from(p.bytes).toString("hex")])),
  };
}

/** Both passes over `body` fed in the given pieces. */
function streamed(body: Uint8Array, cuts: number[]) {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts, body.length]) {
    pieces.push(body.subarray(at, c));
    at = c;
  }
  const scanner = new BundleScanner();
  for (const p of pieces) scanner.write(p);
  const scan = scanner.end();
  const builder = new BundleBuilder(scan);
  for (const p of pieces) builder.write(p);
  const built = builder.end();
  return { scan, built };
}

test("a canonical body read in two passes: the same bundle and packed bytes as the whole parse", async () => {
  for (const extra of [{}, { accountId: "acct", createdAt: "2026-01-01T00:00:00Z" }]) {
    // Without accountId/createdAt the hash is the first member; with them, one in the middle.
    const b = await hashed(sample(extra));
    const text = canonicalJson(b);
    const ref = await reference(text);
    assert.equal(ref.hashOk, true);
    const got = await parseBundleFile(await fileOf(text));
    assert.equal(got.streamed, true);
    assert.equal(got.hashOk, true);
    // Domain lists stay packed; the whole parse packs the same lists.
    assert.deepEqual(
      [...got.packed].map(([i, p]) => [i, Buffer.from(p.bytes).toString("hex"), p.count]),
      [...ref.packed]
        .filter(([i]) => b.lists[i]?.type === "domain")
        .map(([i, hex]) => [i, hex, (b.lists[i]?.items ?? []).length]),
    );
    assert.deepEqual([...got.packed.keys()], [0]);
    // Everything else as JSON.parse reads it; packed lists' arrays left empty, the string list
    // (packed in transit) split back into its items.
    const expect = JSON.parse(text) as ConfigBundle;
    (expect.lists[0] as { items: unknown[] }).items = [];
    assert.deepEqual(got.bundle, expect);
  }
});

test("split at every byte boundary (and one byte at a time) the passes give the same result", async () => {
  const b = await hashed(sample({ accountId: "acct" }));
  const body = new TextEncoder().encode(canonicalJson(b));
  const whole = streamed(body, []);
  assert.equal(whole.scan.canonical, true);
  assert.equal(whole.built.digest, b.hash);
  const same = (r: ReturnType<typeof streamed>, what: string) => {
    assert.deepEqual(r.scan, whole.scan, what);
    assert.equal(r.built.skeleton.toString(), whole.built.skeleton.toString(), what);
    assert.equal(r.built.digest, whole.built.digest, what);
    assert.deepEqual(
      r.built.packed.map((p) => [p.list, p.count, Buffer.from(p.bytes).toString("hex")]),
      whole.built.packed.map((p) => [p.list, p.count, Buffer.from(p.bytes).toString("hex")]),
      what,
    );
  };
  for (let cut = 1; cut < body.length; cut++) same(streamed(body, [cut]), `cut at ${cut}`);
  same(
    streamed(
      body,
      Array.from({ length: body.length - 1 }, (_, i) => i + 1),
    ),
    "one byte at a time",
  );
  // Reading the file in small chunks is the same too.
  const path = await fileOf(body);
  for (const chunkBytes of [1, 3, 64]) {
    const got = await parseBundleFile(path, { chunkBytes });
    assert.equal(got.streamed, true);
    assert.equal(got.hashOk, true);
  }
});

test("a damaged canonical body (corrupt digest) is refused: hashOk false", async () => {
  const b = await hashed(sample());
  const text = canonicalJson(b);
  // An item changed after hashing (same length): the bytes no longer match the hash.
  const damaged = text.replace("ads.example", "adz.example");
  const got = await parseBundleFile(await fileOf(damaged));
  assert.equal(got.hashOk, false);
  // A wrong hash value in the body.
  const wrong = text.replace(b.hash!, "0".repeat(64));
  assert.equal((await parseBundleFile(await fileOf(wrong))).hashOk, false);
  // No hash at all.
  const { hash: _h, ...rest } = b;
  assert.equal((await parseBundleFile(await fileOf(canonicalJson(rest)))).hashOk, false);
});

test("a body that is not canonical is read whole: the hash is checked over its content", async () => {
  const b = await hashed(sample());
  // As a control before canonical bodies sent it: JSON.stringify, the hash member last.
  for (const text of [JSON.stringify(b), JSON.stringify(b, null, 2)]) {
    const got = await parseBundleFile(await fileOf(text));
    assert.equal(got.streamed, false);
    assert.equal(got.hashOk, true);
    assert.equal(got.bundle.version, 7);
    assert.deepEqual([...got.packed.keys()], [0]);
  }
});

test("what is not JSON is refused (SyntaxError), however it is cut", async () => {
  const text = canonicalJson(await hashed(sample()));
  for (const bad of [
    text.slice(0, text.length >> 1),
    text.slice(0, text.indexOf('"items":[') + 20),
    `${text}}`,
    `${text}x`,
    "",
    '{"lists":[{"items":["a","b',
    '{"a":"\\',
    "[[[[",
    "]]]}}",
    // Nested far deeper than any bundle: not tracked, left to the whole-body parse.
    `{"a":${"[".repeat(200_000)}`,
  ]) {
    await assert.rejects(parseBundleFile(await fileOf(bad)), SyntaxError, bad.slice(-40));
  }
});

test("a body nested deeper than any bundle is read whole, its hash checked there", async () => {
  const b = sample() as ConfigBundle & { deep?: unknown };
  b.deep = JSON.parse(`${"[".repeat(100)}1${"]".repeat(100)}`);
  await hashed(b);
  const got = await parseBundleFile(await fileOf(canonicalJson(b)));
  assert.equal(got.streamed, false);
  assert.equal(got.hashOk, true);
  assert.deepEqual([...got.packed.keys()], [0]);
});

test("a large rest of the bundle (identities) is parsed off the event loop; lists still streamed", async () => {
  const b = sample();
  b.identities = {
    users: Array.from({ length: 40_000 }, (_, i) => ({
      id: `u${i}`,
      email: `user${i}@example.com`,
    })),
    devices: [],
  };
  await hashed(b);
  const got = await parseBundleFile(await fileOf(canonicalJson(b)));
  assert.equal(got.streamed, true);
  assert.equal(got.hashOk, true);
  assert.equal(got.bundle.identities?.users.length, 40_000);
  assert.deepEqual([...got.packed.keys()], [0]);
  assert.deepEqual(got.bundle.lists[3]?.items, ["alpha", "beta", 'gam"ma']);
  assert.notEqual(bundleParserThreadId(), undefined, "the parser thread ran");
});

test("lists that cannot be packed keep their items: non-strings, a newline, fewer than two", async () => {
  const b = await hashed(sample());
  const got = await parseBundleFile(await fileOf(canonicalJson(b)));
  assert.equal(got.streamed, true);
  assert.deepEqual(got.bundle.lists[1]?.items, ["single.example"]);
  assert.deepEqual(got.bundle.lists[2]?.items, ["a.example", "line\nbreak.example"]);
  assert.deepEqual(got.bundle.lists[4]?.items, [80, 443, "8080"]);
  assert.deepEqual(got.bundle.lists[5]?.items, ["10.0.0.0/8", "192.0.2.1"]);
  assert.deepEqual(got.bundle.lists[3]?.items, ["alpha", "beta", 'gam"ma']);
  assert.deepEqual(got.bundle.lists[6]?.items, []);
});

test("a malformed item is counted by the compile, not fatal; the packed names match", async () => {
  const b = await hashed(sample());
  const got = await parseBundleFile(await fileOf(canonicalJson(b)));
  const snap = compileSnapshot(got.bundle, {}, got.packed);
  const ads = snap.lists.stats.find((s) => s.name === "ads");
  assert.ok(ads);
  assert.ok(ads.rejected >= 1, `rejected ${ads.rejected}`);
  const set = snap.lists.domains("ads");
  assert.ok(set?.has("ads.example"));
  assert.ok(set?.has("trk.example.org"));
});

test("the packed lists' buffers come from the caller's allocator, each sized exactly", async () => {
  const b = await hashed(sample());
  const sizes: number[] = [];
  const got = await parseBundleFile(await fileOf(canonicalJson(b)), {
    allocate: (n) => {
      sizes.push(n);
      return new Uint8Array(new SharedArrayBuffer(n));
    },
  });
  assert.equal(got.hashOk, true);
  const p = got.packed.get(0)!;
  assert.ok(p.bytes.buffer instanceof SharedArrayBuffer);
  const items = b.lists[0]!.items as string[];
  assert.equal(p.bytes.length, new TextEncoder().encode(items.join("\n")).length);
  assert.ok(sizes.includes(p.bytes.length));
});

test("items decoded into shared memory become the shared list's arena without a copy", async () => {
  const b = sample();
  // A plain list: every name kept, so the arena stays nearly full and is adopted as it is.
  b.lists = [
    {
      id: "big",
      name: "ads",
      type: "domain",
      items: Array.from({ length: 5000 }, (_, i) => `n${i}.example`),
    },
  ];
  await hashed(b);
  const got = await parseBundleFile(await fileOf(canonicalJson(b)), {
    allocate: (n) => new Uint8Array(new SharedArrayBuffer(n)),
  });
  assert.equal(got.streamed, true);
  const sab = got.packed.get(0)!.bytes.buffer;
  const shared = await compileSharedLists(got.bundle, {}, got.packed);
  const set = shared.lists.get(0)!.list.block;
  assert.equal(set.size, 5000);
  assert.equal(set.arena.buffer, sab, "the decoded items' buffer is the arena");
});
