// One conformance suite for every DNS transport the edge serves: UDP through the batch socket,
// UDP through node:dgram, TCP, DoT, and DoH over HTTP/1.1 and HTTP/2. Each transport runs the
// same cases — an answer, a repeat (the fast path where the transport has one), a block,
// FORMERR, REFUSED to an unknown client, truncation (UDP) or the whole answer (streams), EDNS —
// so a transport that drifts from the others fails here by name.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { connect as h2connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { batchAddon } from "../src/dns/server/udp-batch.ts";
import { listenUdp, type UdpListener } from "../src/dns/server/udp-server.ts";
import { Rcode, RRType } from "../src/dns/wire/constants.ts";
import { decodeMessage, type Message } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import {
  ADS_BLOCK,
  a,
  bigTxt,
  buildQuery,
  type FakeUpstream,
  framedQuery,
  startFakeUpstream,
  udpRaw,
} from "./dns-helpers.ts";

/** A source on loopback outside every location (the edge knows 127.0.0.1 only). */
const UNKNOWN = "127.0.0.2";

interface AskOptions {
  /** Local address to send from. */
  from?: string;
  /** DoH: the token of /dns-query/<token>. */
  token?: string;
}

interface Transport {
  readonly name: string;
  /** Answers are limited to the requester's UDP size and truncated past it. */
  readonly datagram: boolean;
  ask(q: Buffer, o?: AskOptions): Promise<Buffer | undefined>;
}

function dohPath(o: AskOptions): string {
  return o.token === undefined ? "/dns-query" : `/dns-query/${o.token}`;
}

const HEADERS = { "content-type": "application/dns-message", accept: "application/dns-message" };

