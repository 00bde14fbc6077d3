// Integration: list rules on the wire. CNAME cloaking (a name of the answer's CNAME chain caught
// by a list, with subdomain semantics; off per policy; the query log names the chain name),
// `$dnsrewrite`, `$dnstype`, `$client` and a list's own exceptions, against a fake upstream on
// loopback.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { Rcode, RRType } from "../src/dns/wire/constants.ts";
import type { ResourceRecord } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import { a, type FakeUpstream, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

function cname(name: string, target: string): ResourceRecord {
  return { name, type: RRType.CNAME, class: 1, ttl: 300, data: target };
}

const zone = new Map([
  // trk.shop.example → trk.adnet.test (listed as `adnet.test`): cloaked tracker.
  [
    "trk.shop.example/1",
    { answers: [cname("trk.shop.example", "trk.adnet.test"), a("trk.adnet.test", "192.0.2.50")] },
  ],
  // Two hops, the listed name last.
  [
    "cdn.shop.example/1",
    {
      answers: [
        cname("cdn.shop.example", "edge.cdn.example"),
        cname("edge.cdn.example", "x.metrics.adnet.test"),
        a("x.metrics.adnet.test", "192.0.2.51"),
      ],
    },
  ],
  // The upstream gives only the CNAME; the edge follows it to the target itself.
  ["split.shop.example/1", { answers: [cname("split.shop.example", "s.adnet.test")] }],
  ["s.adnet.test/1", { answers: [a("s.adnet.test", "192.0.2.54")] }],
  // Same chain, but the question is under a policy with cloaking off.
  [
    "trk.off.example/1",
    { answers: [cname("trk.off.example", "t.adnet2.test"), a("t.adnet2.test", "192.0.2.52")] },
  ],
  [
    "clean.shop.example/1",
    {
      answers: [cname("clean.shop.example", "www.cdn.example"), a("www.cdn.example", "192.0.2.53")],
    },
  ],
  ["v6only.example/1", { answers: [a("v6only.example", "192.0.2.60")] }],
  ["kid.example/1", { answers: [a("kid.example", "192.0.2.61")] }],
  ["good.ads.example/1", { answers: [a("good.ads.example", "192.0.2.62")] }],
  ["target.example/1", { answers: [a("target.example", "192.0.2.63")] }],
]);

function config(up: FakeUpstream): EdgeConfigFile {
  return {
    resolver: {
      upstreams: [{ address: up.address, timeoutMs: 300 }],
      cache: { prefetch: false },
      // The fake upstream signs nothing (validation: dns-dnssec.test.ts).
      dnssec: { validate: false },
    },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.1", "::1"] }],
    lists: [
      {
        id: "l1",
        name: "ads",
        type: "domain",
        items: [
          "adnet.test",
          "||ads.example^",
          "@@||good.ads.example^",
          "||rw.example^$dnsrewrite=NOERROR;A;10.9.8.7",
          "||nx.example^$dnsrewrite=NXDOMAIN",
          "||alias.example^$dnsrewrite=target.example",
          "||v6only.example^$dnstype=AAAA",
          "||kid.example^$client=10.0.0.0/8",
        ],
      },
      { id: "l2", name: "nocloak", type: "domain", items: ["adnet2.test"] },
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
        id: "p-nocloak",
        name: "No cloaking",
        type: "dns",
        enabled: true,
        precedence: 20,
        expression: "any(dns.domains[*] in $nocloak)",
        action: "block",
        settings: { cnameCloaking: false },
      },
    ],
    edge: { dns: { udp: ["127.0.0.1:0"] } },
  };
}

