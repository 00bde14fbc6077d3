import assert from "node:assert/strict";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { after, before, test } from "node:test";
import { EdgeError } from "@gatehouse/contract";
import { buildQuery } from "../../../test/dns-helpers.ts";
import { parseUpstream } from "./pool.ts";
import { exchange } from "./transports.ts";
import { callsInWheel, MAX_IN_FLIGHT, MAX_USES, PORTS, udpPortsOf } from "./udp-ports.ts";

/**
 * A UDP upstream under the test's control: `reply` decides, per query datagram, what goes back
 * (the query with QR set by default) and after how long; every query's source port is noted.
 */
let server: Socket;
let port: number;
const sourcePorts: number[] = [];
let behaviour: (q: Buffer, from: RemoteInfo, send: (m: Buffer, delayMs?: number) => void) => void;
const echo = (q: Buffer) => {
  const r = Buffer.from(q);
  r[2] = r[2]! | 0x80;
  return r;
};

before(async () => {
  server = createSocket("udp4");
  server.on("message", (q, from) => {
    sourcePorts.push(from.port);
    behaviour(q, from, (m, delayMs = 0) => {
      const go = () => server.send(m, from.port, from.address);
      if (delayMs > 0) setTimeout(go, delayMs);
      else go();
    });
  });
  await new Promise<void>((ok) => server.bind(0, "127.0.0.1", () => ok()));
  port = server.address().port;
});
after(() => server.close());

const target = (timeoutMs = 1000) =>
  parseUpstream({ address: `udp://127.0.0.1:${port}`, timeoutMs });
const ask = (t: ReturnType<typeof target>, name: string, id: number, signal?: AbortSignal) =>
  exchange(
    t,
    buildQuery(name, { id, edns: false }),
    { id, name, type: 1, class: 1, exactCase: true },
    signal,
  );

// (500: the fake upstream runs in this process and reads nothing until the burst is sent, so its
// own receive buffer bounds the burst.)
test("a burst of 500 queries in flight at once, answered out of order: every one gets its own answer", async () => {
  behaviour = (q, _from, send) => send(echo(q), Math.random() * 30);
  sourcePorts.length = 0;
  const t = target(5000);
  const n = 500;
  const answers = await Promise.all(
    Array.from({ length: n }, (_, i) => ask(t, `n${i}.burst.test`, (i * 7919) & 0xffff)),
  );
  for (let i = 0; i < n; i++) {
    assert.equal(answers[i]!.readUInt16BE(0), (i * 7919) & 0xffff);
    assert.ok(answers[i]!.includes(Buffer.from(`n${i}`)), `answer ${i} is for its own name`);
  }
  const ports = new Set(sourcePorts);
  // Shared sockets, at most MAX_IN_FLIGHT queries each: far fewer source ports than queries.
  assert.ok(ports.size >= n / MAX_IN_FLIGHT && ports.size <= n / 8, `${ports.size} ports`);
});

test("the timer wheel lets go of a query once it settles, answered or aborted; the others still retransmit", async () => {
  // Every query but the ones named "lost…" answered at once.
  behaviour = (q, _from, send) => {
    if (!q.includes(Buffer.from("lost"))) send(echo(q));
  };
  const t = target(5000);
  const before = callsInWheel();
  await Promise.all(Array.from({ length: 100 }, (_, i) => ask(t, `w${i}.wheel.test`, 4000 + i)));
  // Settled long before their first retransmission (400 ms): none is held.
  assert.equal(callsInWheel(), before);
  const ac = new AbortController();
  const seen = sourcePorts.length;
  const lost = ask(t, "lost.wheel.test", 4200);
  const aborted = ask(t, "lost2.wheel.test", 4201, ac.signal);
  assert.equal(callsInWheel(), before + 2);
  ac.abort();
  await assert.rejects(aborted);
  assert.equal(callsInWheel(), before + 1);
  // The one still in flight is sent again and answered then.
  while (sourcePorts.length < seen + 1) await new Promise((r) => setTimeout(r, 5));
  const sent = sourcePorts.length;
  behaviour = (q, _from, send) => send(echo(q));
  assert.equal((await lost).readUInt16BE(0), 4200);
  assert.ok(sourcePorts.length > sent, "retransmitted");
  assert.equal(callsInWheel(), before);
});

test("replies that do not answer the question, or carry another ID, are ignored; the right one is taken", async () => {
  behaviour = (q, _from, send) => {
    const wrongId = echo(q);
    wrongId.writeUInt16BE((q.readUInt16BE(0) + 1) & 0xffff, 0);
    const notAReply = Buffer.from(q); // QR clear
    const otherName = echo(buildQuery("other.test", { id: q.readUInt16BE(0), edns: false }));
    send(wrongId);
    send(notAReply);
    send(otherName);
    send(echo(q), 20);
  };
  const r = await ask(target(), "right.test", 4242);
  assert.ok(r.includes(Buffer.from("right")));
});

