// Packet-cache hits answered in C (native/udp_batch.c `fastStore`, dns/server/udp-batch.ts):
// after the fast path answers a repeat, the addon answers the next ones itself — with the
// query's ID and question case, TTLs aged, never past expiry, never from the copies of a
// runtime swapped out, never to a source JavaScript has not answered from the cache (another
// location, an unknown client, a rate-limited configuration) — and every such answer is in the
// query log as a cache hit.

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConfigBundle } from "@gatehouse/contract";
import { DnsService } from "../src/dns/dns-service.ts";
import { batchAddon, listenUdpBatch } from "../src/dns/server/udp-batch.ts";
import { RRType } from "../src/dns/wire/constants.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { edgeRegistry } from "../src/telemetry/metrics.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { a, buildQuery, startFakeUpstream, udpRaw } from "./dns-helpers.ts";

const lib = batchAddon();
const skip = lib ? false : "udp_batch addon not built (no C compiler at install time)";

/** `limit`: false, none; true, the default per-source limit; an object, that limit. */
type Limit = boolean | { queriesPerSecond: number; burst: number; action: "refuse" | "drop" };

function bundle(
  upstream: string,
  extra: Partial<ConfigBundle> = {},
  limit: Limit = false,
): ConfigBundle {
  return {
    schemaVersion: 1,
    version: 1,
    resolver: {
      upstreams: [{ address: upstream }],
      dnssec: { validate: false },
      ...(limit === false ? { rateLimit: false } : limit === true ? {} : { rateLimit: limit }),
    },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.1/32"] }],
    lists: [],
    policies: [],
    ...extra,
  } as ConfigBundle;
}

const ZONE = new Map([
  ["long.example/1", { answers: [a("long.example", "192.0.2.1", 300)] }],
  ["short.example/1", { answers: [a("short.example", "192.0.2.2", 1)] }],
  ["other.example/1", { answers: [a("other.example", "192.0.2.3", 300)] }],
]);

async function setup(limit: Limit = false) {
  const up = await startFakeUpstream(ZONE);
  const log = new QueryLog(1000);
  const svc = new DnsService(compileSnapshot(bundle(up.address, {}, limit)), { log });
  const u = listenUdpBatch(lib!, svc, "127.0.0.1", 0, false);
  const ask = async (name: string, id: number, from?: string) => {
    const r = await udpRaw(u.port, buildQuery(name, { id }), from ? { from } : {});
    assert.ok(r, `${name}: answered`);
    return r;
  };
  const done = async () => {
    await u.close();
    svc.close();
    await up.close();
  };
  return { up, log, svc, u, ask, done };
}

test("repeats are answered in C with the query's ID and case, TTLs aged, and logged", {
  skip,
}, async () => {
  const { up, log, u, ask, done } = await setup();
  try {
    let sent = 0;
    await ask("long.example", 1); // the pipeline (a miss)
    await ask("long.example", 2); // the fast path in JavaScript: copied to C
    sent += 2;
    assert.equal(u.answeredInC(), 0);
    for (let i = 0; i < 5; i++) {
      const r = await ask("LoNg.ExAmPlE", 100 + i);
      sent++;
      assert.equal(r.readUInt16BE(0), 100 + i, "the query's ID");
      const m = decodeMessage(r);
      assert.equal(m.questions[0]!.name, "LoNg.ExAmPlE", "the question as asked");
      assert.equal(m.answers[0]!.data, "192.0.2.1");
      assert.ok(m.rd, "RD copied");
    }
    assert.equal(u.answeredInC(), 5);
    assert.equal(up.counts.get("long.example"), 1, "the upstream was asked once");
    // A second later the TTL has aged.
    await sleep(1100);
    const aged = decodeMessage(await ask("long.example", 200));
    sent++;
    assert.equal(u.answeredInC(), 6);
    assert.ok(aged.answers[0]!.ttl <= 299, `aged TTL ${aged.answers[0]!.ttl}`);
    // Every answer is in the log: a read publishes the hit records not yet drained (the drain
    // runs at the latest 2 ms after an answer, and at close).
    const records = log.peekNewest(100);
    assert.equal(records.length, sent, "one record per query");
    const fromC = records.slice(0, 6);
    for (const r of fromC) {
      assert.equal(r.cache, "hit");
      assert.equal(r.client, "127.0.0.1");
      assert.equal(r.transport, "udp");
      assert.equal(r.qname, "long.example");
      assert.equal(r.location, "lo");
      assert.equal(r.action, "allow");
    }
    assert.equal(new Set(records.map((r) => r.id)).size, sent, "distinct record ids");
    // The metrics count them as cache hits, and as answers from the copies.
    const text = await edgeRegistry().metrics();
    const hits = /^gatehouse_dns_cache_lookups_total\{result="hit"\} (\d+)/m.exec(text);
    assert.ok(hits && Number(hits[1]) >= 6, text);
    const inC = /^gatehouse_dns_udp_answered_in_c_total (\d+)/m.exec(text);
    assert.ok(inC && Number(inC[1]) >= 6, text);
  } finally {
    await done();
  }
});

