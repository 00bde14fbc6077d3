// Cache hits written from the entry's kept encoding (dns/stages/wire-answer.ts): every answer the
// pipeline sends must be byte for byte what encoding its finalized message gives — for each
// letter case of the question, EDNS state, DO, AD and CD bit, size limit, transport, age of the
// entry (TTLs aged, a record's TTL run out) and an entry's EDE — whichever path wrote it.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { bundleOfEdgeConfig, type EdgeConfigFile } from "@gatehouse/contract";
import { type CacheEntry, wireAnswerBytes } from "../src/dns/cache/dns-cache.ts";
import { DnsService } from "../src/dns/dns-service.ts";
import { type ClientInfo, type DnsExchange, newExchange } from "../src/dns/exchange.ts";
import { EdnsOption, RRType } from "../src/dns/wire/constants.ts";
import { decodeMessage, encodeMessage } from "../src/dns/wire/message.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import {
  a,
  bigTxt,
  buildQuery,
  type FakeUpstream,
  type FakeZoneEntry,
  type QueryOptions,
  startFakeUpstream,
} from "./dns-helpers.ts";

let up: FakeUpstream;
const zone = new Map<string, FakeZoneEntry>([
  ["plain.example/1", { answers: [a("plain.example", "192.0.2.1", 600)] }],
  [
    "www.example/1",
    {
      answers: [
        { name: "www.example", type: RRType.CNAME, class: 1, ttl: 900, data: "cdn.example.net" },
        a("cdn.example.net", "192.0.2.7", 600),
        a("cdn.example.net", "192.0.2.8", 600),
      ],
    },
  ],
  ["signed.example/1", { answers: [a("signed.example", "192.0.2.9", 600)], ad: true }],
  ["big.example/16", bigTxt("big.example")],
]);

