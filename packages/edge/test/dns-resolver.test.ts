// Integration: the edge's DNS pipeline over UDP and TCP against a fake upstream on loopback.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { Ede, Rcode, RRType } from "../src/dns/wire/constants.ts";
import { readEde } from "../src/dns/wire/edns.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import {
  a,
  bigTxt,
  buildQuery,
  type FakeUpstream,
  soa,
  startFakeUpstream,
  tcpExchange,
  udpQuery,
  udpRaw,
} from "./dns-helpers.ts";

const zone = new Map([
  ["a.example/1", { answers: [a("a.example", "192.0.2.1", 300)] }],
  ["short.example/1", { answers: [a("short.example", "192.0.2.2", 1)] }],
  [
    "forcesafesearch.google.com/1",
    { answers: [a("forcesafesearch.google.com", "216.239.38.120")] },
  ],
  ["bad-ip.example/1", { answers: [a("bad-ip.example", "203.0.113.5")] }],
  ["nodata.example/28", { authorities: [soa("example", 30)] }],
  ["big.example/16", bigTxt("big.example")],
]);

function config(upstream: FakeUpstream, extra: Partial<EdgeConfigFile> = {}): EdgeConfigFile {
  return {
    resolver: {
      upstreams: [{ address: upstream.address, timeoutMs: 300 }],
      cache: { serveStale: true, prefetch: false },
      // The fake upstream signs nothing (validation: dns-dnssec.test.ts).
      dnssec: { validate: false },
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.1", "::1"] }],
    lists: [
      { id: "l1", name: "ads", type: "domain", items: ["ads.example", "||tracker.example^"] },
    ],
    policies: [
      {
        id: "p-ads",
        name: "Block ads",
        type: "dns",
        enabled: true,
        precedence: 10,
        expression: "any(dns.domains[*] in $ads)",
        action: "block",
      },
      {
        id: "p-nx",
        name: "NX block",
        type: "dns",
        enabled: true,
        precedence: 20,
        expression: 'dns.fqdn == "nx-block.example"',
        action: "block",
        settings: { blockMode: "nxdomain" },
      },
      {
        id: "p-ref",
        name: "Refuse",
        type: "dns",
        enabled: true,
        precedence: 30,
        expression: 'dns.fqdn == "refuse.example"',
        action: "block",
        settings: { blockMode: "refused" },
      },
      {
        id: "p-ip",
        name: "Block page",
        type: "dns",
        enabled: true,
        precedence: 40,
        expression: 'dns.fqdn == "page.example"',
        action: "block",
        settings: { blockMode: "ip", ttl: 5 },
      },
      {
        id: "p-ovr",
        name: "Override",
        type: "dns",
        enabled: true,
        precedence: 50,
        expression: 'dns.fqdn == "override.example"',
        action: "override",
        settings: { overrideIps: ["198.51.100.7", "2001:db8::7"] },
      },
      {
        id: "p-alias",
        name: "Alias",
        type: "dns",
        enabled: true,
        precedence: 60,
        expression: 'dns.fqdn == "alias.example"',
        action: "override",
        settings: { overrideHost: "a.example" },
      },
      {
        id: "p-ss",
        name: "Safe search",
        type: "dns",
        enabled: true,
        precedence: 70,
        expression: 'any(dns.domains[*] == "google.com")',
        action: "safesearch",
      },
      {
        id: "p-off",
        name: "Disabled",
        type: "dns",
        enabled: false,
        precedence: 80,
        expression: 'dns.fqdn == "a.example"',
        action: "block",
      },
      {
        id: "p-resp",
        name: "Bad IPs",
        type: "dns",
        enabled: true,
        precedence: 5,
        expression: "any(dns.resolved_ips[*] in {203.0.113.0/24})",
        action: "block",
      },
    ],
    blockPage: { ipv4: "192.0.2.99" },
    edge: { dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] } },
    ...extra,
  };
}

