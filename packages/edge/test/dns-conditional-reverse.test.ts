// Conditional forwarding wins over the built-in private reverse zones (RFC 6303) when the admin
// configured it: Pi-hole's "conditional forwarding" sends 168.192.in-addr.arpa to the router,
// which knows the LAN's names. Reverse zones nobody forwards stay answered locally.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Rcode, RRType } from "../src/dns/wire/constants.ts";
import { type Edge, startEdge } from "../src/main.ts";
import { type FakeUpstream, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

const ptr = (name: string, target: string) => ({
  name,
  type: RRType.PTR,
  class: 1,
  ttl: 300,
  data: target,
});

describe("conditional forwarding of private reverse zones", () => {
  let router: FakeUpstream;
  let internet: FakeUpstream;
  let edge: Edge;
  let port: number;
  before(async () => {
    router = await startFakeUpstream(
      new Map([
        ["5.1.168.192.in-addr.arpa/12", { answers: [ptr("5.1.168.192.in-addr.arpa", "nas.lan")] }],
      ]),
    );
    internet = await startFakeUpstream(new Map());
    edge = await startEdge({
      config: {
        resolver: {
          upstreams: [{ address: internet.address, timeoutMs: 300 }],
          // The fake upstreams sign nothing (validation: dns-dnssec.test.ts).
          dnssec: { validate: false },
          conditionalForwarding: [
            { suffix: "168.192.in-addr.arpa", upstreams: [{ address: router.address }] },
          ],
        },
        locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.1"] }],
        lists: [],
        policies: [],
        edge: { dns: { udp: ["127.0.0.1:0"] } },
      },
      log: () => {},
    });
    port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
  });
  after(async () => {
    await edge.close();
    await router.close();
    await internet.close();
  });

  test("a forwarded private reverse zone goes to its forwarder", async () => {
    const r = await udpQuery(port, "5.1.168.192.in-addr.arpa", { type: RRType.PTR });
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "nas.lan");
    assert.equal(router.counts.get("5.1.168.192.in-addr.arpa"), 1);
  });

  test("other private reverse zones stay local: NXDOMAIN with the zone's SOA, never forwarded", async () => {
    const r = await udpQuery(port, "5.0.0.10.in-addr.arpa", { type: RRType.PTR });
    assert.equal(r?.rcode, Rcode.NXDOMAIN);
    assert.equal(r?.aa, true);
    assert.equal(r?.authorities[0]?.name, "10.in-addr.arpa");
    assert.equal(internet.counts.get("5.0.0.10.in-addr.arpa"), undefined);
    assert.equal(router.counts.get("5.0.0.10.in-addr.arpa"), undefined);
  });
});
