import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { ADS_BLOCK, a, buildQuery, startFakeUpstream } from "../../test/dns-helpers.ts";
import { compileSnapshot } from "../snapshot.ts";
import { dnsMetrics } from "../telemetry/metrics.ts";
import { createOpLogger } from "../telemetry/op-log.ts";
import type { RecordTemplate } from "../telemetry/query-log.ts";
import { QueryLog } from "../telemetry/query-log.ts";
import { RequestLog } from "../telemetry/request-log.ts";
import { DnsService } from "./dns-service.ts";
import {
  PACKET_ENTRY_BYTES,
  PacketCache,
  type PacketEntry,
  packetEntryBytes,
  parseFastQuery,
} from "./packet-cache.ts";
import { decodeMessage } from "./wire/message.ts";

/** A config with one location (127.0.0.1) and a policy blocking the names on list "ads". */
function adsSnapshot(upstream: string) {
  return compileSnapshot({
    schemaVersion: 1,
    version: 1,
    resolver: { upstreams: [{ address: upstream }], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.1"] }],
    ...ADS_BLOCK,
  });
}

test("fast query parser accepts plain queries only", () => {
  const q = parseFastQuery(buildQuery("WWW.Example.com", { do: true }));
  assert.deepEqual(
    { ...q },
    { hash: q!.hash, qtype: 1, qclass: 1, edns: 2, adcd: 0, udpSize: 1232, questionEnd: 33 },
  );
  // CD=1 is another key (RFC 4035 §3.2.2): its answers must not reach CD=0 clients; so is AD=1
  // (without DO, the query's AD decides whether the answer's may be set, RFC 6840 §5.8).
  const hash = q!.hash;
  const cd = parseFastQuery(buildQuery("WWW.Example.com", { do: true, cd: true }));
  assert.equal(cd?.adcd, 0x10);
  assert.notEqual(cd?.hash, hash);
  const ad = parseFastQuery(buildQuery("WWW.Example.com", { do: true, ad: true }));
  assert.equal(ad?.adcd, 0x20);
  assert.notEqual(ad?.hash, hash);
  assert.equal(parseFastQuery(buildQuery("a.example", { edns: false }))?.edns, 0);
  const resp = Buffer.from(buildQuery("a.example"));
  resp[2]! |= 0x80;
  assert.equal(parseFastQuery(resp), undefined);
  assert.equal(parseFastQuery(Buffer.from(buildQuery("a.example")).subarray(0, 20)), undefined);
});

test("repeat queries are answered from the packet cache with their own ID, case and aged TTLs", async () => {
  const up = await startFakeUpstream(
    new Map([["a.example/1", { answers: [a("a.example", "192.0.2.1", 300)] }]]),
  );
  try {
    const snap = adsSnapshot(up.address);
    const log = new QueryLog(100);
    const svc = new DnsService(snap, { log });
    assert.equal(svc.runtime.memoizable, true);
    const first = await svc.handle(buildQuery("a.example", { id: 1 }), {
      transport: "udp",
      ip: "127.0.0.1",
      port: 1,
    });
    assert.ok(first);
    const q2 = buildQuery("A.EXAMPLE", { id: 2 });
    const fast = svc.tryFast(q2, "127.0.0.1", "udp");
    assert.ok(fast, "served by the fast path");
    const m = decodeMessage(fast);
    assert.equal(m.id, 2);
    assert.equal(m.questions[0]!.name, "A.EXAMPLE");
    assert.equal(m.answers[0]!.data, "192.0.2.1");
    const rec = log.peekNewest(1)[0]!;
    assert.deepEqual(
      [rec.cache, rec.qname, rec.qtype, rec.client, rec.transport, rec.location],
      ["hit", "a.example", "A", "127.0.0.1", "udp", "lo"],
    );
    // Another name is a miss, never the cached answer of a different question.
    assert.equal(svc.tryFast(buildQuery("b.example", { id: 2 }), "127.0.0.1", "udp"), undefined);
    assert.equal(
      svc.tryFast(buildQuery("a.example", { id: 2, type: 28 }), "127.0.0.1", "udp"),
      undefined,
    );
    // A hash collision is a miss: the entry is confirmed against the question's bytes.
    const lo = svc.runtime.snapshot.locations.bySource("127.0.0.1");
    const rawA = buildQuery("a.example", { id: 9 });
    const keyA = svc.runtime.packets.key(parseFastQuery(rawA)!, lo);
    assert.ok(svc.runtime.packets.get(keyA, rawA, parseFastQuery(rawA)!, lo));
    const rawB = buildQuery("b.example", { id: 9 });
    assert.equal(svc.runtime.packets.get(keyA, rawB, parseFastQuery(rawB)!, lo), undefined);
    // Unknown sources and other locations never get someone else's entry.
    assert.equal(svc.tryFast(q2, "127.0.0.9", "udp"), undefined);
    // Blocked answers are memoized too, EDE included.
    await svc.handle(buildQuery("ads.example", { id: 3 }), {
      transport: "udp",
      ip: "127.0.0.1",
      port: 1,
    });
    const blocked = decodeMessage(
      svc.tryFast(buildQuery("ads.example", { id: 4 }), "127.0.0.1", "udp")!,
    );
    assert.equal(blocked.answers[0]!.data, "0.0.0.0");
    assert.equal(log.peekNewest(1)[0]!.action, "block");
    // A new config starts with an empty packet cache.
    svc.activate(svc.prepare(compileSnapshot({ ...snap.bundle, version: 2, policies: [] })));
    assert.equal(svc.tryFast(buildQuery("ads.example", { id: 5 }), "127.0.0.1", "udp"), undefined);
  } finally {
    await up.close();
  }
});

const client = { transport: "udp", ip: "127.0.0.1", port: 5353 } as const;

async function counterValue(
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await metric.get();
  const v = values.find((x) =>
    Object.entries(labels).every(([k, want]) => (x.labels as Record<string, string>)[k] === want),
  );
  return v?.value ?? 0;
}

test("ten blocked queries, nine of them on the fast path: ten records, ten log lines, ten counts", async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createOpLogger({
    write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
    level: "debug",
    component: "dns",
  });
  const log = new QueryLog(100);
  const svc = new DnsService(adsSnapshot("127.0.0.1:9"), {
    log,
    requestLog: new RequestLog(logger),
  });
  const m = dnsMetrics();
  const blocked = { transport: "udp", action: "block", rcode: "NOERROR" };
  const queriesBefore = await counterValue(m.queries, blocked);
  const matchesBefore = await counterValue(m.policyMatches, { action: "block", phase: "query" });
  try {
    assert.ok(await svc.handle(buildQuery("ads.example", { id: 1 }), client));
    for (let id = 2; id <= 10; id++)
      assert.ok(svc.tryFast(buildQuery("ads.example", { id }), "127.0.0.1", "udp"), `query ${id}`);
    const records = log.drain();
    assert.equal(records.length, 10);
    assert.ok(records.every((r) => r.action === "block" && r.qname === "ads.example"));
    const dnsLines = lines.filter((l) => l.qname === "ads.example");
    assert.equal(dnsLines.length, 10, "one debug line per query, whichever path answered");
    assert.ok(dnsLines.every((l) => l.level === "debug" && l.action === "block"));
    // The line and the record of a query carry one id; every query has its own.
    assert.deepEqual(
      dnsLines.map((l) => l.reqId),
      records.map((r) => r.id),
    );
    assert.equal(new Set(records.map((r) => r.id)).size, 10);
    assert.equal((await counterValue(m.queries, blocked)) - queriesBefore, 10);
    assert.equal(
      (await counterValue(m.policyMatches, { action: "block", phase: "query" })) - matchesBefore,
      10,
      "a fast-path block is a policy match too",
    );
  } finally {
    svc.close();
  }
  // Closed: its queries reach neither its log nor its logger.
  await svc.handle(buildQuery("ads.example", { id: 11 }), client);
  assert.equal(log.size, 0);
  assert.equal(lines.filter((l) => l.qname === "ads.example").length, 10);
});

