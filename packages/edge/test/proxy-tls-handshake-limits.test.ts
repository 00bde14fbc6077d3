// The inspected side's handshake limits: a client that sends its ClientHello and then stalls is
// cut once the handshake time limit passes (counted as a failed handshake, logged), and while
// the bound on handshakes in progress is reached a further one is refused (counted as
// refused_busy) — in both cases the proxy keeps serving, and the slot comes back.

import assert from "node:assert/strict";
import { createServer } from "node:https";
import { type AddressInfo, connect as netConnect, createServer as netServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import {
  getOver,
  type InspectingProxy,
  startInspectingProxy,
  tlsThrough,
} from "./inspection-client.ts";
import { until } from "./proxy-harness.ts";
import { originCert, type TestPki, testPki } from "./tls-pki.ts";

/** A real client's first flight (its ClientHello) for `name`, as bytes to replay. */
async function clientHello(name: string): Promise<Buffer> {
  const catcher = netServer();
  const got = new Promise<Buffer>((resolve) =>
    catcher.once("connection", (s) =>
      s.once("data", (c: Buffer) => {
        resolve(c);
        s.destroy();
      }),
    ),
  );
  await new Promise<void>((r) => catcher.listen(0, "127.0.0.1", r));
  const c = tlsConnect({
    port: (catcher.address() as AddressInfo).port,
    host: "127.0.0.1",
    servername: name,
  });
  c.on("error", () => {});
  const hello = await got;
  c.destroy();
  catcher.close();
  return hello;
}

/**
 * CONNECT, the 200, then `hello` and nothing more: `answered` once bytes came after the 200 (or
 * it closed), `closed` with everything that came back.
 */
function stalledHandshake(
  proxyPort: number,
  originPort: number,
  hello: Buffer,
): { answered: Promise<void>; closed: Promise<Buffer> } {
  const raw = netConnect(proxyPort, "127.0.0.1");
  raw.on("error", () => {});
  const got: Buffer[] = [];
  let sent = false;
  let onAnswer = () => {};
  const answered = new Promise<void>((r) => {
    onAnswer = r;
  });
  raw.on("data", (c: Buffer) => {
    got.push(c);
    const all = Buffer.concat(got);
    const end = all.indexOf("\r\n\r\n");
    if (end < 0) return;
    if (!sent) {
      sent = true;
      raw.write(hello);
    }
    if (all.length > end + 4) onAnswer();
  });
  const closed = new Promise<Buffer>((resolve) =>
    raw.once("close", () => {
      onAnswer();
      resolve(Buffer.concat(got));
    }),
  );
  raw.write(`CONNECT h1.test:${originPort} HTTP/1.1\r\nhost: h1.test:${originPort}\r\n\r\n`);
  return { answered, closed };
}

async function handshakeCount(p: InspectingProxy, result: string): Promise<number> {
  const text = await p.registry.metrics();
  const m = new RegExp(`gatehouse_proxy_tls_handshakes_total\\{result="${result}"\\} (\\d+)`).exec(
    text,
  );
  return Number(m?.[1] ?? 0);
}

describe("inspected handshakes: time limit and bound", () => {
  let pki: TestPki;
  let originPki: TestPki;
  let origin: import("node:https").Server;
  let originPort: number;
  let hello: Buffer;

  before(async () => {
    pki = await testPki();
    originPki = await testPki();
    const leaf = await originCert(originPki, "h1.test");
    origin = createServer({ cert: leaf.cert, key: leaf.key }, (_req, res) => res.end("origin ok"));
    await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
    originPort = (origin.address() as AddressInfo).port;
    hello = await clientHello("h1.test");
  });
  after(() => origin.close());

  /** A normal inspected request through `p` still works. */
  async function stillServes(p: InspectingProxy): Promise<void> {
    const s = await tlsThrough(p.port, "h1.test", originPort, {
      ca: pki.root,
      servername: "h1.test",
    });
    assert.match(await getOver(s, "h1.test", "/"), /origin ok$/);
  }

  it("a client that stalls mid-handshake is cut after the limit, counted and logged", async () => {
    const p = await startInspectingProxy({
      origins: { "h1.test": originPort },
      originCa: originPki.root,
      pki,
      limits: { tlsHandshakeTimeoutMs: 200 },
    });
    try {
      const back = await stalledHandshake(p.port, originPort, hello).closed;
      const text = back.toString("latin1");
      assert.match(text, /^HTTP\/1.1 200/);
      // After the 200: our ServerHello flight (a TLS handshake record), then the close.
      const tlsStart = back.indexOf("\r\n\r\n") + 4;
      assert.equal(back[tlsStart], 0x16, "a handshake record followed the 200");
      assert.equal(await handshakeCount(p, "failed"), 1);
      await until(
        () => p.log.peekNewest(10).some((r) => r.reason === "tls_handshake_failed"),
        "the failed handshake's record",
      );
      await stillServes(p);
      assert.equal(await handshakeCount(p, "ok"), 1);
    } finally {
      await p.proxy.close();
    }
  });

  it("past the bound on handshakes in progress, one more is refused; the slot comes back", async () => {
    const p = await startInspectingProxy({
      origins: { "h1.test": originPort },
      originCa: originPki.root,
      pki,
      limits: { maxConcurrentTlsHandshakes: 1, tlsHandshakeTimeoutMs: 1000 },
    });
    try {
      // The first holds the only slot until its time limit (its ServerHello came: the
      // handshake is in progress); the second comes meanwhile.
      const first = stalledHandshake(p.port, originPort, hello);
      await first.answered;
      const second = await stalledHandshake(p.port, originPort, hello).closed;
      const tlsStart = second.indexOf("\r\n\r\n") + 4;
      assert.match(second.toString("latin1"), /^HTTP\/1.1 200/);
      assert.equal(second.length, tlsStart, "the second got the 200 and then only a close");
      assert.equal(await handshakeCount(p, "refused_busy"), 1);
      await first.closed;
      assert.equal(await handshakeCount(p, "failed"), 1);
      await stillServes(p);
    } finally {
      await p.proxy.close();
    }
  });
});