describe("list rules on the wire", () => {
  let up: FakeUpstream;
  let edge: Edge;
  let port: number;
  before(async () => {
    up = await startFakeUpstream(zone);
    edge = await startEdge({ config: config(up), log: () => {} });
    port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
  });
  after(async () => {
    await edge.close();
    await up.close();
  });
  const logOf = (qname: string) => edge.queryLog.peekNewest(50).find((r) => r.qname === qname);

  test("CNAME cloaking: a chain name caught by a list blocks the answer; the log names it", async () => {
    for (const [q, chain] of [
      ["trk.shop.example", "trk.adnet.test"],
      ["cdn.shop.example", "x.metrics.adnet.test"],
      ["split.shop.example", "s.adnet.test"],
    ] as const) {
      const r = await udpQuery(port, q);
      assert.equal(r?.rcode, Rcode.NOERROR, q);
      assert.deepEqual(
        r?.answers.map((x) => x.data),
        ["0.0.0.0"],
        `${q}: the block answer, not the tracker's address`,
      );
      const rec = logOf(q);
      assert.equal(rec?.action, "block", q);
      assert.equal(rec?.matchedName, chain, q);
      assert.equal(rec?.list, "ads", q);
      assert.equal(rec?.rule, "adnet.test", q);
      // Repeats (cached answer, packet cache) stay blocked.
      const again = await udpQuery(port, q);
      assert.deepEqual(
        again?.answers.map((x) => x.data),
        ["0.0.0.0"],
        `${q} again`,
      );
    }
  });

  test("cloaking off per policy; a clean chain passes", async () => {
    const off = await udpQuery(port, "trk.off.example");
    assert.deepEqual(
      off?.answers.map((x) => x.data),
      ["t.adnet2.test", "192.0.2.52"],
    );
    assert.equal(logOf("trk.off.example")?.action, "allow");
    // The log keeps the answer and the CNAME chain it followed; the packet cache's repeat too.
    const first = logOf("trk.off.example");
    assert.equal(first?.cnames, "t.adnet2.test.");
    assert.equal(first?.answer, "A 192.0.2.52");
    await udpQuery(port, "trk.off.example");
    const repeat = edge.queryLog
      .peekNewest(5)
      .find((r) => r.qname === "trk.off.example" && r.cache === "hit");
    assert.equal(repeat?.answer, "A 192.0.2.52");
    assert.equal(repeat?.cnames, "t.adnet2.test.");
    const clean = await udpQuery(port, "clean.shop.example");
    assert.equal(clean?.answers.at(-1)?.data, "192.0.2.53");
    assert.equal(logOf("clean.shop.example")?.matchedName, undefined);
  });

  test("$dnsrewrite answers instead of the block answer", async () => {
    const rw = await udpQuery(port, "x.rw.example");
    assert.deepEqual(
      rw?.answers.map((x) => x.data),
      ["10.9.8.7"],
    );
    assert.equal(logOf("x.rw.example")?.rule, "||rw.example^$dnsrewrite=NOERROR;A;10.9.8.7");
    const nx = await udpQuery(port, "nx.example");
    assert.equal(nx?.rcode, Rcode.NXDOMAIN);
    const alias = await udpQuery(port, "alias.example");
    assert.deepEqual(
      alias?.answers.map((x) => x.data),
      ["target.example", "192.0.2.63"],
    );
  });

  test("$dnstype, $client and the list's own exception", async () => {
    const v4 = await udpQuery(port, "v6only.example");
    assert.equal(v4?.answers[0]?.data, "192.0.2.60", "A is not limited");
    const v6 = await udpQuery(port, "v6only.example", { type: RRType.AAAA });
    assert.equal(v6?.answers[0]?.data, "::", "AAAA is blocked");
    const kid = await udpQuery(port, "kid.example");
    assert.equal(kid?.answers[0]?.data, "192.0.2.61", "127.0.0.1 is not in 10.0.0.0/8");
    const blocked = await udpQuery(port, "x.ads.example");
    assert.equal(blocked?.answers[0]?.data, "0.0.0.0");
    const good = await udpQuery(port, "good.ads.example");
    assert.equal(good?.answers[0]?.data, "192.0.2.62", "@@ exception of the same list wins");
  });
});
