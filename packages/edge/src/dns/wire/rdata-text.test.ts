import assert from "node:assert/strict";
import { test } from "node:test";
import { RRType } from "./constants.ts";
import type { ResourceRecord } from "./message.ts";
import { ANSWER_TEXT_MAX, answerText } from "./rdata-text.ts";

const rr = (type: number, data: ResourceRecord["data"]): ResourceRecord => ({
  name: "x.example",
  type,
  class: 1,
  ttl: 60,
  data,
});

test("answerText: CNAME chain apart, signatures left out, other records as TYPE data", () => {
  assert.deepEqual(
    answerText([
      rr(RRType.CNAME, "b.example"),
      rr(RRType.CNAME, "c.example"),
      rr(RRType.A, "192.0.2.1"),
      rr(RRType.RRSIG, new Uint8Array(8)),
      rr(RRType.MX, { preference: 10, exchange: "mx.example" }),
    ]),
    { cnames: "b.example. c.example.", answer: "A 192.0.2.1, MX 10 mx.example." },
  );
  assert.deepEqual(answerText([]), { answer: undefined, cnames: undefined });
});

test("answerText is bounded: 16 records, then a count; long RDATA cut", () => {
  const many = Array.from({ length: 40 }, (_, i) => rr(RRType.A, `192.0.2.${i}`));
  const t = answerText(many);
  assert.equal(t.answer?.split(", ").length, 17);
  assert.match(t.answer ?? "", /, … \+24 more$/);
  const long = Array.from({ length: 16 }, () => rr(RRType.TXT, [new Uint8Array(255).fill(97)]));
  const l = answerText(long);
  assert.ok((l.answer?.length ?? 0) <= ANSWER_TEXT_MAX, `${l.answer?.length}`);
  assert.match(l.answer ?? "", /\+\d+ more$/);
  const chain = Array.from({ length: 100 }, (_, i) =>
    rr(RRType.CNAME, `${"a".repeat(60)}${i}.example`),
  );
  assert.ok((answerText(chain).cnames?.length ?? 0) <= ANSWER_TEXT_MAX);
});
