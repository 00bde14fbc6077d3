// The inspected-TLS handshake slots: one client stalling its handshakes holds at most a quarter
// of them; other clients still get theirs, and every refusal is counted by its reason.

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { test } from "node:test";
import type { TLSSocket } from "node:tls";
import type { Location } from "@gatehouse/contract";
import { Sweep } from "../../net/sweep.ts";
import { compileSnapshot } from "../../snapshot.ts";
import { type Exchange, newExchange } from "../exchange.ts";
import { ClientRequest } from "../http1/message.ts";
import { parseRequestHead } from "../http1/syntax.ts";
import { createInspectTls, type Handshake, handshakeSlots, type Inspector } from "./inspect-tls.ts";
import type { PolicyContexts } from "./policy-request.ts";

const snapshot = compileSnapshot({
  schemaVersion: 1,
  version: 1,
  resolver: { upstreams: [] },
  locations: [],
  lists: [],
  policies: [],
});

/** A CONNECT from `ip` whose ClientHello was read, in an inspecting location. */
function connectFrom(ip: string): Exchange {
  const buf = Buffer.from(
    "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
    "latin1",
  );
  const parsed = parseRequestHead(buf, buf.length, { maxHeadBytes: 1 << 16, maxHeaderCount: 100 });
  const socket = { remoteAddress: ip, remotePort: 40000, destroy() {} } as unknown as Socket;
  const ex = newExchange(
    snapshot,
    "http",
    new ClientRequest(parsed, socket, { attach() {}, resume() {} }, false),
    undefined,
    socket,
  );
  ex.location = { id: "lo", tlsInspection: true } as Location;
  ex.tlsHello = true;
  return ex;
}

test("one source's stalled handshakes hold a quarter of the slots; other sources get theirs", async () => {
  const results: string[] = [];
  const pending: EventEmitter[] = [];
  const inspector: Inspector = {
    handshakes: handshakeSlots(8),
    handshakeTimeoutMs: 60_000,
    handshakeSweep: new Sweep<Handshake>(60_000),
    handshakeResult: (r) => results.push(r),
    // A client that never finishes its handshake: the socket emits nothing until told to.
    accept: async () => {
      const tls = new EventEmitter();
      pending.push(tls);
      return Object.assign(tls, {
        destroy() {},
        getProtocol: () => "TLSv1.3",
      }) as unknown as TLSSocket;
    },
    serve: async () => {},
    originVerdict: async () => undefined,
  };
  const stage = createInspectTls({} as PolicyContexts, inspector);
  const run = (ex: Exchange) => stage.run(ex) as Promise<string>;
  const hostile = Array.from({ length: 5 }, () => connectFrom("192.0.2.7"));
  const running = hostile.map(run);
  await new Promise((r) => setImmediate(r));
  // Two of eight slots for one source: its third to fifth are refused and counted.
  assert.equal(inspector.handshakes.active, 2);
  assert.deepEqual(results, ["refused_source_busy", "refused_source_busy", "refused_source_busy"]);
  for (const ex of hostile.slice(2)) {
    assert.equal(ex.reason, "tls_handshake_failed");
    assert.match(ex.answer?.detail ?? "", /from this client/);
  }
  // The same source on another IPv6 interface identifier is the same source (its /64)...
  const v6 = [connectFrom("2001:db8::1"), connectFrom("2001:db8::2"), connectFrom("2001:db8::3")];
  const v6Running = v6.map(run);
  await new Promise((r) => setImmediate(r));
  assert.equal(results.at(-1), "refused_source_busy");
  // ...and another source still gets a slot.
  const other = run(connectFrom("198.51.100.9"));
  await new Promise((r) => setImmediate(r));
  assert.equal(inspector.handshakes.active, 5);
  // The handshakes finish (or fail): every slot is given back.
  for (const tls of pending) tls.emit("close");
  await Promise.all([...running, ...v6Running, other]);
  assert.equal(inspector.handshakes.active, 0);
  assert.equal(inspector.handshakes.bySource.size, 0);
  assert.equal(results.filter((r) => r === "failed").length, 5);
  // The total bound still applies across sources.
  const full: Inspector = { ...inspector, handshakes: handshakeSlots(1) };
  const s2 = createInspectTls({} as PolicyContexts, full);
  const first = s2.run(connectFrom("203.0.113.1")) as Promise<string>;
  await new Promise((r) => setImmediate(r));
  const refused = connectFrom("203.0.113.2");
  assert.equal(await (s2.run(refused) as Promise<string>), "respond");
  assert.equal(results.at(-1), "refused_busy");
  for (const tls of pending) tls.emit("close");
  await first;
  inspector.handshakeSweep.stop();
});