test("an expired copy is not answered from: the pipeline asks the upstream again", {
  skip,
}, async () => {
  const { up, u, ask, done } = await setup();
  try {
    await ask("short.example", 1);
    await ask("short.example", 2);
    await ask("short.example", 3);
    assert.equal(u.answeredInC(), 1);
    await sleep(1100); // past the 1 s TTL
    const r = decodeMessage(await ask("short.example", 4));
    assert.equal(r.answers[0]!.data, "192.0.2.2");
    assert.equal(u.answeredInC(), 1, "not from the expired copy");
    assert.equal(up.counts.get("short.example"), 2);
  } finally {
    await done();
  }
});

test("a config swap forgets the copies: a new block policy applies at once", {
  skip,
}, async () => {
  const { up, svc, u, ask, done } = await setup();
  try {
    await ask("other.example", 1);
    await ask("other.example", 2);
    await ask("other.example", 3);
    assert.equal(u.answeredInC(), 1);
    svc.activate(
      svc.prepare(
        compileSnapshot(
          bundle(up.address, {
            version: 2,
            policies: [
              {
                id: "p",
                name: "Block other",
                type: "dns",
                enabled: true,
                precedence: 1,
                expression: 'dns.fqdn == "other.example"',
                action: "block",
              },
            ],
          } as Partial<ConfigBundle>),
        ),
      ),
    );
    const blocked = decodeMessage(await ask("other.example", 4));
    assert.equal(blocked.answers[0]?.data, "0.0.0.0", "the new policy's answer");
    assert.equal(u.answeredInC(), 1);
  } finally {
    await done();
  }
});

test("a known source's over-long names are refused by the C parse and the socket keeps answering", {
  skip,
}, async () => {
  const { u, ask, done } = await setup();
  try {
    await ask("long.example", 1);
    await ask("long.example", 2); // copied to C: 127.0.0.1 is a known source now
    // Names whose wire form passes 255 octets, the last label starting at every offset from 192
    // to 255 and as long as a label may be: the parse must refuse each before it copies the
    // label (the copy's buffer holds 255 octets of name).
    for (let start = 192; start <= 255; start++) {
      // `start` octets of one- and two-letter labels, then a label of 63.
      const parts: number[] = [];
      let rest = start;
      if (rest % 2 === 1) {
        parts.push(2, 0x61, 0x61);
        rest -= 3;
      }
      for (; rest > 0; rest -= 2) parts.push(1, 0x61);
      parts.push(63, ...new Array<number>(63).fill(0x62), 0);
      const q = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...parts, 0, 1, 0, 1]);
      await udpRaw(u.port, q, { timeoutMs: 200 });
    }
    const before = u.answeredInC();
    const r = await ask("long.example", 77);
    assert.equal(r.readUInt16BE(0), 77);
    assert.equal(decodeMessage(r).answers[0]!.data, "192.0.2.1");
    assert.equal(u.answeredInC(), before + 1, "still answered in C");
  } finally {
    await done();
  }
});

test("mutated queries from a known source (fuzz): the C parse never crashes, answers stay right", {
  skip,
}, async () => {
  const { u, ask, done } = await setup();
  const s = createSocket("udp4");
  try {
    await ask("long.example", 1);
    await ask("long.example", 2); // copied to C: 127.0.0.1 is a known source now
    const base = buildQuery("long.example", { id: 9 });
    // A fixed seed: a failure is reproducible.
    let seed = 0x2545f491;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 100; k++) {
        // Flip bytes (length octets included), cut or extend the datagram.
        let q = Buffer.from(base);
        for (let f = rnd(4); f >= 0; f--) q[rnd(q.length)] = rnd(256);
        const shape = rnd(8);
        if (shape < 2) q = q.subarray(0, rnd(q.length));
        else if (shape === 2) q = Buffer.concat([q, Buffer.alloc(rnd(400), rnd(256))]);
        s.send(q, u.port, "127.0.0.1");
      }
      await sleep(5);
    }
    await sleep(50);
    const before = u.answeredInC();
    const r = await ask("long.example", 78);
    assert.equal(r.readUInt16BE(0), 78);
    assert.equal(decodeMessage(r).answers[0]!.data, "192.0.2.1");
    assert.equal(u.answeredInC(), before + 1, "still answered in C");
  } finally {
    s.close();
    await done();
  }
});

