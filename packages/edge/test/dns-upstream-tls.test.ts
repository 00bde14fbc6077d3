// DoT (RFC 7858) and DoH (RFC 8484) *upstreams* behind a private CA: the upstream's `ca` /
// `caFile` is trusted instead of the system roots, a certificate the CA did not sign is refused
// (SERVFAIL, gatehouse_dns_upstream_errors_total{reason="tls"}), and failover moves on to the next
// upstream. Real TLS on loopback; the CA and certificates are generated here.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { generate } from "selfsigned";
import { parseEdgeConfig } from "../src/config-file.ts";
import { parseUpstream } from "../src/dns/upstream/pool.ts";
import { tlsExchange } from "../src/dns/upstream/transports.ts";
import { Ede, Rcode } from "../src/dns/wire/constants.ts";
import { readEde } from "../src/dns/wire/edns.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import {
  a,
  answerFor,
  buildQuery,
  type FakeZoneEntry,
  serveFramed,
  udpQuery,
} from "./dns-helpers.ts";

interface Pems {
  readonly cert: string;
  readonly key: string;
}

/** Listen on loopback, counting TLS connections; close() also ends kept-alive ones. */
async function listenTls(server: TlsServer | Http2SecureServer | HttpsServer) {
  const sockets = new Set<Socket>();
  server.on("tlsClientError", () => {});
  server.on("secureConnection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    state.connections++;
  });
  const state = { connections: 0 };
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return state.connections;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** A DNS-over-TLS server speaking length-prefixed DNS (RFC 7858 §3.3). */
function startDot(
  zone: Map<string, FakeZoneEntry>,
  pems: Pems,
  counts: string[],
  /** Close a connection, unanswered, when this many queries arrived on it (0: never). */
  dropAt = 0,
) {
  const server = createTlsServer({ ...pems, ALPNProtocols: ["dot"] }, (s) => {
    let n = 0;
    serveFramed(s, (msg) => {
      if (++n === dropAt) return void s.destroy();
      counts.push("dot");
      return answerFor(zone, msg, false);
    });
  });
  return listenTls(server);
}

/** A DoH server (HTTP/2, HTTP/1.1 too) answering POST application/dns-message on /dns-query. */
function startDoh(zone: Map<string, FakeZoneEntry>, pems: Pems, counts: string[]) {
  const server = createSecureServer({ ...pems, allowHTTP1: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const out =
        req.method === "POST" && req.url === "/dns-query"
          ? answerFor(zone, Buffer.concat(chunks), false)
          : undefined;
      if (!out) {
        res.writeHead(400).end();
        return;
      }
      counts.push("doh");
      res.writeHead(200, { "content-type": "application/dns-message" }).end(out);
    });
  });
  return listenTls(server);
}

/**
 * A DoH server over HTTP/1.1 that closes a kept-alive connection when a second request arrives
 * on it, without answering: what a client sees when the server timed the connection out just
 * as the client reused it.
 */
function startStaleDoh(zone: Map<string, FakeZoneEntry>, pems: Pems) {
  const perSocket = new WeakMap<Socket, number>();
  const server = createHttpsServer({ ...pems, keepAlive: true }, (req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n > 1) return void req.socket.destroy();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const out = answerFor(zone, Buffer.concat(chunks), false);
      res.writeHead(200, { "content-type": "application/dns-message" }).end(out);
    });
  });
  return listenTls(server);
}

function counter(text: string, protocol: string, reason: string): number {
  const m = new RegExp(
    `gatehouse_dns_upstream_errors_total\\{protocol="${protocol}",reason="${reason}"\\} (\\d+)`,
  ).exec(text);
  return m ? Number(m[1]) : 0;
}