describe("DNS transport conformance", () => {
  let up: FakeUpstream;
  let edge: Edge;
  let dgram: UdpListener;
  let ca: string;
  const transports: Transport[] = [];
  const port = (list: string[]) => Number(list[0]!.split(":").pop());

  before(async () => {
    up = await startFakeUpstream(
      new Map([
        ["a.example/1", { answers: [a("a.example", "192.0.2.1", 300)] }],
        ["big.example/16", bigTxt("big.example")],
      ]),
    );
    edge = await startEdge({
      config: {
        resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
        locations: [
          { id: "lo", name: "Loopback", networks: ["127.0.0.1/32"] },
          { id: "tok", name: "Token", networks: [], dohToken: "office-token-1" },
        ],
        ...ADS_BLOCK,
        edge: {
          dns: {
            udp: ["127.0.0.1:0"],
            tcp: ["127.0.0.1:0"],
            dot: ["127.0.0.1:0"],
            doh: ["127.0.0.1:0"],
          },
          dataDir: mkdtempSync(join(tmpdir(), "gh-conformance-")),
        },
      },
      log: () => {},
    });
    // The same service behind a node:dgram socket (what GATEHOUSE_UDP_BATCH=0 serves with).
    dgram = await listenUdp(edge.dns, "127.0.0.1:0", { batch: false });
    assert.equal(dgram.mode, "dgram");
    ca = readFileSync(edge.tlsCertFile!, "utf8");
    const udpPort = port(edge.addresses.dns.udp);
    const tcpPort = port(edge.addresses.dns.tcp);
    const dotPort = port(edge.addresses.dns.dot);
    const dohPort = port(edge.addresses.dns.doh);
    const tls = { host: "127.0.0.1", ca, servername: "localhost" };
    transports.push(
      {
        // Where the addon is not built the edge serves UDP with node:dgram (said in the name).
        name: batchAddon() ? "udp (batch socket)" : "udp (node:dgram: no batch addon here)",
        datagram: true,
        ask: (q, o = {}) => udpRaw(udpPort, q, o.from ? { from: o.from } : {}),
      },
      {
        name: "udp (node:dgram)",
        datagram: true,
        ask: (q, o = {}) => udpRaw(dgram.port, q, o.from ? { from: o.from } : {}),
      },
      {
        name: "tcp",
        datagram: false,
        ask: (q, o = {}) =>
          framedQuery(
            netConnect({
              host: "127.0.0.1",
              port: tcpPort,
              ...(o.from ? { localAddress: o.from } : {}),
            }),
            q,
          ),
      },
      {
        name: "dot",
        datagram: false,
        ask: (q, o = {}) =>
          framedQuery(
            tlsConnect({ ...tls, port: dotPort, ...(o.from ? { localAddress: o.from } : {}) }),
            q,
          ),
      },
      {
        name: "doh (HTTP/1.1)",
        datagram: false,
        ask: (q, o = {}) =>
          new Promise((resolve, reject) => {
            const req = httpsRequest(
              {
                ...tls,
                port: dohPort,
                path: dohPath(o),
                method: "POST",
                agent: false,
                headers: HEADERS,
                ...(o.from ? { localAddress: o.from } : {}),
              },
              (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () =>
                  resolve(res.statusCode === 200 ? Buffer.concat(chunks) : undefined),
                );
              },
            );
            req.on("error", reject);
            req.end(q);
          }),
      },
      {
        name: "doh (HTTP/2)",
        datagram: false,
        ask: (q, o = {}) =>
          new Promise((resolve, reject) => {
            const session = h2connect(`https://127.0.0.1:${dohPort}`, {
              createConnection: () =>
                tlsConnect({
                  ...tls,
                  port: dohPort,
                  ALPNProtocols: ["h2"],
                  ...(o.from ? { localAddress: o.from } : {}),
                }),
            });
            session.on("error", reject);
            const req = session.request({ ":method": "POST", ":path": dohPath(o), ...HEADERS });
            let status = 0;
            req.on("response", (h) => {
              status = Number(h[":status"]);
              assert.equal(session.alpnProtocol, "h2");
            });
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
              session.close();
              resolve(status === 200 ? Buffer.concat(chunks) : undefined);
            });
            req.on("error", reject);
            req.end(q);
          }),
      },
    );
  });

  after(async () => {
    await dgram?.close();
    await edge?.close();
    await up?.close();
  });

  async function ask(t: Transport, q: Buffer, o?: AskOptions): Promise<Message> {
    const out = await t.ask(q, o);
    assert.ok(out, `${t.name}: an answer`);
    return decodeMessage(out);
  }

  // The transports are built in before(): the cases loop over them inside each test.
  test("an answer: the upstream's records, the query's ID, RA set", async () => {
    for (const t of transports) {
      const m = await ask(t, buildQuery("a.example", { id: 4242 }));
      assert.equal(m.id, 4242, t.name);
      assert.equal(m.rcode, Rcode.NOERROR, t.name);
      assert.equal(m.ra, true, t.name);
      assert.deepEqual(
        m.answers.map((r) => r.data),
        ["192.0.2.1"],
        t.name,
      );
    }
  });

  test("a repeat (the fast path where the transport has one) answers the same, case kept", async () => {
    for (const t of transports) {
      for (const id of [1, 2, 3]) {
        const m = await ask(t, buildQuery("A.Example", { id }));
        assert.equal(m.id, id, t.name);
        assert.equal(m.questions[0]!.name, "A.Example", t.name);
        assert.equal(m.answers[0]?.data, "192.0.2.1", t.name);
        assert.ok(m.answers[0]!.ttl <= 300 && m.answers[0]!.ttl > 290, t.name);
      }
    }
  });

  test("a block: the policy's answer, every time", async () => {
    for (const t of transports) {
      for (const id of [1, 2]) {
        const m = await ask(t, buildQuery("ads.example", { id }));
        assert.equal(m.rcode, Rcode.NOERROR, t.name);
        assert.equal(m.answers[0]?.data, "0.0.0.0", t.name);
      }
    }
  });

  test("FORMERR to a query without exactly one question", async () => {
    for (const t of transports) {
      const q = buildQuery("a.example", { id: 77, edns: false });
      q.writeUInt16BE(0, 4); // QDCOUNT 0
      const m = await ask(t, q.subarray(0, 12));
      assert.equal(m.id, 77, t.name);
      assert.equal(m.rcode, Rcode.FORMERR, t.name);
    }
  });

  test("REFUSED to a client outside every location, without recursion available", async () => {
    for (const t of transports) {
      for (const id of [1, 2]) {
        const m = await ask(t, buildQuery("a.example", { id }), { from: UNKNOWN });
        assert.equal(m.rcode, Rcode.REFUSED, t.name);
        assert.equal(m.ra, false, t.name);
        assert.equal(m.answers.length, 0, t.name);
      }
    }
  });

  test("DoH: a token names the location whatever the source; a token naming none is refused", async () => {
    for (const t of transports.filter((x) => x.name.startsWith("doh"))) {
      const byToken = await ask(t, buildQuery("a.example"), {
        from: UNKNOWN,
        token: "office-token-1",
      });
      assert.equal(byToken.rcode, Rcode.NOERROR, t.name);
      assert.equal(byToken.answers[0]?.data, "192.0.2.1", t.name);
      // From a known network, but through a token nobody configured: refused, not answered.
      const wrong = await ask(t, buildQuery("a.example"), { token: "no-such-token-9" });
      assert.equal(wrong.rcode, Rcode.REFUSED, t.name);
      assert.equal(wrong.answers.length, 0, t.name);
    }
  });

  test("truncation: over UDP past the requester's size TC is set; streams carry it whole", async () => {
    for (const t of transports) {
      for (const id of [1, 2]) {
        const m = await ask(t, buildQuery("big.example", { id, edns: false, type: RRType.TXT }));
        assert.equal(m.rcode, Rcode.NOERROR, t.name);
        if (t.datagram) {
          assert.equal(m.tc, true, t.name);
          assert.ok(m.answers.length < 30, t.name);
        } else {
          assert.equal(m.tc, false, t.name);
          assert.equal(m.answers.length, 30, t.name);
        }
      }
    }
  });

  test("EDNS: an OPT back to a query with one, none without, BADVERS to version 1", async () => {
    for (const t of transports) {
      const withOpt = await ask(t, buildQuery("a.example", { do: true }));
      assert.ok(withOpt.edns, t.name);
      assert.equal(withOpt.edns.version, 0, t.name);
      assert.equal(withOpt.edns.do, true, t.name);
      const without = await ask(t, buildQuery("a.example", { edns: false }));
      assert.equal(without.edns, undefined, t.name);
      const v1 = buildQuery("a.example");
      // The OPT's TTL field: extended RCODE, then VERSION (RFC 6891 §6.1.3).
      v1[v1.length - 5] = 1;
      const bad = await ask(t, v1);
      assert.equal(bad.rcode, Rcode.BADVERS, t.name);
    }
  });
});
