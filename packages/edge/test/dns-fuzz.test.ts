// Fuzz: random and mutated packets to the UDP and TCP listeners (fast-check, bounded) while a
// second client (another source, at a well-behaved pace) keeps asking a real question and must
// keep getting the right answer.

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { parseQuery } from "../src/dns/wire/query.ts";
import { startEdge } from "../src/main.ts";
import { a, buildQuery, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

const seed = buildQuery("www.example.com", { id: 7 });

const packet = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 600 }),
  // Mutations of a valid query: flip bytes, truncate, append junk.
  fc
    .tuple(
      fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), {
        maxLength: 8,
      }),
      fc.nat(seed.length),
      fc.uint8Array({ maxLength: 40 }),
    )
    .map(([flips, cut, tail]) => {
      const b = Buffer.from(seed);
      for (const [i, v] of flips) b[i] = v;
      return Buffer.concat([b.subarray(0, Math.max(cut, 12)), tail]);
    }),
);

test("hostile packets never crash the listeners or disturb other clients", async () => {
  const up = await startFakeUpstream(
    new Map([["www.example.com/1", { answers: [a("www.example.com", "192.0.2.80", 300)] }]]),
  );
  const edge = await startEdge({
    config: {
      // Generous: on a loaded CI machine a slow answer must not read as a disturbed client.
      resolver: {
        upstreams: [{ address: up.address, timeoutMs: 1000 }],
        dnssec: { validate: false },
      },
      locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [],
      edge: { dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] } },
    },
    log: () => {},
  });
  const port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
  const tcpPort = Number(edge.addresses.dns.tcp[0]!.split(":").pop());
  let good = 0;
  let stop = false;
  // The other client is another source (127.0.0.2; all of 127/8 is loopback) that stays within
  // the default per-source rate limit (50 queries/s): one query, then 25 ms, so neither the
  // fuzzer's packets nor its own pace can spend its budget.
  const goodClient: Promise<void> = (async () => {
    while (!stop) {
      const r = await udpQuery(port, "www.example.com", { timeoutMs: 2000, from: "127.0.0.2" });
      assert.equal(r?.answers[0]?.data, "192.0.2.80", `query ${good + 1}: rcode ${r?.rcode}`);
      good++;
      await new Promise((ok) => setTimeout(ok, 25));
    }
  })();
  const sock = createSocket("udp4");
  await new Promise<void>((ok) => sock.bind(0, "127.0.0.1", () => ok()));
  let replies = 0;
  sock.on("message", (m) => {
    replies++;
    // Whatever comes back must itself be a well-formed DNS response.
    assert.equal(decodeMessage(m).qr, true);
  });
  let clientError: unknown;
  try {
    await fc.assert(
      fc.asyncProperty(packet, async (p) => {
        await new Promise<void>((ok) => sock.send(p, port, "127.0.0.1", () => ok()));
        return true;
      }),
      { numRuns: 400, seed: 20261123 },
    );
    // The same corpus over TCP, framed, several per connection.
    await fc.assert(
      fc.asyncProperty(fc.array(packet, { minLength: 1, maxLength: 5 }), async (ps) => {
        await new Promise<void>((resolve) => {
          const s = connect(tcpPort, "127.0.0.1");
          s.on("error", () => resolve());
          s.on("close", () => resolve());
          s.on("data", () => {});
          for (const p of ps) {
            const f = Buffer.alloc(2 + p.length);
            f.writeUInt16BE(p.length);
            f.set(p, 2);
            s.write(f);
          }
          setTimeout(() => s.destroy(), 20);
        });
        return true;
      }),
      { numRuns: 60, seed: 20261124 },
    );
    await new Promise((r) => setTimeout(r, 300));
    // Messages that parse as queries must have been answered; the rest answered or dropped.
    assert.ok(replies > 0);
    assert.ok(parseQuery(seed).ok);
  } finally {
    stop = true;
    // Everything is closed even when the good client failed; its failure is reported below.
    clientError = await goodClient.then(
      () => undefined,
      (e: unknown) => e,
    );
    sock.close();
    await edge.close();
    await up.close();
  }
  if (clientError !== undefined) throw clientError;
  assert.ok(good > 0, "the well-behaved client was answered throughout");
});