describe("edge DNS over UDP/TCP", () => {
  let up: FakeUpstream;
  let edge: Edge;
  let port: number;
  let tcpPort: number;
  before(async () => {
    up = await startFakeUpstream(zone);
    edge = await startEdge({ config: config(up), log: () => {} });
    port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
    tcpPort = Number(edge.addresses.dns.tcp[0]!.split(":").pop());
  });
  after(async () => {
    await edge.close();
    await up.close();
  });

  test("forwards, caches, decrements TTL; question case is echoed", async () => {
    const r1 = await udpQuery(port, "A.Example");
    assert.equal(r1?.rcode, Rcode.NOERROR);
    assert.equal(r1?.questions[0]?.name, "A.Example");
    assert.equal(r1?.answers[0]?.data, "192.0.2.1");
    assert.equal(r1?.ra, true);
    await new Promise((r) => setTimeout(r, 1100));
    const r2 = await udpQuery(port, "a.example");
    assert.equal(up.counts.get("a.example"), 1, "second query served from cache");
    assert.ok(
      r2!.answers[0]!.ttl < 300 && r2!.answers[0]!.ttl >= 298,
      `ttl ${r2!.answers[0]!.ttl}`,
    );
    const log = edge.queryLog.peekNewest(2);
    assert.equal(log[0]!.cache, "hit");
    assert.equal(log[1]!.cache, "miss");
    assert.equal(log[1]!.upstream, up.address);
  });

  test("block modes with EDE 15 naming the policy", async () => {
    const cases: { name: string; type?: number; rcode: number; data?: string; policy: string }[] = [
      { name: "ads.example", rcode: Rcode.NOERROR, data: "0.0.0.0", policy: "Block ads" },
      {
        name: "sub.tracker.example",
        type: RRType.AAAA,
        rcode: Rcode.NOERROR,
        data: "::",
        policy: "Block ads",
      },
      { name: "nx-block.example", rcode: Rcode.NXDOMAIN, policy: "NX block" },
      { name: "refuse.example", rcode: Rcode.REFUSED, policy: "Refuse" },
      { name: "page.example", rcode: Rcode.NOERROR, data: "192.0.2.99", policy: "Block page" },
      { name: "bad-ip.example", rcode: Rcode.NOERROR, data: "0.0.0.0", policy: "Bad IPs" },
    ];
    for (const c of cases) {
      const r = await udpQuery(port, c.name, { type: c.type ?? RRType.A });
      assert.equal(r?.rcode, c.rcode, c.name);
      if (c.data) assert.equal(r?.answers[0]?.data, c.data, c.name);
      assert.deepEqual(readEde(r?.edns), [{ infoCode: Ede.BLOCKED, extraText: c.policy }], c.name);
    }
    const page = await udpQuery(port, "page.example");
    assert.equal(page?.answers[0]?.ttl, 5);
    assert.equal(up.counts.get("ads.example"), undefined, "blocked names never go upstream");
    const rec = edge.queryLog.peekNewest(20).find((r) => r.qname === "ads.example");
    assert.equal(rec?.action, "block");
    assert.equal(rec?.policyId, "p-ads");
    assert.equal(rec?.list, "ads");
  });

  test("no OPT in the answer when the query had none", async () => {
    const r = await udpQuery(port, "ads.example", { edns: false });
    assert.equal(r?.edns, undefined);
    assert.equal(r?.answers[0]?.data, "0.0.0.0");
  });

  test("override by addresses and by host; safe search rewrite; disabled policy ignored", async () => {
    const v4 = await udpQuery(port, "override.example");
    assert.deepEqual(
      v4?.answers.map((x) => x.data),
      ["198.51.100.7"],
    );
    const v6 = await udpQuery(port, "override.example", { type: RRType.AAAA });
    assert.deepEqual(
      v6?.answers.map((x) => x.data),
      ["2001:db8::7"],
    );
    const alias = await udpQuery(port, "alias.example");
    assert.deepEqual(
      alias?.answers.map((x) => [x.type, x.data]),
      [
        [RRType.CNAME, "a.example"],
        [RRType.A, "192.0.2.1"],
      ],
    );
    const g = await udpQuery(port, "www.google.com");
    assert.deepEqual(
      g?.answers.map((x) => x.data),
      ["forcesafesearch.google.com", "216.239.38.120"],
    );
    assert.equal(edge.queryLog.peekNewest(1)[0]!.action, "safesearch");
  });

  test("special names answered locally", async () => {
    assert.equal((await udpQuery(port, "localhost"))?.answers[0]?.data, "127.0.0.1");
    assert.equal((await udpQuery(port, "use-application-dns.net"))?.rcode, Rcode.NXDOMAIN);
    assert.equal(
      (await udpQuery(port, "5.1.168.192.in-addr.arpa", { type: RRType.PTR }))?.rcode,
      Rcode.NXDOMAIN,
    );
    assert.equal(up.counts.get("use-application-dns.net"), undefined);
  });

  test("negative caching from SOA minimum", async () => {
    const r1 = await udpQuery(port, "nodata.example", { type: RRType.AAAA });
    assert.equal(r1?.rcode, Rcode.NOERROR);
    assert.equal(r1?.answers.length, 0);
    const r2 = await udpQuery(port, "missing.example");
    assert.equal(r2?.rcode, Rcode.NXDOMAIN);
    await udpQuery(port, "nodata.example", { type: RRType.AAAA });
    await udpQuery(port, "missing.example");
    assert.equal(up.counts.get("nodata.example"), 1);
    assert.equal(up.counts.get("missing.example"), 1);
    assert.ok(r2!.authorities[0]!.ttl <= 60);
  });

  test("TC from upstream over UDP retried over TCP; our UDP answer truncated to the client's size", async () => {
    const r = await udpQuery(port, "big.example", { type: RRType.TXT, udpSize: 512 });
    assert.equal(r?.tc, true);
    assert.equal(r?.answers.length, 0);
    const [tcp] = await tcpExchange(tcpPort, [buildQuery("big.example", { type: RRType.TXT })]);
    const m = decodeMessage(tcp!);
    assert.equal(m.tc, false);
    assert.equal(m.answers.length, 30);
  });

  test("TCP pipelining: several queries on one connection, all answered with their IDs", async () => {
    const qs = [1, 2, 3, 4].map((id) => buildQuery(id % 2 ? "a.example" : "ads.example", { id }));
    const replies = await tcpExchange(tcpPort, qs);
    assert.deepEqual(replies.map((r) => r.readUInt16BE(0)).sort(), [1, 2, 3, 4]);
  });

  test("FORMERR on garbage, NOTIMP on other opcodes, silence for responses and runts", async () => {
    const formerr = await udpRaw(port, Buffer.from("1234010000010000000000000340", "hex"));
    assert.equal(formerr && decodeMessage(formerr).rcode, Rcode.FORMERR);
    assert.equal(formerr?.readUInt16BE(0), 0x1234);
    const notify = Buffer.from(buildQuery("a.example"));
    notify[2] = 0x20;
    assert.equal(decodeMessage((await udpRaw(port, notify))!).rcode, Rcode.NOTIMP);
    const resp = Buffer.from(buildQuery("a.example"));
    resp[2]! |= 0x80;
    assert.equal(await udpRaw(port, resp, { timeoutMs: 200 }), undefined);
    assert.equal(await udpRaw(port, Buffer.from([1, 2, 3]), { timeoutMs: 200 }), undefined);
  });

  test("EDNS: BADVERS for version 1, unknown options and flags not echoed, DO echoed", async () => {
    const q = Buffer.from(buildQuery("a.example", { do: true }));
    // Version byte of the OPT TTL: last 11 bytes are OPT (1 name, 2 type, 2 class, 4 ttl, 2 rdlen).
    const v1 = Buffer.from(q);
    v1[v1.length - 11 + 6] = 1;
    const bad = decodeMessage((await udpRaw(port, v1))!);
    assert.equal(bad.rcode, Rcode.BADVERS);
    assert.equal(bad.edns?.version, 0);
    assert.equal(bad.answers.length, 0);
    // Unknown option 100 and MBZ flag 0x80 (of the low flag bits).
    const withOpt = Buffer.concat([q.subarray(0, q.length - 2), Buffer.from([0, 4, 0, 100, 0, 0])]);
    withOpt[withOpt.length - 6 - 11 + 10] = 0x80;
    const ok = decodeMessage((await udpRaw(port, withOpt))!);
    assert.equal(ok.rcode, Rcode.NOERROR);
    assert.equal(ok.answers.length, 1);
    assert.equal(ok.edns?.do, true);
    assert.equal(ok.edns?.z, 0);
    assert.deepEqual(ok.edns?.options, []);
  });

  test("unknown clients are REFUSED", async () => {
    const r = await udpQuery(port, "a.example", { from: "127.0.0.2" });
    assert.equal(r?.rcode, Rcode.REFUSED);
    assert.equal(edge.queryLog.peekNewest(1)[0]!.reason, "unknown_client");
  });

  test("serve-stale with EDE 3 when the upstream is down; SERVFAIL with EDE when nothing is cached", async () => {
    assert.equal((await udpQuery(port, "short.example"))?.answers[0]?.data, "192.0.2.2");
    await new Promise((r) => setTimeout(r, 1100));
    up.down = true;
    try {
      const stale = await udpQuery(port, "short.example", { timeoutMs: 3000 });
      assert.equal(stale?.answers[0]?.data, "192.0.2.2");
      assert.equal(stale?.answers[0]?.ttl, 30);
      assert.deepEqual(
        readEde(stale?.edns).map((e) => e.infoCode),
        [Ede.STALE_ANSWER],
      );
      const fail = await udpQuery(port, "never-seen.example", { timeoutMs: 3000 });
      assert.equal(fail?.rcode, Rcode.SERVFAIL);
      assert.equal(readEde(fail?.edns)[0]?.infoCode, Ede.NO_REACHABLE_AUTHORITY);
    } finally {
      up.down = false;
    }
  });

  test("apply(): a bad bundle is refused whole, a good one swaps in", async () => {
    const base = edge.snapshot.bundle;
    await assert.rejects(
      edge.apply({
        ...base,
        version: 2,
        policies: [{ ...base.policies[0]!, expression: "dns.fqdn ==" }],
      }),
      /config rejected/,
    );
    assert.equal(
      (await udpQuery(port, "ads.example"))?.answers[0]?.data,
      "0.0.0.0",
      "old config still serving",
    );
    await edge.apply({ ...base, version: 3, policies: [] });
    assert.equal(edge.snapshot.version, 3);
    const r = await udpQuery(port, "ads.example");
    assert.equal(
      r?.rcode,
      Rcode.NXDOMAIN,
      "no policy: forwarded (the fake upstream does not know it)",
    );
  });

  test("Resolver interface applies DNS policy", async () => {
    // The running snapshot keeps its bundle without the list items (they live in the compiled
    // matchers), so the lists come from the configuration, not from the snapshot.
    const full = config(up);
    await edge.apply({
      ...edge.snapshot.bundle,
      version: 4,
      lists: full.lists,
      policies: full.policies,
    });
    const ok = await edge.resolver.resolve("a.example", { client: "127.0.0.1", family: 4 });
    assert.deepEqual(ok, { addresses: ["192.0.2.1"], rcode: "NOERROR" });
    const blocked = await edge.resolver.resolve("ads.example", { client: "127.0.0.1" });
    assert.deepEqual(blocked.blockedBy, { policyId: "p-ads", policyName: "Block ads" });
    assert.deepEqual(blocked.addresses, []);
  });
});

