// Hostile DNS stream clients (TCP and DoT): a client that sends and never reads, one that holds
// connections open, one that half-closes after its query. Each must cost the edge a bounded
// amount, and other clients must keep being answered.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { type ClientHttp2Session, connect as h2connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { bundleOfEdgeConfig, type EdgeConfigFile } from "@gatehouse/contract";
import { EdgeConfigError, loadEdgeConfigFile } from "../src/config-file.ts";
import { DnsService } from "../src/dns/dns-service.ts";
import { listenDoh } from "../src/dns/server/doh-server.ts";
import { MAX_FRAME } from "../src/dns/server/stream-connection.ts";
import { listenStream, type StreamListenerOptions } from "../src/dns/server/tcp-server.ts";
import { RRType } from "../src/dns/wire/constants.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { startEdge } from "../src/main.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { edgeRegistry } from "../src/telemetry/metrics.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { loadTlsMaterial } from "../src/tls-material.ts";
import { a, buildQuery, type FakeUpstream, startFakeUpstream } from "./dns-helpers.ts";

const bigTxt = Array.from({ length: 30 }, () => ({
  name: "big.example",
  type: RRType.TXT,
  class: 1,
  ttl: 300,
  data: [new Uint8Array(100).fill(0x62)],
}));

const zone = new Map([
  ["a.example/1", { answers: [a("a.example", "192.0.2.1", 300)] }],
  ["big.example/16", { answers: bigTxt }],
  ["slow-tcp.example/1", { answers: [a("slow-tcp.example", "192.0.2.7", 300)], delayMs: 300 }],
  ["slow-dot.example/1", { answers: [a("slow-dot.example", "192.0.2.7", 300)], delayMs: 300 }],
]);

