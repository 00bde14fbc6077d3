// Integration: the edge's DNS answers on the wire, header bit by header bit, against fake
// upstreams on loopback — what RFC 1035, RFC 4035, RFC 6891 and friends ask, and what unbound
// does as a forwarder.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { Rcode } from "../src/dns/wire/constants.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import {
  a,
  buildQuery,
  type FakeUpstream,
  type FakeZoneEntry,
  startFakeUpstream,
  tcpExchange,
  udpQuery,
} from "./dns-helpers.ts";

function config(upstream: FakeUpstream, extra: Partial<EdgeConfigFile> = {}): EdgeConfigFile {
  return {
    resolver: {
      upstreams: [{ address: upstream.address, timeoutMs: 1000 }],
      cache: { serveStale: false, prefetch: false },
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.1", "::1"] }],
    lists: [],
    policies: [],
    edge: { dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] } },
    ...extra,
  };
}

function portsOf(edge: Edge): { udp: number; tcp: number } {
  return {
    udp: Number(edge.addresses.dns.udp[0]!.split(":").pop()),
    tcp: Number(edge.addresses.dns.tcp[0]!.split(":").pop()),
  };
}

describe("CD bit (RFC 4035 §3.2.2)", () => {
  const zone = new Map<string, FakeZoneEntry>([
    ["bogus.example/1", { servfailUnlessCd: true, answers: [a("bogus.example", "192.0.2.66")] }],
    [
      "slow-bogus.example/1",
      {
        servfailUnlessCd: true,
        delayMs: 150,
        answers: [a("slow-bogus.example", "192.0.2.67")],
      },
    ],
  ]);
  let up: FakeUpstream;
  let edge: Edge;
  let ports: { udp: number; tcp: number };
  before(async () => {
    up = await startFakeUpstream(zone);
    edge = await startEdge({ config: config(up), log: () => {} });
    ports = portsOf(edge);
  });
  after(async () => {
    await edge.close();
    await up.close();
  });

  test("an answer fetched with CD=1 is never served to a client that did not set CD", async () => {
    // Twice with CD=1: the second is answered by the packet cache's fast path.
    for (let i = 0; i < 2; i++) {
      const r = await udpQuery(ports.udp, "bogus.example", { cd: true });
      assert.equal(r?.rcode, Rcode.NOERROR);
      assert.equal(r?.cd, true);
      assert.equal(r?.answers[0]?.data, "192.0.2.66");
    }
    // Without CD: not from the answer cache nor the packet cache — the upstream's SERVFAIL.
    for (let i = 0; i < 2; i++) {
      const r = await udpQuery(ports.udp, "bogus.example");
      assert.equal(r?.rcode, Rcode.SERVFAIL);
      assert.equal(r?.cd, false);
      assert.equal(r?.answers.length, 0);
    }
    const [tcp] = await tcpExchange(ports.tcp, [buildQuery("bogus.example")]);
    assert.equal(decodeMessage(tcp!).rcode, Rcode.SERVFAIL);
    // And CD=1 still gets its own cached answer.
    const again = await udpQuery(ports.udp, "bogus.example", { cd: true });
    assert.equal(again?.answers[0]?.data, "192.0.2.66");
  });

  test("concurrent CD=1 and CD=0 misses are not merged into one upstream query", async () => {
    const [withCd, without] = await Promise.all([
      udpQuery(ports.udp, "slow-bogus.example", { cd: true, timeoutMs: 3000 }),
      udpQuery(ports.udp, "slow-bogus.example", { timeoutMs: 3000 }),
    ]);
    assert.equal(withCd?.rcode, Rcode.NOERROR);
    assert.equal(withCd?.answers[0]?.data, "192.0.2.67");
    assert.equal(without?.rcode, Rcode.SERVFAIL);
    assert.equal(up.counts.get("slow-bogus.example"), 2);
  });
});
