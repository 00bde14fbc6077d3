// connect-origin dials: by the time it says "next" the origin has accepted the connection that
// forward will send on, and a destination that cannot be reached fails here, as an edge error.

import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { EdgeError } from "@gatehouse/contract";
import { Registry } from "prom-client";
import { compileSnapshot } from "../../snapshot.ts";
import { type Exchange, newExchange, type Outcome, type Stage, WAIT } from "../exchange.ts";
import { ClientRequest } from "../http1/message.ts";
import { parseRequestHead } from "../http1/syntax.ts";
import { DEFAULT_LIMITS } from "../limits.ts";
import { proxyMetrics } from "../proxy-metrics.ts";
import { createUpstreamPool } from "../upstream-pool.ts";
import { createConnectOrigin } from "./connect-origin.ts";

function exchange(port: number) {
  const buf = Buffer.from(`GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`, "latin1");
  const parsed = parseRequestHead(buf, buf.length, { maxHeadBytes: 1 << 16, maxHeaderCount: 100 });
  const socket = {
    remoteAddress: "127.0.0.1",
    remotePort: 40000,
    once() {},
  } as unknown as Socket;
  const ex = newExchange(
    compileSnapshot({
      schemaVersion: 1,
      version: 1,
      resolver: { upstreams: [] },
      locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [],
    }),
    "http",
    new ClientRequest(parsed, socket, { attach() {}, resume() {} }, false),
    undefined,
    socket,
  );
  ex.peerIp = "127.0.0.1";
  ex.peerFamily = 4;
  ex.port = port;
  return ex;
}

/** Run the stage as the pipeline does: a WAIT is resumed once the call wakes the exchange. */
async function runStage(stage: Stage, ex: Exchange): Promise<Outcome> {
  const r = stage.run(ex);
  if (r !== WAIT) return r;
  return new Promise<Outcome>((resolve, reject) => {
    const go = () => {
      try {
        resolve(stage.resume?.(ex) ?? "drop");
      } catch (err) {
        reject(err);
      }
    };
    ex.resumer = { wake: go, resume: go };
  });
}

test("connect-origin has a connection open when it finishes; an unreachable origin fails it", async () => {
  const pool = createUpstreamPool(
    { ...DEFAULT_LIMITS, connectTimeoutMs: 2000 },
    proxyMetrics(new Registry()),
  );
  const accepted: Socket[] = [];
  const origin = createServer((s) => accepted.push(s));
  origin.listen(0, "127.0.0.1");
  await once(origin, "listening");
  const port = (origin.address() as AddressInfo).port;
  try {
    const stage = createConnectOrigin(pool, false);
    const ex = exchange(port);
    let woken = (): void => {};
    const wake = new Promise<void>((r) => {
      woken = r;
    });
    ex.resumer = { wake: () => woken(), resume: () => woken() };
    assert.equal(stage.run(ex), WAIT, "a new connection is waited for without a promise");
    await wake;
    assert.equal(stage.resume?.(ex), "next");
    assert.ok(ex.originCall?.connection !== undefined, "the connection is the call's");
    // The server side hears of it on its next turn.
    for (let i = 0; i < 100 && accepted.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(accepted.length, 1, "the origin accepted it before anything was sent");
    ex.originCall.abort();

    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(
      async () => runStage(stage, exchange(closedPort)),
      (e: unknown) => e instanceof EdgeError && e.kind === "connect_failed",
    );
  } finally {
    for (const s of accepted) s.destroy();
    origin.close();
    pool.destroy();
  }
});
