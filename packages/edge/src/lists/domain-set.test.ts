import assert from "node:assert/strict";
import { test } from "node:test";
import { DomainSet, DomainSetBuilder, nameHash } from "./domain-set.ts";

// A name's last label is stored as one id byte (the first 128 distinct last labels of a set);
// these tests hold the set to a plain Set of the same names.

/** A seeded generator (the tests are the same on every run). */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
}

function label(r: () => number, len: number): string {
  const chars = "abcdefghijklmnopqrstuvwxyz0123456789-_";
  let s = "";
  for (let i = 0; i < len; i++) s += chars[r() % (i === 0 ? 26 : chars.length)];
  return s;
}

/** 300 distinct TLDs (more than the 128 ids), an IDN one among them. */
const TLDS = ["com", "net", "org", "xn--p1ai", "co", "example", "a"];
for (let i = 0; TLDS.length < 300; i++) TLDS.push(`t${i}x`);

function names(count: number, seed: number): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const tld = TLDS[r() % TLDS.length]!;
    const labels = 1 + (r() % 3);
    const parts: string[] = [];
    for (let l = 0; l < labels; l++) parts.push(label(r, 1 + (r() % 12)));
    out.push(`${parts.join(".")}.${tld}`);
  }
  // Edge cases: one byte, a name equal to a TLD (no dot), 253 bytes, IDN labels.
  out.push("x", "com", "example", "xn--p1ai", "xn--80ak6aa92e.com", "a.a", "b.xn--p1ai");
  const long = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(57)}.com`;
  assert.equal(long.length, 253);
  out.push(long, `${"e".repeat(63)}.${"f".repeat(63)}.${"g".repeat(63)}.${"h".repeat(61)}`);
  return out;
}

/** Names near those held: another TLD, one byte more or less, the TLD alone, a parent. */
function near(n: string): string[] {
  const dot = n.lastIndexOf(".");
  const out = [`${n}x`, n.slice(0, -1), `x${n}`, `${n}.com`];
  if (dot > 0) {
    out.push(n.slice(0, dot), n.slice(dot + 1), `${n.slice(0, dot)}.comx`);
    out.push(`${n.slice(0, dot)}.${n.slice(dot + 1) === "com" ? "net" : "com"}`);
    out.push(`${n.slice(0, dot)}-${n.slice(dot)}`, `${n.slice(0, dot)}${n.slice(dot + 1)}`);
  }
  return out;
}

function check(s: DomainSet, held: Set<string>, probes: Iterable<string>): void {
  for (const q of probes) {
    assert.equal(s.has(q), held.has(q), q);
    // The same name at an offset of a longer value (hasFrom, as suffixAt reads parents).
    assert.equal(s.hasFrom(`zz.${q}`, 3), held.has(q), `zz.${q}`);
  }
}

test("domain set with suffix ids: the same verdicts as a Set, past 128 TLDs, for every name length", () => {
  const all = names(20_000, 1);
  const b = new DomainSetBuilder();
  for (const n of all) b.addString(n);
  for (const n of all.slice(0, 500)) b.addString(n); // duplicates collapse
  const s = b.build();
  const held = new Set(all);
  assert.equal(s.size, held.size);
  check(s, held, all);
  check(s, held, all.flatMap(near));
  check(s, held, names(5000, 2));
  assert.ok(!s.has(""));
  // Suffix ids make the arena smaller than the names' bytes.
  let bytes = 0;
  for (const n of held) bytes += n.length;
  assert.ok(s.byteLength < bytes + held.size * 7, `${s.byteLength} bytes for ${bytes}`);
  // forEachHash gives each held name's nameHash.
  const hashes: number[] = [];
  s.forEachHash((h) => hashes.push(h));
  assert.deepEqual(
    hashes.sort((x, y) => x - y),
    [...held].map((n) => nameHash(n, 0)).sort((x, y) => x - y),
  );
});

test("domain set with suffix ids: names from an adopted source, in shared memory, and excluded names", () => {
  const all = names(3000, 3);
  const src = Buffer.from(`${all.join("\n")}\n`);
  const b = new DomainSetBuilder(undefined, true);
  b.adopt(src);
  let at = 0;
  for (const n of all) {
    b.addBytes(src, at, at + n.length);
    at += n.length + 1;
  }
  const exclude = new Set(all.filter((_, i) => i % 7 === 0));
  const built = b.build(exclude);
  // Another thread's view of the same memory.
  const s = DomainSet.fromShared(structuredClone(built.toShared()));
  const held = new Set(all.filter((n) => !exclude.has(n)));
  assert.equal(s.size, held.size);
  check(s, held, all);
  check(s, held, all.flatMap(near));
});

test("domain set: a name with a byte no name holds is refused (it would read as a suffix id)", () => {
  const b = new DomainSetBuilder();
  b.addString("ok.example");
  assert.throws(() => b.addString("caf\u00e9.example"), RangeError);
  assert.throws(() => b.addBytes(Uint8Array.of(0x61, 0x2e, 0x80), 0, 3), RangeError);
  const s = b.build();
  assert.equal(s.size, 1);
  assert.ok(s.has("ok.example"));
  assert.ok(!s.has("ok.exampl\u0080"));
});