describe("DoT and DoH upstreams with a private CA", () => {
  const zone = new Map<string, FakeZoneEntry>(
    ["dot.test", "doh.test", "bad-dot.test", "bad-doh.test", "failover.test"].map((n, i) => [
      `${n}/1`,
      { answers: [a(n, `192.0.2.${i + 1}`)] },
    ]),
  );
  zone.set("signed.test/1", { ad: true, answers: [a("signed.test", "192.0.2.50")] });
  const counts = { good: [] as string[], rogue: [] as string[] };
  const servers: { close(): Promise<void> }[] = [];
  let edge: Edge;
  let port: number;
  let doh: Awaited<ReturnType<typeof startDoh>>;
  let dot: Awaited<ReturnType<typeof startDot>>;
  let staleDot: Awaited<ReturnType<typeof startDot>>;
  let caPem: string;
  let stale: Awaited<ReturnType<typeof startDoh>>;

  before(async () => {
    const ca = await generate([{ name: "commonName", value: "Gatehouse Test CA" }], {
      keyType: "ec",
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: true, critical: true },
        { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      ],
    });
    const names = {
      name: "subjectAltName" as const,
      altNames: [
        { type: 2 as const, value: "resolver.test" },
        { type: 7 as const, ip: "127.0.0.1" },
      ],
    };
    const leaf = await generate([{ name: "commonName", value: "resolver.test" }], {
      keyType: "ec",
      algorithm: "sha256",
      ca: { key: ca.private, cert: ca.cert },
      extensions: [names],
    });
    // Same names, but self-signed: not from the configured CA.
    const rogue = await generate([{ name: "commonName", value: "resolver.test" }], {
      keyType: "ec",
      algorithm: "sha256",
      extensions: [names],
    });
    caPem = ca.cert;
    const good = { cert: leaf.cert, key: leaf.private };
    const bad = { cert: rogue.cert, key: rogue.private };
    dot = await startDot(zone, good, counts.good);
    staleDot = await startDot(zone, good, counts.good, 2);
    doh = await startDoh(zone, good, counts.good);
    const badDot = await startDot(zone, bad, counts.rogue);
    const badDoh = await startDoh(zone, bad, counts.rogue);
    stale = await startStaleDoh(zone, good);
    servers.push(dot, doh, badDot, badDoh, stale, staleDot);

    const dir = mkdtempSync(join(tmpdir(), "gh-upstream-ca-"));
    writeFileSync(join(dir, "private-ca.pem"), ca.cert);
    // DoT: PEM text and a server name; DoH: a file relative to the config, verified by IP.
    const dotUp = (p: number) => ({
      address: `tls://127.0.0.1:${p}`,
      serverName: "resolver.test",
      ca: ca.cert,
    });
    const dohUp = (p: number) => ({
      address: `https://127.0.0.1:${p}/dns-query`,
      caFile: "private-ca.pem",
    });
    const config = parseEdgeConfig(
      {
        resolver: {
          upstreams: [dotUp(dot.port)],
          // Without validation the upstream's AD over an authenticated channel is what counts.
          dnssec: { validate: false },
          conditionalForwarding: [
            { suffix: "doh.test", upstreams: [dohUp(doh.port)] },
            { suffix: "bad-dot.test", upstreams: [dotUp(badDot.port)] },
            { suffix: "bad-doh.test", upstreams: [dohUp(badDoh.port)] },
            { suffix: "failover.test", upstreams: [dotUp(badDot.port), dohUp(doh.port)] },
            { suffix: "stale.test", upstreams: [dohUp(stale.port)] },
            { suffix: "stale-dot.test", upstreams: [dotUp(staleDot.port)] },
          ],
        },
        locations: [{ id: "lo", name: "lo", networks: ["127.0.0.1"] }],
        lists: [],
        policies: [],
        edge: { dns: { udp: ["127.0.0.1:0"] }, metrics: "127.0.0.1:0" },
      },
      "inline",
      dir,
    );
    edge = await startEdge({ config, log: () => {} });
    port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
  });

  after(async () => {
    await edge?.close();
    for (const s of servers) await s.close();
  });

  const metrics = async () => (await fetch(`http://${edge.addresses.metrics}/metrics`)).text();

  test("a DoT upstream signed by the configured CA answers (ca as PEM text, serverName)", async () => {
    const r = await udpQuery(port, "dot.test");
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "192.0.2.1");
    assert.ok(counts.good.includes("dot"));
  });

  test("a DoH upstream signed by the configured CA answers (caFile, IP address SAN)", async () => {
    const r = await udpQuery(port, "doh.test");
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "192.0.2.2");
    assert.ok(counts.good.includes("doh"));
  });

  test("the DoH upstream's connection is kept alive across queries", async () => {
    const queries = counts.good.filter((c) => c === "doh").length;
    const connections = doh.connections;
    assert.ok(connections >= 1);
    const names = ["a.doh.test", "b.doh.test", "c.doh.test"];
    for (const n of names) zone.set(`${n}/1`, { answers: [a(n, "192.0.2.20")] });
    for (const n of names) assert.equal((await udpQuery(port, n))?.answers[0]?.data, "192.0.2.20");
    assert.equal(counts.good.filter((c) => c === "doh").length, queries + names.length);
    assert.equal(doh.connections, connections, "no new TLS connection per query");
  });

  test("DoT queries share one kept-open connection, pipelined (RFC 7858 §3.4)", async () => {
    const connections = dot.connections;
    assert.equal(connections, 1);
    const names = Array.from({ length: 12 }, (_, i) => `p${i}.dot.test`);
    for (const n of names) zone.set(`${n}/1`, { answers: [a(n, "192.0.2.40")] });
    // Sequential, then all at once: one connection carries them all.
    assert.equal((await udpQuery(port, names[0]!))?.answers[0]?.data, "192.0.2.40");
    const all = await Promise.all(names.slice(1).map((n) => udpQuery(port, n)));
    assert.ok(all.every((m) => m?.answers[0]?.data === "192.0.2.40"));
    assert.equal(dot.connections, connections);
  });

  test("a DoT query whose ID is in flight already goes out on a connection of its own", async () => {
    const t = parseUpstream({
      address: `tls://127.0.0.1:${dot.port}`,
      serverName: "resolver.test",
      ca: caPem,
    });
    const query = buildQuery("dot.test", { id: 4242, edns: false });
    const expect = { id: 4242, name: "dot.test", type: 1, class: 1, exactCase: false };
    const before = dot.connections;
    const replies = await Promise.all([
      tlsExchange(t, query, expect),
      tlsExchange(t, query, expect),
    ]);
    for (const r of replies) assert.equal(decodeMessage(r).answers[0]?.data, "192.0.2.1");
    assert.equal(t.dot?.connections, 1, "one shared connection");
    assert.equal(dot.connections, before + 2, "and one of its own for the second");
  });

  test("a kept-open DoT connection the server closed is retried once on a new one", async () => {
    const names = ["a.stale-dot.test", "b.stale-dot.test"];
    for (const n of names) zone.set(`${n}/1`, { answers: [a(n, "192.0.2.41")] });
    for (const n of names) assert.equal((await udpQuery(port, n))?.answers[0]?.data, "192.0.2.41");
    // The server dropped the connection when the second query came: it went out again.
    assert.equal(staleDot.connections, 2);
  });

  test("a kept-alive DoH connection the server closed is retried once on a new one", async () => {
    const names = ["a.stale.test", "b.stale.test"];
    for (const n of names) zone.set(`${n}/1`, { answers: [a(n, "192.0.2.30")] });
    for (const n of names) {
      const r = await udpQuery(port, n);
      assert.equal(r?.rcode, Rcode.NOERROR, n);
      assert.equal(r?.answers[0]?.data, "192.0.2.30");
    }
    // The second query found its reused connection closed and went out on a second one.
    assert.equal(stale.connections, 2);
  });

  test("AD from an authenticated (DoT) upstream reaches clients that set AD or DO, never with CD (RFC 6840 §5.7–5.8)", async () => {
    // Twice: the second round is answered by the packet cache.
    for (let round = 0; round < 2; round++) {
      const ad = (o: Parameters<typeof udpQuery>[2]) =>
        udpQuery(port, "signed.test", o).then((r) => {
          assert.equal(r?.answers[0]?.data, "192.0.2.50");
          return r?.ad;
        });
      assert.equal(await ad({ ad: true }), true, "AD=1 without DO");
      assert.equal(await ad({}), false, "neither AD nor DO");
      assert.equal(await ad({ do: true }), true, "DO=1");
      assert.equal(await ad({ ad: true, edns: false }), true, "AD=1 without EDNS");
      assert.equal(await ad({ ad: true, cd: true }), false, "CD=1: the upstream did not check");
    }
  });

  test("a DoT upstream whose certificate the CA did not sign is refused", async () => {
    const r = await udpQuery(port, "bad-dot.test", { timeoutMs: 4000 });
    assert.equal(r?.rcode, Rcode.SERVFAIL);
    // The client learns it was a network error, not which upstream nor the TLS details: those
    // are in the query log (and the operational log).
    const ede = readEde(r?.edns);
    assert.deepEqual(
      ede.map((e) => e.infoCode),
      [Ede.NETWORK_ERROR],
    );
    for (const e of ede)
      assert.doesNotMatch(e.extraText, /127\.0\.0\.1|tls:|\d{4,5}|certificate|verify|self.signed/i);
    const rec = edge.queryLog.peekNewest(1)[0]!;
    assert.equal(rec.reason, "upstream_tls");
    assert.match(rec.upstream ?? "", /^tls:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(counter(await metrics(), "tls", "tls") >= 1);
    assert.deepEqual(counts.rogue, [], "no query is sent over an untrusted connection");
  });

  test("a DoH upstream whose certificate the CA did not sign is refused", async () => {
    const r = await udpQuery(port, "bad-doh.test", { timeoutMs: 4000 });
    assert.equal(r?.rcode, Rcode.SERVFAIL);
    assert.ok(counter(await metrics(), "https", "tls") >= 1);
    assert.deepEqual(counts.rogue, []);
  });

  test("failover: an untrusted DoT upstream is skipped for the next (DoH) one", async () => {
    const tlsErrors = counter(await metrics(), "tls", "tls");
    const r = await udpQuery(port, "failover.test", { timeoutMs: 4000 });
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "192.0.2.5");
    assert.equal(counter(await metrics(), "tls", "tls"), tlsErrors + 1);
    assert.deepEqual(counts.rogue, []);
  });
});