test("sources JavaScript has not answered from the cache are not answered in C", {
  skip,
}, async () => {
  const { u, ask, done } = await setup();
  try {
    await ask("long.example", 1);
    await ask("long.example", 2);
    await ask("long.example", 3);
    assert.equal(u.answeredInC(), 1);
    // 127.0.0.2 is in no location: refused, whatever 127.0.0.1's copies hold.
    const r = await ask("long.example", 4, "127.0.0.2");
    assert.equal(r[3]! & 0x0f, 5, "REFUSED");
    assert.equal(u.answeredInC(), 1);
    // A query the fast path does not take (AAAA is another key) is not answered from A's copy.
    const q = decodeMessage(
      (await udpRaw(u.port, buildQuery("long.example", { id: 5, type: RRType.AAAA })))!,
    );
    assert.equal(q.answers.length, 0);
    assert.equal(u.answeredInC(), 1);
  } finally {
    await done();
  }
});

test("with the default per-source rate limit repeats are answered in C and logged", {
  skip,
}, async () => {
  const { u, log, ask, done } = await setup(true);
  try {
    for (let i = 0; i < 6; i++) {
      const r = await ask("long.example", i);
      assert.equal(r[3]! & 0x0f, 0, "NOERROR");
    }
    assert.equal(u.answeredInC(), 4);
    assert.equal(log.peekNewest(100).length, 6);
  } finally {
    await done();
  }
});

test("the C answers spend the source's rate limit: past its burst it is refused, every query logged", {
  skip,
}, async () => {
  const burst = 20;
  // One query a minute refills nothing during the test: exactly `burst` answers, whoever gives them.
  const { u, log, svc, ask, done } = await setup({ queriesPerSecond: 1, burst, action: "refuse" });
  try {
    const rcodes: number[] = [];
    for (let i = 0; i < 40; i++) rcodes.push((await ask("long.example", i))[3]! & 0x0f);
    const answered = rcodes.filter((r) => r === 0).length;
    assert.equal(answered, burst, `answered ${answered} of 40: ${rcodes.join(",")}`);
    assert.deepEqual(rcodes.slice(burst), new Array(40 - burst).fill(5), "REFUSED after the burst");
    assert.equal(u.answeredInC(), burst - 2, "every repeat within the burst answered in C");
    const records = log.peekNewest(100);
    assert.equal(records.length, 40, "one record per query");
    // JavaScript's bucket was charged for the C answers: it is empty too, so this source stays
    // refused whichever path sees its next query.
    const left = svc.runtime.limiter?.tokens("127.0.0.1", Date.now());
    assert.ok(left !== undefined && left < 1, `tokens left ${left}`);
    const again = await ask("long.example", 99);
    assert.equal(again[3]! & 0x0f, 5, "still refused");
  } finally {
    await done();
  }
});

test("IPv6 and dual-stack sources are answered in C and logged with node:dgram's address text", {
  skip,
}, async () => {
  const up = await startFakeUpstream(ZONE);
  const log = new QueryLog(100);
  const svc = new DnsService(
    compileSnapshot({
      ...bundle(up.address),
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8", "::1/128"] }],
    }),
    { log },
  );
  const ask = (port: number, family: "udp4" | "udp6", to: string, id: number) =>
    new Promise<Buffer>((resolve, reject) => {
      const s = createSocket(family);
      const t = setTimeout(() => {
        s.close();
        reject(new Error(`no answer from ${to}`));
      }, 2000);
      s.on("message", (m) => {
        clearTimeout(t);
        s.close();
        resolve(m);
      });
      s.send(buildQuery("long.example", { id }), port, to);
    });
  const v6 = listenUdpBatch(lib!, svc, "::1", 0, false);
  const dual = listenUdpBatch(lib!, svc, "::ffff:127.0.0.1", 0, false);
  try {
    for (let i = 0; i < 4; i++) {
      assert.equal((await ask(v6.port, "udp6", "::1", i)).readUInt16BE(0), i);
      assert.equal((await ask(dual.port, "udp4", "127.0.0.1", 100 + i)).readUInt16BE(0), 100 + i);
    }
    // The first socket's second and later queries, and the second socket's (the entry was
    // stored by then) after its first, which copied it there.
    assert.equal(v6.answeredInC(), 2);
    assert.equal(dual.answeredInC(), 3);
    // Drained by the timer, without a read asking for it: the log holds all eight by then.
    await sleep(50);
    assert.equal(log.size, 8);
    const clients = log.peekNewest(8).map((r) => r.client);
    assert.deepEqual([...new Set(clients)].sort(), ["::1", "::ffff:127.0.0.1"]);
  } finally {
    await v6.close();
    await dual.close();
    svc.close();
    await up.close();
  }
});