function frame(m: Uint8Array): Buffer {
  const f = Buffer.alloc(2 + m.length);
  f.writeUInt16BE(m.length);
  f.set(m, 2);
  return f;
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 6000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for: ${what}`);
}

/** Connect from `from` (a loopback address: each is its own source), over TLS when `tls`. */
function open(port: number, from: string, tls?: { ca: string; alpn?: string[] }): Promise<Socket> {
  return new Promise((ok, fail) => {
    const raw = connect({ port, host: "127.0.0.1", localAddress: from, allowHalfOpen: true });
    const s: Socket = tls
      ? tlsConnect({
          socket: raw,
          ca: tls.ca,
          servername: "localhost",
          ...(tls.alpn ? { ALPNProtocols: tls.alpn } : {}),
        })
      : raw;
    // The TLS socket reports a reset too.
    if (tls) raw.on("error", () => {});
    s.once(tls ? "secureConnect" : "connect", () => ok(s));
    s.once("error", fail);
  });
}

/** Resolves when the edge has closed `s` (it was refused at accept). */
function refusedBy(s: Socket): Promise<void> {
  return new Promise<void>((ok) => {
    s.on("error", () => {});
    s.on("end", () => ok());
    s.on("close", () => ok());
    s.resume();
  });
}

/** One query on a new connection from `from`; resolves with the first answer. */
async function ask(port: number, from: string, query: Uint8Array, tls?: { ca: string }) {
  const s = await open(port, from, tls);
  return new Promise<Buffer>((ok, fail) => {
    let buf = Buffer.alloc(0);
    s.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        s.destroy();
        ok(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      }
    });
    s.on("error", fail);
    s.on("close", () => fail(new Error("closed without an answer")));
    s.write(frame(query));
  });
}

/** Read framed answers from `s` until it closes; resolves with them. */
function readAll(s: Socket): Promise<Buffer[]> {
  return new Promise((ok) => {
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    s.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + out[out.length - 1]!.length);
      }
    });
    s.on("error", () => {});
    s.on("close", () => ok(out));
  });
}

describe("DNS stream listeners under hostile clients", () => {
  let up: FakeUpstream;
  let service: DnsService;
  let ca: string;
  let cert: { cert: string; key: string };
  const listeners: { close(graceMs?: number): Promise<void> }[] = [];

  before(async () => {
    up = await startFakeUpstream(zone);
    const cfg: EdgeConfigFile = {
      // The flood must be answered in full: no per-source rate limit.
      resolver: {
        upstreams: [{ address: up.address, timeoutMs: 2000 }],
        rateLimit: false,
        dnssec: { validate: false },
      },
      locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [],
    };
    service = new DnsService(compileSnapshot(bundleOfEdgeConfig(cfg)), { log: new QueryLog() });
    const tls = await loadTlsMaterial({
      dataDir: mkdtempSync(join(tmpdir(), "gh-stream-")),
      log: () => {},
    });
    cert = { cert: tls.cert, key: tls.key };
    ca = tls.cert;
  });
  after(async () => {
    await Promise.all(listeners.map((l) => l.close(0)));
    await up.close();
  });

  const listen = async (opts: StreamListenerOptions) => {
    const l = await listenStream(service, "127.0.0.1:0", opts);
    listeners.push(l);
    return l;
  };

  for (const kind of ["tcp", "dot"] as const) {
    test(`${kind}: a client that sends 50k queries and never reads is bounded and closed; others are served`, async () => {
      const maxQueuedBytes = 16_384;
      const l = await listen({
        maxQueuedBytes,
        drainTimeoutMs: 500,
        ...(kind === "dot" ? { tls: cert } : {}),
      });
      const tls = kind === "dot" ? { ca } : undefined;
      // Warm the cache so the flood is answered by the fast path as fast as it is read.
      const warm = await ask(
        l.port,
        "127.0.0.1",
        buildQuery("big.example", { type: RRType.TXT }),
        tls,
      );
      assert.equal(decodeMessage(warm).answers.length, 30);

      const flood = await open(l.port, "127.0.0.2", tls);
      flood.on("error", () => {});
      flood.pause(); // never reads
      const q = frame(buildQuery("big.example", { type: RRType.TXT, id: 7 }));
      const batch = Buffer.concat(Array.from({ length: 1000 }, () => q));
      for (let i = 0; i < 50; i++) flood.write(batch);

      // A normal client from another source is answered while the flood is on.
      let served = 0;
      while (l.stats().closed.backpressure === 0) {
        const r = await ask(l.port, "127.0.0.3", buildQuery("a.example"), tls);
        assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
        served++;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(served > 0);
      const st = l.stats();
      assert.equal(st.closed.backpressure, 1);
      assert.ok(
        st.peakQueuedBytes >= maxQueuedBytes,
        `queue reached the bound (${st.peakQueuedBytes})`,
      );
      assert.ok(
        st.peakQueuedBytes <= maxQueuedBytes + MAX_FRAME,
        `queued output stayed bounded: ${st.peakQueuedBytes}`,
      );
      await until("the flood connection is released", () => l.stats().open === 0);
      assert.equal(l.stats().queuedBytes, 0);
      flood.destroy();
      assert.match(
        await edgeRegistry().metrics(),
        new RegExp(
          `gatehouse_dns_connections_closed_total\\{transport="${kind}",reason="backpressure"\\} [1-9]`,
        ),
      );
    });
  }

  for (const kind of ["tcp", "dot"] as const) {
    test(`${kind}: a client that drips a message a byte at a time is closed as slow; pipelined and slow-but-in-time clients are served`, async () => {
      // The drip (a byte per 150 ms) stays well inside the idle timeout, which alone would
      // restart on every byte; the message deadline ends it.
      const l = await listen({
        idleTimeoutMs: 1000,
        messageTimeoutMs: 1500,
        ...(kind === "dot" ? { tls: cert } : {}),
      });
      const tls = kind === "dot" ? { ca } : undefined;
      const drip = await open(l.port, "127.0.0.4", tls);
      const dripped = readAll(drip);
      const dripBytes = frame(buildQuery("a.example", { id: 1 }));
      let sent = 0;
      let dripClosed = false;
      drip.on("close", () => {
        dripClosed = true;
      });
      while (!dripClosed && sent < dripBytes.length) {
        drip.write(dripBytes.subarray(sent, sent + 1));
        sent++;
        await new Promise((r) => setTimeout(r, 150));
      }
      assert.deepEqual(await dripped, [], "the dripped query is never answered");
      assert.ok(sent < dripBytes.length, `cut before the message was whole (${sent} bytes)`);
      assert.equal(l.stats().closed.slow, 1);
      assert.equal(l.stats().closed.idle, 0);
      assert.match(
        await edgeRegistry().metrics(),
        new RegExp(
          `gatehouse_dns_connections_closed_total\\{transport="${kind}",reason="slow"\\} [1-9]`,
        ),
      );

      // Pipelined: 20 queries in one write, 20 answers.
      const piped = await open(l.port, "127.0.0.5", tls);
      const pipedAnswers = readAll(piped);
      piped.end(
        Buffer.concat(
          Array.from({ length: 20 }, (_, i) => frame(buildQuery("a.example", { id: 100 + i }))),
        ),
      );
      const answers = await pipedAnswers;
      assert.equal(answers.length, 20);
      assert.deepEqual(
        answers.map((x) => decodeMessage(x).id).sort((x, y) => x - y),
        Array.from({ length: 20 }, (_, i) => 100 + i),
      );

      // Slow but within the deadline: a message in three pieces 100 ms apart, then another.
      const patient = await open(l.port, "127.0.0.6", tls);
      const patientAnswers = readAll(patient);
      const two = Buffer.concat([
        frame(buildQuery("a.example", { id: 201 })),
        frame(buildQuery("a.example", { id: 202 })),
      ]);
      const cuts = [0, 1, 12, 31, 40, two.length];
      for (let i = 0; i + 1 < cuts.length; i++) {
        patient.write(two.subarray(cuts[i], cuts[i + 1]));
        await new Promise((r) => setTimeout(r, 100));
      }
      patient.end();
      const got = await patientAnswers;
      assert.deepEqual(
        got.map((x) => decodeMessage(x).id).sort((x, y) => x - y),
        [201, 202],
      );
      assert.equal(l.stats().closed.slow, 1);
    });
  }

  for (const kind of ["dot", "doh"] as const)
    test(`${kind}: a TLS handshake dripped a byte at a time is closed within the handshake deadline, counted as slow`, async () => {
      const l =
        kind === "dot"
          ? await listen({ idleTimeoutMs: 1000, tls: cert })
          : await listenDohAt({ idleTimeoutMs: 1000 });
      // The bytes of a real ClientHello, written by a TLS client into a capturing stream.
      const hello = await new Promise<Buffer>((ok) => {
        const sink = new Duplex({
          read() {},
          write(chunk: Buffer, _e, cb) {
            ok(Buffer.from(chunk));
            cb();
          },
        });
        const t = tlsConnect({ socket: sink, servername: "localhost", ca });
        t.on("error", () => {});
      });
      const raw = await open(l.port, "127.0.0.7");
      let rawClosed = false;
      raw.on("error", () => {});
      raw.on("close", () => {
        rawClosed = true;
      });
      raw.resume();
      let sent = 0;
      while (!rawClosed && sent < hello.length) {
        raw.write(hello.subarray(sent, sent + 1));
        sent++;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(
        sent < hello.length,
        `cut before the ClientHello was whole (${sent} of ${hello.length})`,
      );
      await until("counted", () => l.stats().closed.slow === 1);
    });

  test("tcp: one source holds its connection limit open and never closes; another source is answered; idle connections are destroyed after the grace", async () => {
    const l = await listen({
      maxConnectionsPerSource: 4,
      maxConnections: 10,
      idleTimeoutMs: 300,
      closeGraceMs: 200,
    });
    // Connections that read (so they see the edge's FIN) but never close their side.
    const held: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = await open(l.port, "127.0.0.2");
      s.on("error", () => {});
      s.resume();
      held.push(s);
    }
    await until("four connections held", () => l.stats().open === 4);
    const fifth = await open(l.port, "127.0.0.2");
    await refusedBy(fifth);
    assert.equal(l.stats().refused.per_source, 1);
    assert.match(
      await edgeRegistry().metrics(),
      /gatehouse_dns_connections_refused_total\{transport="tcp",reason="per_source"\} [1-9]/,
    );
    const r = await ask(l.port, "127.0.0.3", buildQuery("a.example"));
    assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
    // Idle: the edge ends them; they never close, so they are destroyed after the grace.
    await until("held connections destroyed", () => l.stats().open === 0);
    assert.equal(l.stats().closed.idle, 4);
    assert.equal(l.stats().closed.linger, 4);
    const again = await ask(l.port, "127.0.0.2", buildQuery("a.example"));
    assert.equal(decodeMessage(again).answers[0]?.data, "192.0.2.1");
    for (const s of held) s.destroy();
  });

  test("tcp: the per-listener total is a limit too", async () => {
    const l = await listen({ maxConnectionsPerSource: 2, maxConnections: 3 });
    const held = [
      await open(l.port, "127.0.0.2"),
      await open(l.port, "127.0.0.2"),
      await open(l.port, "127.0.0.3"),
    ];
    await until("three held", () => l.stats().open === 3);
    const s = await open(l.port, "127.0.0.4");
    await refusedBy(s);
    assert.equal(l.stats().refused.total, 1);
    for (const h of held) h.destroy();
  });

  for (const kind of ["tcp", "dot"] as const) {
    test(`${kind}: a client that half-closes after its query still gets the answer on a cache miss (RFC 7766)`, async () => {
      const l = await listen(kind === "dot" ? { tls: cert } : {});
      const s = await open(l.port, "127.0.0.4", kind === "dot" ? { ca } : undefined);
      const answers = readAll(s);
      // Query and FIN at once (`nc -q`): the upstream takes 300 ms to answer.
      s.end(
        Buffer.concat([
          frame(buildQuery(`slow-${kind}.example`, { id: 1 })),
          frame(buildQuery("a.example", { id: 2 })),
        ]),
      );
      const got = await answers;
      assert.deepEqual(got.map((m) => decodeMessage(m).id).sort(), [1, 2]);
      for (const m of got) assert.equal(decodeMessage(m).rcode, 0);
      await until("closed", () => l.stats().open === 0);
    });
  }

  const listenDohAt = async (opts: StreamListenerOptions) => {
    const l = await listenDoh(service, "127.0.0.1:0", cert, opts);
    listeners.push(l);
    return l;
  };

  /** An HTTP/2 DoH client connecting from `from`. */
  const h2From = (port: number, from: string): Promise<ClientHttp2Session> =>
    new Promise((ok, fail) => {
      const c = h2connect(`https://localhost:${port}`, {
        createConnection: () => {
          const raw = connect({ port, host: "127.0.0.1", localAddress: from });
          raw.on("error", () => {});
          const t = tlsConnect({
            socket: raw,
            ca,
            servername: "localhost",
            ALPNProtocols: ["h2"],
          });
          // A reset reaches the session too (and fails its requests).
          t.on("error", () => {});
          return t;
        },
      });
      c.once("connect", () => ok(c));
      c.once("error", fail);
    });

  const dohGet = (c: ClientHttp2Session, query: Buffer): Promise<Buffer> =>
    new Promise((ok, fail) => {
      const r = c.request({ ":path": `/dns-query?dns=${query.toString("base64url")}` });
      const chunks: Buffer[] = [];
      r.on("data", (d: Buffer) => chunks.push(d));
      r.on("response", (h) => {
        if (h[":status"] !== 200) fail(new Error(`DoH answered ${h[":status"]}`));
      });
      r.on("end", () => ok(Buffer.concat(chunks)));
      r.on("error", fail);
    });

  test("doh h2: a client that opens streams with a zero flow-control window and never reads is closed; others are served", async () => {
    const l = await listenDohAt({ idleTimeoutMs: 500 });
    const frameH2 = (type: number, flags: number, stream: number, payload: Buffer) => {
      const h = Buffer.alloc(9);
      h.writeUIntBE(payload.length, 0, 3);
      h[3] = type;
      h[4] = flags;
      h.writeUInt32BE(stream, 5);
      return Buffer.concat([h, payload]);
    };
    // HPACK literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2).
    const literal = (name: string, value: string) =>
      Buffer.concat([
        Buffer.from([0, name.length]),
        Buffer.from(name),
        Buffer.from([value.length]),
        Buffer.from(value),
      ]);
    const q = buildQuery("big.example", { type: RRType.TXT, id: 0 }).toString("base64url");
    const block = Buffer.concat([
      literal(":method", "GET"),
      literal(":scheme", "https"),
      literal(":authority", "localhost"),
      literal(":path", `/dns-query?dns=${q}`),
    ]);
    const flood = await open(l.port, "127.0.0.2", { ca, alpn: ["h2"] });
    flood.on("error", () => {});
    flood.pause(); // never reads
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: the edge may send answer heads but no answer bytes.
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(0, 2);
    const frames = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frameH2(4, 0, 0, settings)];
    // END_STREAM | END_HEADERS on streams 1, 3, 5, …
    for (let i = 0; i < 50; i++) frames.push(frameH2(1, 0x5, 2 * i + 1, block));
    flood.write(Buffer.concat(frames));
    await until("the flood is accepted", () => l.stats().open >= 1);
    let served = 0;
    do {
      const c = await h2From(l.port, "127.0.0.3");
      const r = await dohGet(c, buildQuery("a.example", { id: 0 }));
      assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
      c.close();
      served++;
      await new Promise((r) => setTimeout(r, 20));
    } while (l.stats().closed.backpressure === 0);
    assert.ok(served > 0);
    await until(
      "the flood connection is released",
      () => !flood.readable || flood.destroyed || l.stats().open <= 1,
    );
    flood.destroy();
  });

  test("doh http/1.1: a client that pipelines 5,000 queries and never reads is closed; others are served", async () => {
    const l = await listenDohAt({ idleTimeoutMs: 500 });
    const q = buildQuery("big.example", { type: RRType.TXT, id: 0 }).toString("base64url");
    const flood = await open(l.port, "127.0.0.2", { ca, alpn: ["http/1.1"] });
    flood.on("error", () => {});
    flood.pause(); // never reads
    flood.write(`GET /dns-query?dns=${q} HTTP/1.1\r\nHost: localhost\r\n\r\n`.repeat(5000));
    // Every other client's query is answered, while the flood is on and after it is cut.
    for (let i = 0; i < 10 || l.stats().closed.backpressure === 0; i++) {
      const c = await h2From(l.port, "127.0.0.3");
      const r = await dohGet(c, buildQuery("a.example", { id: 0 }));
      assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
      c.close();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(l.stats().closed.backpressure, 1);
    await until("released", () => l.stats().open === 0);
    flood.destroy();
  });

  test("doh http/1.1: a request head dripped a byte at a time is cut by the head deadline; others are served", async () => {
    // A byte per 150 ms stays inside the idle timeout; node:http's headersTimeout (set to the
    // idle timeout) is measured from the request's start, not reset by each byte.
    const l = await listenDohAt({ idleTimeoutMs: 1000 });
    const q = buildQuery("a.example", { id: 0 }).toString("base64url");
    const head = Buffer.from(
      `GET /dns-query?dns=${q} HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${"p".repeat(40)}\r\n\r\n`,
    );
    const drip = await open(l.port, "127.0.0.4", { ca, alpn: ["http/1.1"] });
    let dripClosed = false;
    let reply = "";
    drip.on("error", () => {});
    drip.on("data", (c: Buffer) => {
      reply += c.toString("latin1");
    });
    drip.on("close", () => {
      dripClosed = true;
    });
    let sent = 0;
    while (!dripClosed && sent < head.length) {
      drip.write(head.subarray(sent, sent + 1));
      sent++;
      await new Promise((r) => setTimeout(r, 150));
    }
    await until("the drip is closed", () => dripClosed);
    assert.ok(sent < head.length, `cut before the head was whole (${sent} of ${head.length})`);
    assert.doesNotMatch(reply, /^HTTP\/1\.1 200/);
    assert.equal(l.stats().closed.slow, 1);
    const c = await h2From(l.port, "127.0.0.3");
    const r = await dohGet(c, buildQuery("a.example", { id: 0 }));
    assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
    c.close();
  });

  test("doh h2: POST bodies that never complete are bounded per connection and closed as slow; others are served", async () => {
    const l = await listenDohAt({ idleTimeoutMs: 400 });
    const slow = await h2From(l.port, "127.0.0.2");
    slow.on("error", () => {});
    // Twenty bodies of 16,000 bytes, none ended: sixteen fit in the 4 × 65,535 bytes one
    // connection may hold; the last four are refused (413) at once. The sixteen wait for bytes
    // that never come.
    const statuses: number[] = [];
    const body = Buffer.alloc(16_000, 1);
    for (let i = 0; i < 20; i++) {
      const r = slow.request({
        ":method": "POST",
        ":path": "/dns-query",
        "content-type": "application/dns-message",
      });
      r.on("response", (h) => statuses.push(Number(h[":status"])));
      r.on("error", () => {});
      r.write(body);
    }
    await until("the bodies over the bound refused", () => statuses.length >= 4);
    assert.deepEqual(statuses, [413, 413, 413, 413]);
    // Another source is answered meanwhile.
    const other = await h2From(l.port, "127.0.0.3");
    const r = await dohGet(other, buildQuery("a.example", { id: 0 }));
    assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
    other.close();
    // The stalled bodies counted as being resolved, so the connection stayed open for ever
    // (no traffic either way, still open minutes later); it is closed at the idle timeout now.
    await until("the slow connection is closed", () => l.stats().closed.slow === 1);
    await until("released", () => l.stats().open === 0);
    assert.deepEqual(
      statuses,
      [413, 413, 413, 413],
      "only the bodies over the bound were answered",
    );
    assert.match(
      await edgeRegistry().metrics(),
      /gatehouse_dns_connections_closed_total\{transport="doh",reason="slow"\} [1-9]/,
    );
    slow.destroy();
  });

  test("doh h2: a session that only sends PINGs (no request) is closed as idle; others are served", async () => {
    const l = await listenDohAt({ idleTimeoutMs: 400 });
    const c = await h2From(l.port, "127.0.0.2");
    c.on("error", () => {});
    const closed = new Promise<void>((ok) => c.once("close", () => ok()));
    // A PING every 100 ms: traffic both ways, but no query for far longer than the idle limit.
    const pinger = setInterval(() => {
      if (!c.destroyed && !c.closed) c.ping(() => {});
    }, 100);
    try {
      await until("the pinging session closed", () => l.stats().open === 0);
      await closed;
      assert.ok(l.stats().closed.idle >= 1);
    } finally {
      clearInterval(pinger);
      c.destroy();
    }
    const other = await h2From(l.port, "127.0.0.3");
    const r = await dohGet(other, buildQuery("a.example", { id: 0 }));
    assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
    other.close();
  });

  test("doh: per-source connection limit; another source is answered; idle sessions are closed", async () => {
    const l = await listenDohAt({ maxConnectionsPerSource: 2, idleTimeoutMs: 400 });
    const held = [await h2From(l.port, "127.0.0.2"), await h2From(l.port, "127.0.0.2")];
    for (const c of held) c.on("error", () => {});
    await until("two held", () => l.stats().open === 2);
    await assert.rejects(
      h2From(l.port, "127.0.0.2").then((c) => dohGet(c, buildQuery("a.example"))),
    );
    assert.equal(l.stats().refused.per_source, 1);
    const other = await h2From(l.port, "127.0.0.3");
    const r = await dohGet(other, buildQuery("a.example", { id: 0 }));
    assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
    other.close();
    await until("idle sessions closed", () => l.stats().open === 0);
    assert.ok(l.stats().closed.idle >= 2);
  });
});

