// Client connection slots (issue 13): a connection the proxy has closed its side of (after
// `connection: close`, a refusal, an idle timeout) is cut when the client does not close its
// own, so it gives its slot back; one source cannot hold more than its share of the listener.

import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Harness, startHarness } from "./proxy-harness.ts";

/** A client that never closes its side (it does not answer our FIN), from `localAddress`. */
async function stubborn(port: number, localAddress = "127.0.0.1"): Promise<Socket> {
  const s = connect({ port, host: "127.0.0.1", localAddress, allowHalfOpen: true });
  s.on("error", () => {});
  s.resume(); // it reads (and drops) what it gets: only its FIN never comes
  await once(s, "connect");
  return s;
}

/** Read from `s` until `text` has been seen (what the proxy answered). */
function readUntil(s: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const onData = (c: Buffer) => {
      got += c.toString("latin1");
      if (got.includes(text)) {
        s.off("data", onData);
        resolve(got);
      }
    };
    s.on("data", onData);
  });
}

async function metric(h: Harness, name: string, reason?: string): Promise<number> {
  const m = await h.registry.getSingleMetric(name)!.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

const CUT = "gatehouse_proxy_connections_destroyed_total";

/**
 * Until the proxy has cut `n` more connections and holds none. (A cut is not visible to a
 * client that neither reads nor writes: its kernel already has our FIN.)
 */
async function cutAndGone(h: Harness, from: number, n: number): Promise<void> {
  while (
    (await metric(h, CUT, "close_grace")) < from + n ||
    (await metric(h, "gatehouse_proxy_active_connections")) !== 0
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("connections that look closed", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(undefined, {
      idleTimeoutMs: 200,
      closeGraceMs: 300,
      headersTimeoutMs: 200,
    });
  });
  after(() => h.close());

  test("after an idle timeout the proxy cuts a client that never closes", {
    timeout: 20_000,
  }, async () => {
    const before = await metric(h, CUT, "close_grace");
    const s = await stubborn(h.port);
    s.write(`GET http://origin.test:${h.origin.port}/a HTTP/1.1\r\nHost: origin.test\r\n\r\n`);
    await readUntil(s, '"bodyLength":0}');
    // Idle: the proxy half-closes (FIN), the client never answers it…
    await once(s, "end");
    // …and is cut rather than kept half-open for good.
    await cutAndGone(h, before, 1);
    assert.equal(await metric(h, CUT, "close_grace"), before + 1);
    s.destroy();
  });

  test("after `connection: close` and after a refusal, too", { timeout: 20_000 }, async () => {
    const a = await stubborn(h.port);
    a.write(
      `GET http://origin.test:${h.origin.port}/b HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
    );
    const b = await stubborn(h.port);
    b.write("GET http://origin.test/ HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n");
    const before = await metric(h, CUT, "close_grace");
    await Promise.all([once(a, "end"), once(b, "end")]);
    await cutAndGone(h, before, 2);
    a.destroy();
    b.destroy();
  });

  test("a refused CONNECT whose client never closes is cut", { timeout: 20_000 }, async () => {
    const before = await metric(h, CUT, "close_grace");
    const s = await stubborn(h.port);
    const answer = readUntil(s, "\r\n\r\n");
    s.write("CONNECT origin.test:25 HTTP/1.1\r\nHost: origin.test:25\r\n\r\n");
    assert.match(await answer, /^HTTP\/1\.1 403 /);
    await cutAndGone(h, before, 1);
    s.destroy();
  });
});

describe("per-source connection limits", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(undefined, { maxConnections: 5, maxConnectionsPerSource: 3 });
  });
  after(() => h.close());

  test("one source cannot take every slot; another source is still served", {
    timeout: 20_000,
  }, async () => {
    const held: Socket[] = [];
    try {
      // Source 127.0.0.1 takes its three slots and sits on them.
      for (let i = 0; i < 3; i++) held.push(await stubborn(h.port));
      const fourth = await stubborn(h.port);
      held.push(fourth);
      await once(fourth, "end"); // refused: closed without a byte
      assert.equal(await metric(h, "gatehouse_proxy_connections_refused_total", "per_source"), 1);
      // Another source gets a slot and an answer.
      const other = await stubborn(h.port, "127.0.0.2");
      held.push(other);
      other.write(
        `GET http://origin.test:${h.origin.port}/b HTTP/1.1\r\nHost: origin.test\r\n\r\n`,
      );
      assert.match(await readUntil(other, '"bodyLength":0}'), /^HTTP\/1\.1 200 /);
      // Five slots in all: a third source finds the listener full.
      held.push(await stubborn(h.port, "127.0.0.3"));
      const sixth = await stubborn(h.port, "127.0.0.4");
      held.push(sixth);
      await once(sixth, "end");
      assert.equal(await metric(h, "gatehouse_proxy_connections_refused_total", "total"), 1);
      // A slot given back is a slot to take again.
      held[0]!.destroy();
      while ((await metric(h, "gatehouse_proxy_active_connections")) !== 4) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const again = await stubborn(h.port);
      held.push(again);
      again.write(
        `GET http://origin.test:${h.origin.port}/c HTTP/1.1\r\nHost: origin.test\r\n\r\n`,
      );
      assert.match(await readUntil(again, '"bodyLength":0}'), /^HTTP\/1\.1 200 /);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});
