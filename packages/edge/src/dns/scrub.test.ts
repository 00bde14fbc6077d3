import assert from "node:assert/strict";
import { test } from "node:test";
import { type ScrubDropReason, scrubAnswer } from "./scrub.ts";
import { RRType } from "./wire/constants.ts";
import type { ResourceRecord } from "./wire/message.ts";

const rr = (name: string, type: number, data: ResourceRecord["data"], cls = 1): ResourceRecord => ({
  name,
  type,
  class: cls,
  ttl: 60,
  data,
});
const soa = rr("example", RRType.SOA, {
  mname: "ns.example",
  rname: "h.example",
  serial: 1,
  refresh: 1,
  retry: 1,
  expire: 1,
  minimum: 1,
});

function run(
  m: Parameters<typeof scrubAnswer>[0],
  name: string,
  type: number = RRType.A,
  dnssec = false,
) {
  const counts = new Map<ScrubDropReason, number>();
  const s = scrubAnswer(m, { name, type, class: 1, do: dnssec }, (r, n) =>
    counts.set(r, (counts.get(r) ?? 0) + n),
  );
  return { s, counts: Object.fromEntries(counts) };
}

test("scrub keeps the question's chain and counts every record it drops", () => {
  const chain = [
    rr("A.Example", RRType.CNAME, "b.example"),
    rr("b.example", RRType.A, "192.0.2.1"),
    rr("victim.other", RRType.A, "203.0.113.1"),
    rr("b.example", RRType.A, "192.0.2.2", 3),
    rr("b.example", RRType.RRSIG, new Uint8Array(4)),
  ];
  const { s, counts } = run(
    {
      rcode: 0,
      answers: chain,
      authorities: [rr("example", RRType.NS, "ns.example")],
      additionals: [rr("ns.example", RRType.A, "192.0.2.53")],
    },
    "a.example",
  );
  assert.deepEqual(s.answers, chain.slice(0, 2));
  assert.deepEqual([s.authorities, s.additionals, s.loop, s.last], [[], [], false, "b.example"]);
  assert.deepEqual(counts, { unrelated: 2, dnssec: 1, authority: 1, additional: 1 });
  // DO=1 keeps the RRSIG on the chain.
  assert.equal(
    run({ rcode: 0, answers: chain, authorities: [], additionals: [] }, "a.example", 1, true).s
      .answers.length,
    3,
  );
});

test("scrub: negative answers keep the SOA (and NSEC only for DO), DNAME, loops", () => {
  const nsec = rr("x.example", RRType.NSEC, new Uint8Array(3));
  const neg = {
    rcode: 3,
    answers: [],
    authorities: [soa, nsec, rr("example", RRType.NS, "ns.example")],
    additionals: [],
  };
  assert.deepEqual(run(neg, "x.example").s.authorities, [soa]);
  assert.deepEqual(run(neg, "x.example", RRType.A, true).s.authorities, [soa, nsec]);
  const dname = [
    rr("d.example", RRType.DNAME, "example"),
    rr("x.d.example", RRType.CNAME, "x.example"),
    rr("x.example", RRType.A, "192.0.2.9"),
  ];
  assert.equal(
    run({ rcode: 0, answers: dname, authorities: [], additionals: [] }, "x.d.example").s.answers
      .length,
    3,
  );
  const loop = [
    rr("l1.example", RRType.CNAME, "l2.example"),
    rr("l2.example", RRType.CNAME, "L1.example"),
  ];
  assert.equal(
    run({ rcode: 0, answers: loop, authorities: [], additionals: [] }, "l1.example").s.loop,
    true,
  );
  // A CNAME question is answered by the CNAME itself, not followed.
  const c = run(
    { rcode: 0, answers: loop, authorities: [], additionals: [] },
    "l1.example",
    RRType.CNAME,
  );
  assert.deepEqual([c.s.answers.length, c.s.loop], [1, false]);
});

test("scrub: a TTL with the top bit set is zero (RFC 2181 §8)", () => {
  const big = { ...rr("a.example", RRType.A, "192.0.2.1"), ttl: 0x80000000 };
  const { s } = run({ rcode: 0, answers: [big], authorities: [], additionals: [] }, "a.example");
  assert.equal(s.answers[0]?.ttl, 0);
});