test("a reply from another address or port never reaches the query (connected sockets)", async () => {
  const spoofer = createSocket("udp4");
  await new Promise<void>((ok) => spoofer.bind(0, "127.0.0.1", () => ok()));
  behaviour = (q, from, send) => {
    const forged = echo(q);
    forged.writeUInt32BE(0xffffffff, forged.length - 4); // would match, but comes from elsewhere
    spoofer.send(forged, from.port, from.address);
    send(echo(q), 50);
  };
  try {
    const r = await ask(target(), "spoofed.test", 777);
    assert.deepEqual(r, echo(buildQuery("spoofed.test", { id: 777, edns: false })));
  } finally {
    spoofer.close();
  }
});

test("a lost query is sent again (same bytes) and the late answer taken; silence ends in upstream_timeout", async () => {
  let seen = 0;
  behaviour = (q, _from, send) => {
    if (++seen === 2) send(echo(q)); // the first copy is dropped, the retransmission answered
  };
  const r = await ask(target(2000), "again.test", 99);
  assert.equal(r.readUInt16BE(0), 99);
  assert.equal(seen, 2);

  behaviour = () => {};
  const t0 = Date.now();
  await assert.rejects(ask(target(300), "silent.test", 100), (e: unknown) => {
    assert.ok(e instanceof EdgeError);
    assert.equal(e.kind, "upstream_timeout");
    return true;
  });
  assert.ok(Date.now() - t0 >= 300);
});

test("an aborted query settles at once; its socket keeps serving others", async () => {
  behaviour = (q, _from, send) => send(echo(q), 100);
  const t = target();
  const ac = new AbortController();
  const aborted = ask(t, "abort.test", 1);
  const abortedToo = ask(t, "abort2.test", 2, ac.signal);
  ac.abort();
  await assert.rejects(abortedToo, /aborted/);
  assert.equal((await aborted).readUInt16BE(0), 1);
});

test("sockets are retired after MAX_USES queries and closed when their queries settle", async () => {
  behaviour = (q, _from, send) => send(echo(q));
  sourcePorts.length = 0;
  const t = target();
  const n = MAX_USES * PORTS * 2;
  for (let i = 0; i < n; i++) await ask(t, `seq${i}.test`, i & 0xffff);
  // The pool's PORTS sockets, each replaced after MAX_USES queries.
  const seen = new Set(sourcePorts).size;
  assert.ok(seen > PORTS && seen <= PORTS + n / MAX_USES, `${seen} ports`);
  // Nothing in flight: retired sockets are closed, the pool holds at most PORTS.
  assert.ok(udpPortsOf(t).open <= PORTS);
  udpPortsOf(t).closeAll();
  assert.equal(udpPortsOf(t).open, 0);
});

test("a retired socket closed by the first reply of a batch drops the rest of the batch", async () => {
  // Every reply comes twice, back to back: the duplicate of the last reply a retired socket
  // waits for is read in the same batch as the reply, after the reply closed the socket (the
  // batch addon detaches the socket's buffers on close). It crashed the process before.
  behaviour = (q, _from, send) => {
    send(echo(q));
    send(echo(q));
  };
  const t = target();
  const n = MAX_USES * PORTS * 2;
  for (let i = 0; i < n; i++) await ask(t, `dup${i}.test`, i & 0xffff);
  assert.ok(udpPortsOf(t).open <= PORTS);
  udpPortsOf(t).closeAll();
});

test("sockets that got an ICMP port unreachable (upstream down) answer once the upstream is back", async () => {
  // A port nothing listens on: every query is refused by the kernel (ICMP), which a connected
  // socket reports as an error on itself. PORTS queries open the pool's every socket.
  const gone = createSocket("udp4");
  await new Promise<void>((ok) => gone.bind(0, "127.0.0.1", () => ok()));
  const downPort = gone.address().port;
  await new Promise<void>((ok) => gone.close(() => ok()));
  const t = parseUpstream({ address: `udp://127.0.0.1:${downPort}`, timeoutMs: 300 });
  const q = (name: string, id: number) =>
    exchange(t, buildQuery(name, { id, edns: false }), {
      id,
      name,
      type: 1,
      class: 1,
      exactCase: true,
    });
  const down = await Promise.allSettled(
    Array.from({ length: PORTS }, (_, i) => q(`down${i}.test`, 500 + i)),
  );
  for (const r of down) {
    assert.equal(r.status, "rejected");
    assert.ok(r.reason instanceof EdgeError && r.reason.source === "upstream", String(r.reason));
  }
  assert.equal(udpPortsOf(t).open, PORTS);
  // The upstream comes back on the same port: the same sockets read its answers.
  const back = createSocket("udp4");
  back.on("message", (m, from) => back.send(echo(m), from.port, from.address));
  await new Promise<void>((ok) => back.bind(downPort, "127.0.0.1", () => ok()));
  try {
    const answers = await Promise.all(
      Array.from({ length: PORTS * 2 }, (_, i) => q(`back${i}.test`, 600 + i)),
    );
    for (const [i, a] of answers.entries()) assert.equal(a.readUInt16BE(0), 600 + i);
    assert.equal(udpPortsOf(t).open, PORTS, "no socket was replaced");
  } finally {
    udpPortsOf(t).closeAll();
    back.close();
  }
});