function config(perClient: boolean): EdgeConfigFile {
  return {
    resolver: {
      upstreams: [{ address: up.address }],
      rateLimit: false,
      dnssec: { validate: false },
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
    lists: [],
    policies: perClient
      ? [
          {
            id: "src",
            name: "src",
            type: "dns",
            enabled: true,
            precedence: 1,
            // Reads the source address: the packet cache cannot keep these answers.
            expression: "dns.src_ip in {192.0.2.0/24}",
            action: "block",
          },
        ]
      : [],
  };
}

before(async () => {
  up = await startFakeUpstream(zone);
});
after(async () => {
  await up.close();
});

const udp: ClientInfo = { transport: "udp", ip: "127.0.0.1", port: 5353 };

async function run(svc: DnsService, raw: Buffer, client = udp): Promise<DnsExchange> {
  const ex = newExchange(svc.runtime, raw, client);
  await svc.pipeline.run(ex);
  return ex;
}

/** The answer is what encoding its finalized message gives (the encoder is the reference). */
function assertEncoded(ex: DnsExchange, what: string): void {
  assert.ok(ex.out && ex.response, what);
  const reference = encodeMessage(ex.response, { maxSize: ex.maxSize });
  assert.deepEqual(ex.out, reference, what);
}

/** Store `e`'s answer again as if fetched `seconds` ago (the entry's age on its next hit). */
function backdate(svc: DnsService, key: string, seconds: number): void {
  const cache = svc.shared.cache;
  const e = cache.peek(key);
  assert.ok(e);
  cache.store(key, e, Date.now() - seconds * 1000);
}

const variants: [string, QueryOptions][] = [
  ["no EDNS", { edns: false }],
  ["EDNS", {}],
  ["EDNS, 512", { udpSize: 512 }],
  ["DO", { do: true }],
  ["AD", { ad: true }],
  ["AD, DO", { ad: true, do: true }],
  ["CD", { cd: true }],
  ["RD=0", { rd: false }],
];
// nx.example is not in the zone: NXDOMAIN with the SOA in the authority section.
const cases = [
  "plain.example",
  "PLAIN.example",
  "pLaIn.ExAmPlE",
  "www.example",
  "WWW.Example",
  "nX.example",
];

test("hits written from the kept encoding are byte for byte the encoder's, at any age", async () => {
  const svc = new DnsService(compileSnapshot(bundleOfEdgeConfig(config(true))), {
    log: new QueryLog(),
  });
  try {
    let fromWire = 0;
    for (const age of [0, 3, 7, 550]) {
      for (const [label, o] of variants)
        for (const name of cases) {
          const ex = await run(svc, buildQuery(name, o));
          assertEncoded(ex, `${name} ${label} age ${age}`);
          if (ex.wire !== undefined) fromWire++;
          if (age > 0 && ex.cache === "hit" && ex.cacheKey) backdate(svc, ex.cacheKey, age);
        }
      // The same queries again, now hits at this age (the first round stored them).
      for (const [label, o] of variants)
        for (const name of cases) {
          const ex = await run(svc, buildQuery(name, o));
          assertEncoded(ex, `${name} ${label} again, age ${age}`);
          if (ex.wire !== undefined) fromWire++;
        }
    }
    assert.ok(fromWire > 100, `hits from kept bytes: ${fromWire}`);
    // TTLs aged by the entry's age (100 s or a little more); one that ran out (an additional
    // record held for 5 s, as only a stored answer has) is 0, never below.
    const first = await run(svc, buildQuery("www.example"));
    const key = first.cacheKey;
    assert.ok(key);
    const e = svc.shared.cache.peek(key) as CacheEntry;
    const extra = {
      authorities: [
        { name: "example.net", type: RRType.NS, class: 1, ttl: 3600, data: "ns.example.net" },
      ],
      additionals: [a("ns.example.net", "192.0.2.53", 5)],
    };
    svc.shared.cache.store(key, { ...e, ...extra }, Date.now() - 100_000);
    for (let i = 0; i < 2; i++) {
      const ex = await run(svc, buildQuery("wWw.example"));
      assertEncoded(ex, `aged #${i}`);
      assert.ok(ex.wire !== undefined && ex.out);
      const age = ex.wire.age;
      assert.ok(age >= 100, `age ${age}`);
      const m = decodeMessage(ex.out);
      assert.equal(m.questions[0]?.name, "wWw.example");
      assert.deepEqual(
        [...m.answers, ...m.authorities, ...m.additionals].map((r) => r.ttl),
        [900, 600, 600, 3600, 5].map((t) => Math.max(t - age, 0)),
      );
    }
  } finally {
    svc.close();
  }
});

test("kept encodings: AD from a vouched answer, an entry's EDE, truncation, NSID and transports", async () => {
  const svc = new DnsService(compileSnapshot(bundleOfEdgeConfig(config(true))), {
    log: new QueryLog(),
    nsid: "edge-1",
  });
  try {
    const clients: ClientInfo[] = [
      udp,
      { transport: "tcp", ip: "127.0.0.1", port: 5353 },
      { transport: "internal", ip: "127.0.0.1", port: 0 },
    ];
    const opts: [string, QueryOptions][] = [
      ...variants,
      ["NSID", { ednsOptions: [{ code: EdnsOption.NSID, data: new Uint8Array(0) }] }],
    ];
    for (const client of clients)
      for (const [label, o] of opts) {
        for (const [name, type] of [
          ["signed.example", RRType.A],
          ["Big.Example", RRType.TXT],
        ] as const)
          for (let i = 0; i < 2; i++) {
            const ex = await run(svc, buildQuery(name, { ...o, type }), client);
            assertEncoded(ex, `${name} ${label} ${client.transport} #${i}`);
            if (o.ednsOptions) assert.equal(ex.wire, undefined, "NSID: encoded");
          }
      }
    // An entry with an EDE of its own (27, as the validator keeps one) carries it either way.
    const first = await run(svc, buildQuery("plain.example"));
    const key = first.cacheKey;
    assert.ok(key);
    const e = svc.shared.cache.peek(key) as CacheEntry;
    svc.shared.cache.store(key, { ...e, ede: 27 }, Date.now() - 2000);
    for (let i = 0; i < 3; i++) {
      const ex = await run(svc, buildQuery("Plain.Example"));
      assertEncoded(ex, `EDE #${i}`);
      assert.ok(ex.wire !== undefined);
      assert.equal(ex.record?.ede, 27);
    }
  } finally {
    svc.close();
  }
});

test("the kept encoding counts in the cache's bytes; none is kept where the packet cache answers", async () => {
  const svc = new DnsService(compileSnapshot(bundleOfEdgeConfig(config(true))), {
    log: new QueryLog(),
  });
  const memo = new DnsService(compileSnapshot(bundleOfEdgeConfig(config(false))), {
    log: new QueryLog(),
  });
  try {
    const ex0 = await run(svc, buildQuery("plain.example"));
    const cache = svc.shared.cache;
    const key = ex0.cacheKey;
    assert.ok(key);
    const bytes0 = cache.bytes;
    const entryBytes0 = cache.peek(key)?.bytes ?? 0;
    const ex1 = await run(svc, buildQuery("plain.example"));
    assert.ok(ex1.wire !== undefined);
    const e = cache.peek(key);
    assert.ok(e?.wire);
    const kept = wireAnswerBytes(e.wire);
    assert.equal(cache.bytes, bytes0 + kept);
    assert.equal(e.bytes, entryBytes0 + kept);
    // Another EDNS state replaces the kept bytes; the count follows.
    await run(svc, buildQuery("plain.example", { edns: false }));
    const w2 = cache.peek(key)?.wire;
    assert.ok(w2 && w2.edns === 0);
    assert.equal(cache.bytes, bytes0 + wireAnswerBytes(w2));

    await run(memo, buildQuery("plain.example"));
    const ex2 = await run(memo, buildQuery("plain.example"));
    assert.equal(ex2.wire, undefined);
    assert.equal(ex2.cacheKey && memo.shared.cache.peek(ex2.cacheKey)?.wire, undefined);
    // DoH is never kept by the packet cache: the hit is written from kept bytes.
    const doh = await run(memo, buildQuery("plain.example"), {
      transport: "doh",
      ip: "127.0.0.1",
      port: 443,
    });
    assert.ok(doh.wire !== undefined);
    assertEncoded(doh, "doh");
  } finally {
    svc.close();
    memo.close();
  }
});