describe("edge.dns.limits from the config file", () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-dns-limits-"));
  const file = (name: string, limits: string) => {
    const f = join(dir, name);
    writeFileSync(
      f,
      `resolver: {upstreams: []}
locations: [{id: lo, name: Loopback, networks: [127.0.0.0/8]}]
lists: []
policies: []
edge:
  dns:
    tcp: ["127.0.0.1:0"]
    limits: ${limits}
`,
    );
    return f;
  };

  test("configured limits are what the TCP listener enforces", async () => {
    const cfg = await loadEdgeConfigFile(
      file("ok.yaml", "{maxConnectionsPerSource: 1, idleTimeoutMs: 60000, maxQueuedBytes: 32768}"),
    );
    const edge = await startEdge({ config: cfg, log: () => {} });
    try {
      const port = Number(edge.addresses.dns.tcp[0]!.split(":").pop());
      const first = await open(port, "127.0.0.5");
      first.on("error", () => {});
      await new Promise((r) => setTimeout(r, 50));
      const second = await open(port, "127.0.0.5");
      await refusedBy(second);
      assert.ok(!first.destroyed, "the first connection is still open (60 s idle timeout)");
      first.destroy();
    } finally {
      await edge.close();
    }
  });

  test("the configured message deadline cuts a partial message long before the idle timeout", async () => {
    const cfg = await loadEdgeConfigFile(
      file("msg.yaml", "{idleTimeoutMs: 60000, messageTimeoutMs: 300}"),
    );
    const edge = await startEdge({ config: cfg, log: () => {} });
    try {
      const port = Number(edge.addresses.dns.tcp[0]!.split(":").pop());
      const partial = await open(port, "127.0.0.6");
      const closed = readAll(partial);
      // The socket is half-open capable: the edge's close ends it.
      partial.on("end", () => partial.destroy());
      partial.write(Buffer.from([0, 29, 0xab])); // a length and one byte of the message
      assert.deepEqual(await closed, []);
      assert.match(
        await edgeRegistry().metrics(),
        /gatehouse_dns_connections_closed_total\{transport="tcp",reason="slow"\} [1-9]/,
      );
    } finally {
      await edge.close();
    }
  });

  test("out-of-range and unknown keys are refused when the file is read", async () => {
    for (const bad of [
      "{maxQueuedBytes: 100}",
      "{idleTimeoutMs: 5}",
      "{messageTimeoutMs: 5}",
      "{maxConnections: 0}",
      "{idle: 5000}",
    ])
      await assert.rejects(loadEdgeConfigFile(file("bad.yaml", bad)), EdgeConfigError, bad);
  });
});