describe("rate limit", () => {
  test("per-source token bucket answers REFUSED over the limit", async () => {
    const up = await startFakeUpstream(zone);
    const edge = await startEdge({
      config: config(up, {
        resolver: {
          upstreams: [{ address: up.address }],
          rateLimit: { queriesPerSecond: 1, burst: 3 },
          dnssec: { validate: false },
        },
      }),
      log: () => {},
    });
    try {
      const port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
      const rcodes: number[] = [];
      for (let i = 0; i < 5; i++) rcodes.push((await udpQuery(port, "ads.example"))!.rcode);
      assert.deepEqual(rcodes.slice(0, 3), [0, 0, 0]);
      assert.equal(rcodes[4], Rcode.REFUSED);
      assert.equal(edge.queryLog.peekNewest(1)[0]!.action, "ratelimited");
    } finally {
      await edge.close();
      await up.close();
    }
  });
});

describe("graceful close", () => {
  test("close() stops accepting but answers queries already in flight on TCP", async () => {
    const up = await startFakeUpstream(
      new Map([["slow.example/1", { answers: [a("slow.example", "192.0.2.55")], delayMs: 150 }]]),
    );
    const edge = await startEdge({ config: config(up), log: () => {} });
    const tcpPort = Number(edge.addresses.dns.tcp[0]!.split(":").pop());
    try {
      const pending = tcpExchange(tcpPort, [buildQuery("slow.example", { id: 77 })], 1, 3000);
      // The upstream answers after 150 ms (its timeout here is 300 ms); close in between.
      await new Promise((r) => setTimeout(r, 50));
      const closing = edge.close();
      const [reply] = await pending;
      assert.equal(reply && decodeMessage(reply).answers[0]?.data, "192.0.2.55");
      await closing;
      await assert.rejects(tcpExchange(tcpPort, [buildQuery("a.example")]), /ECONNREFUSED/);
    } finally {
      await edge.close();
      await up.close();
    }
  });
});