describe("upstream trust settings are checked when the config loads", () => {
  test("ca must hold a PEM certificate", () => {
    assert.throws(
      () => parseUpstream({ address: "tls://127.0.0.1:853", ca: "not a certificate" }),
      /upstream "tls:\/\/127\.0\.0\.1:853": ca holds no PEM certificate/,
    );
    assert.throws(
      () =>
        parseUpstream({
          address: "tls://127.0.0.1:853",
          ca: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        }),
      /ca: certificate 1 is not valid/,
    );
  });

  test("caFile must be readable; ca and caFile exclude each other", () => {
    assert.throws(
      () =>
        parseUpstream({ address: "https://127.0.0.1/dns-query", caFile: "/nonexistent/ca.pem" }),
      /cannot read caFile/,
    );
    assert.throws(
      () => parseUpstream({ address: "tls://127.0.0.1", ca: "x", caFile: "/x.pem" }),
      /not both/,
    );
  });

  test("ca is refused on plain DNS upstreams", () => {
    assert.throws(
      () => parseUpstream({ address: "udp://127.0.0.1:53", ca: "x" }),
      /apply to tls:\/\/ and https:\/\/ upstreams only/,
    );
  });

  test("an IPv6 DoH address connects to the bare address", () => {
    const t = parseUpstream({ address: "https://[::1]:8443/dns-query?x=1" });
    assert.equal(t.host, "::1");
    assert.equal(t.port, 8443);
    assert.equal(t.path, "/dns-query?x=1");
  });
});