test("an entry still asked near expiry is prefetched, fast-path repeats counting as hits", async (t) => {
  const up = await startFakeUpstream(
    new Map([["p.example/1", { answers: [a("p.example", "192.0.2.7", 100)] }]]),
  );
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const svc = new DnsService(adsSnapshot(up.address), {
    log: new QueryLog(100),
  });
  try {
    const q = (id: number) => buildQuery("p.example", { id });
    assert.ok(await svc.handle(q(1), client));
    assert.equal(up.counts.get("p.example"), 1);
    // Asked again while fresh: the fast path answers.
    t.mock.timers.tick(50_000);
    assert.ok(svc.tryFast(q(2), "127.0.0.1", "udp"));
    // In the last tenth of the TTL the repeat takes the pipeline, which refreshes the entry in
    // the background and answers from the cache meanwhile.
    t.mock.timers.tick(45_000);
    assert.equal(svc.tryFast(q(3), "127.0.0.1", "udp"), undefined);
    assert.ok(await svc.handle(q(3), client));
    for (let i = 0; i < 50 && up.counts.get("p.example") === 1; i++)
      await new Promise((r) => setImmediate(r));
    assert.equal(up.counts.get("p.example"), 2, "prefetched on the first query near expiry");
  } finally {
    svc.close();
    mock.timers.reset();
    await up.close();
  }
});

test("the packet cache is bounded by bytes, counting each entry's answer, question and template", () => {
  const entry = (name: string): PacketEntry => {
    const bytes = Buffer.alloc(60 + name.length);
    const template = { kind: "dns", action: "allow", qname: name } as RecordTemplate;
    const question = `${name}\u0000\u0001\u0000\u0001`;
    return {
      bytes,
      ttls: [40, 300],
      storedAt: 0,
      expiresAt: 300_000,
      refreshAt: 0,
      questionEnd: 12 + question.length,
      question,
      edns: 0,
      adcd: 0,
      location: undefined,
      use: undefined,
      template,
      policyAction: undefined,
      policyPhase: undefined,
      tallies: [],
      size: packetEntryBytes(bytes, question, [40, 300], template),
    };
  };
  const one = entry("n0.example");
  assert.ok(one.size > PACKET_ENTRY_BYTES + one.bytes.length + 2 * "n0.example".length);
  const c = new PacketCache(1000, 10 * one.size);
  for (let i = 0; i < 100; i++) c.set(i, entry(`n${i % 10}.example`.padEnd(10, "x")));
  assert.ok(c.bytes <= 10 * one.size, `${c.bytes}`);
  assert.equal(c.size, 10);
  // Replacing a key swaps its count; deleting and clearing give it back.
  c.set(99, entry("n9.example"));
  assert.equal(c.size, 10);
  const held = c.bytes;
  c.delete(99);
  assert.equal(c.bytes, held - one.size);
  c.clear();
  assert.equal(c.bytes, 0);
  // An entry larger than the whole budget is not kept.
  const tiny = new PacketCache(1000, 100);
  tiny.set(1, one);
  assert.equal(tiny.size, 0);
});
