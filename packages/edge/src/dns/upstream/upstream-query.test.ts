import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMessage, emptyMessage, encodeMessage } from "../wire/message.ts";
import { matchesQuestion, sameQuestion } from "./transports.ts";
import { buildUpstreamQuery } from "./upstream-query.ts";

const NAMES = [
  "",
  "a",
  "example.com",
  "www.Example.COM",
  `${"x".repeat(63)}.com`,
  "a.b.c.d.e.f.g",
  "_dmarc.mail-1.test",
  "ü.com",
];

/** The general encoder's bytes for the same query (what the direct writer must reproduce). */
function reference(name: string, id: number, edns: boolean, d: boolean, cd: boolean): Buffer {
  const m = emptyMessage(id);
  m.rd = true;
  m.cd = cd;
  m.questions.push({ name, type: 28, class: 1 });
  if (edns) m.edns = { udpSize: 1232, version: 0, extRcode: 0, do: d, z: 0, options: [] };
  return encodeMessage(m);
}

test("an upstream query is written byte for byte as the message encoder writes it", () => {
  for (const name of NAMES)
    for (const edns of [true, false])
      for (const d of [true, false])
        for (const cd of [true, false]) {
          const { wire, expect } = buildUpstreamQuery(
            { name, type: 28, class: 1, do: d, cd },
            edns,
            false,
          );
          assert.deepEqual(wire, reference(name, expect.id, edns, d, cd), name);
          assert.equal(expect.name, name);
          assert.equal(expect.exactCase, false);
        }
});

test("with 0x20 the name's letter case is random, and expect.name is what was sent", () => {
  const name = "abcdefghijklmnopqrstuvwxyz.abcdefghijklmnopqrstuvwxyz.example";
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const { wire, expect } = buildUpstreamQuery(
      { name, type: 1, class: 1, do: false, cd: false },
      true,
      true,
    );
    assert.equal(decodeMessage(wire).questions[0]?.name, expect.name);
    assert.equal(expect.name.toLowerCase(), name);
    assert.equal(expect.exactCase, true);
    seen.add(expect.name);
  }
  assert.ok(seen.size > 15, "case differs between queries");
});

test("names the direct writer does not take go to the encoder: escapes pass, bad labels throw", () => {
  const q = (name: string) =>
    buildUpstreamQuery({ name, type: 1, class: 1, do: false, cd: false }, true, false);
  assert.equal(decodeMessage(q("a\\.b.com").wire).questions[0]?.name, "a\\.b.com");
  assert.throws(() => q("a..b"), /empty label/);
  assert.throws(() => q(`${"x".repeat(64)}.com`), /longer than 63/);
  assert.throws(() => q(`${"abcdefg.".repeat(40)}com`), /longer than 255/);
});

test("sameQuestion: the echoed question by its bytes, case exact with 0x20; else matchesQuestion decides", () => {
  const { wire, expect } = buildUpstreamQuery(
    { name: "www.example.com", type: 1, class: 1, do: false, cd: false },
    true,
    true,
  );
  const reply = Buffer.from(wire);
  reply[2] = reply[2]! | 0x80;
  assert.ok(sameQuestion(reply, wire, expect));
  // Not a reply (QR clear), another ID, another type: refused.
  assert.ok(!sameQuestion(wire, wire, expect));
  const otherId = Buffer.from(reply);
  otherId[0] = otherId[0]! ^ 0xff;
  assert.ok(!sameQuestion(otherId, wire, expect));
  const otherType = Buffer.from(reply);
  otherType[12 + 17 + 1] = 28;
  assert.ok(!sameQuestion(otherType, wire, expect));
  // The case not echoed: refused with 0x20, accepted without.
  const lower = Buffer.from(reply);
  for (let i = 12; i < 12 + 17; i++) if (lower[i]! >= 0x41 && lower[i]! <= 0x5a) lower[i]! |= 0x20;
  const flipped = lower.equals(reply) ? undefined : lower;
  if (flipped) {
    assert.ok(!sameQuestion(flipped, wire, expect));
    assert.ok(sameQuestion(flipped, wire, { ...expect, exactCase: false }));
    assert.ok(!matchesQuestion(flipped, expect));
  }
  // Whatever sameQuestion accepts, matchesQuestion accepts too.
  for (const r of [reply, lower])
    for (const exactCase of [true, false])
      if (sameQuestion(r, wire, { ...expect, exactCase }))
        assert.ok(matchesQuestion(r, { ...expect, exactCase }));
});
