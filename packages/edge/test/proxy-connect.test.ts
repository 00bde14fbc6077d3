import assert from "node:assert/strict";
import { once } from "node:events";
import {
  type AddressInfo,
  createServer,
  type Server as NetServer,
  connect as netConnect,
  type Socket,
} from "node:net";
import { after, before, describe, test } from "node:test";
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  connect as tlsConnect,
} from "node:tls";
import { generate } from "selfsigned";
import {
  ALLOW_TEST_ORIGINS,
  bundle,
  type Harness,
  logMark,
  policy,
  recordAfter,
  startEchoServer,
  startHarness,
} from "./proxy-harness.ts";

/** Open a CONNECT tunnel; resolves with the socket and the proxy's response head. */
function openTunnel(
  port: number,
  authority: string,
  extra = "",
): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, "127.0.0.1");
    let buf = "";
    const onData = (c: Buffer) => {
      buf += c.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      s.off("data", onData);
      s.pause();
      resolve({ socket: s, head: buf.slice(0, end + 4) + buf.slice(end + 4) });
    };
    s.on("data", onData);
    s.on("error", reject);
    s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${extra}\r\n`);
  });
}

/** TLS over an established tunnel; resolves with the origin's reply to one line. */
function tlsThrough(socket: Socket, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = tlsConnect({ socket, servername, rejectUnauthorized: false });
    let got = "";
    t.on("secureConnect", () => t.write("ping\n"));
    t.on("data", (c: Buffer) => {
      got += c.toString();
      if (got.endsWith("\n")) {
        t.end();
        resolve(got);
      }
    });
    t.on("error", reject);
  });
}

describe("CONNECT tunnels", () => {
  let h: Harness;
  let tls: TlsServer;
  let tlsPort: number;
  let echo: NetServer;
  let echoPort: number;
  /** Listed in connectPorts, nothing listening there. */
  let closedPort: number;
  before(async () => {
    const pems = await generate([{ name: "commonName", value: "tls.test" }], { keySize: 2048 });
    tls = createTlsServer({ key: pems.private, cert: pems.cert }, (s) => {
      s.on("data", (c: Buffer) => s.write(`pong ${s.servername ?? "-"} ${c.length}\n`));
      s.on("error", () => {});
    });
    tls.listen(0, "127.0.0.1");
    await once(tls, "listening");
    tlsPort = (tls.address() as AddressInfo).port;
    ({ server: echo, port: echoPort } = await startEchoServer());
    closedPort = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, "127.0.0.1", () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    h = await startHarness(
      bundle({
        proxy: { connectPorts: [tlsPort, echoPort, closedPort] },
        policies: [
          policy("net", "block", 'net.sni.host == "sni-blocked.test"', {
            id: "sni-block",
            name: "SNI block",
          }),
          policy("net", "block", "net.sni.mismatch", { id: "mismatch", name: "SNI mismatch" }),
          ALLOW_TEST_ORIGINS,
        ],
      }),
    );
  });
  after(async () => {
    echo.close();
    await h.close();
    tls.close();
  });

  test("tunnel to an allowed port carries TLS end to end; SNI is logged", async () => {
    const mark = logMark(h);
    const { socket, head } = await openTunnel(h.port, `tls.test:${tlsPort}`);
    assert.match(head, /^HTTP\/1\.1 200 Connection Established\r\n\r\n$/);
    assert.equal(await tlsThrough(socket, "tls.test"), "pong tls.test 5\n");
    await once(socket, "close");
    // The tunnel's record is written once both sides have closed: wait for it.
    const rec = await recordAfter(h, mark);
    assert.equal(rec.kind, "net");
    assert.equal(rec.transport, "connect");
    assert.equal(rec.sni, "tls.test");
    assert.equal(rec.action, "allow");
    assert.ok(rec.bytesUp! > 0 && rec.bytesDown! > 0);
    assert.equal(rec.upstreamAddr, `127.0.0.1:${tlsPort}`);
  });

  test("a client that does not speak TLS first is relayed without an SNI", async () => {
    const mark = logMark(h);
    const { socket, head } = await openTunnel(h.port, `origin.test:${echoPort}`);
    assert.match(head, /^HTTP\/1\.1 200 /);
    socket.resume();
    socket.write("hello through the tunnel\n");
    let got = "";
    for await (const c of socket) {
      got += (c as Buffer).toString();
      if (got.endsWith("\n")) break;
    }
    assert.equal(got, "hello through the tunnel\n");
    socket.destroy();
    // The tunnel's record is written once both sides have closed: wait for it.
    const rec = await recordAfter(h, mark);
    assert.equal(rec.sni, undefined);
    assert.equal(rec.action, "allow");
  });

  test("a malformed ClientHello closes the tunnel before the destination is dialled", async () => {
    const mark = logMark(h);
    const { socket, head } = await openTunnel(h.port, `tls.test:${tlsPort}`);
    assert.match(head, /^HTTP\/1\.1 200 /);
    socket.resume();
    // A handshake record whose body is not a ClientHello (type 2 = ServerHello).
    socket.write(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0]));
    await once(socket, "close");
    // The tunnel's record is written once both sides have closed: wait for it.
    const rec = await recordAfter(h, mark);
    assert.equal(rec.reason, "no_client_hello");
    assert.equal(rec.upstreamAddr, `127.0.0.1:${tlsPort}`);
    assert.equal(rec.bytesUp, 0);
  });

  test("failures are answered as on every other path: DNS before the 200, dialling after", async () => {
    // The name does not resolve: 502 dns_failed, as a plain-HTTP request gets.
    let mark = logMark(h);
    const { head } = await openTunnel(h.port, `nowhere.test:${tlsPort}`);
    assert.match(head, /^HTTP\/1\.1 502 /);
    let rec = await recordAfter(h, mark);
    assert.deepEqual([rec.reason, rec.action], ["dns_failed", "error"]);
    // Nothing listens at the destination: the tunnel closes and the log says connect_failed,
    // the reason an HTTP request or an upgrade to it is logged with (their answer is 502).
    mark = logMark(h);
    const t = await openTunnel(h.port, `origin.test:${closedPort}`);
    assert.match(t.head, /^HTTP\/1\.1 200 /);
    t.socket.resume();
    t.socket.write("not TLS\n");
    await once(t.socket, "close");
    rec = await recordAfter(h, mark);
    assert.deepEqual([rec.reason, rec.action], ["connect_failed", "error"]);
  });

  test("a port outside connectPorts gets 403", async () => {
    const mark = logMark(h);
    const { head } = await openTunnel(h.port, `tls.test:${h.origin.port}`);
    assert.match(head, /^HTTP\/1\.1 403 /);
    assert.equal((await recordAfter(h, mark)).reason, "port_not_allowed");
  });

  test("CONNECT authority matching an SNI block rule gets 403 before any tunnel", async () => {
    const { head } = await openTunnel(h.port, `sni-blocked.test:${tlsPort}`);
    assert.match(head, /^HTTP\/1\.1 403 Forbidden\r\n/);
  });

  test("the real ClientHello decides: SNI disagreeing with the authority is blocked by policy", async () => {
    const mark = logMark(h);
    const { socket, head } = await openTunnel(h.port, `tls.test:${tlsPort}`);
    assert.match(head, /^HTTP\/1\.1 200 /);
    await assert.rejects(
      tlsThrough(socket, "other.test"),
      /alert access denied|ECONNRESET|socket disconnected/i,
    );
    // The tunnel's record is written once both sides have closed: wait for it.
    const rec = await recordAfter(h, mark);
    assert.equal(rec.action, "block");
    assert.equal(rec.reason, "sni_blocked");
    assert.equal(rec.policyId, "mismatch");
    assert.equal(rec.sni, "other.test");
  });

  test("private destinations without an allow policy get 403 on CONNECT too", async () => {
    const { head } = await openTunnel(h.port, `internal.test:${tlsPort}`);
    assert.match(head, /^HTTP\/1\.1 403 /);
  });

  test("metrics: tunnels counted as kind=net; active tunnels back to zero", async () => {
    const text = await h.registry.metrics();
    assert.match(
      text,
      /gatehouse_proxy_requests_total\{kind="net",action="allow",status_class="2xx"\} [1-9]/,
    );
    assert.match(text, /gatehouse_proxy_active_tunnels 0/);
  });
});
