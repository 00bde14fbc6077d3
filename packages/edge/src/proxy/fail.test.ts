// One error model: every kind of the edge's error catalogue gets the same answer on every proxy
// path — plain HTTP, CONNECT (before the 200) and upgrade (before the 101) — and the network's
// errors map to the same kinds wherever they are dialled from.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import { EDGE_ERRORS, EdgeError, type EdgeErrorKind } from "@gatehouse/contract";
import { compileSnapshot } from "../snapshot.ts";
import { type Exchange, newExchange, type Stage } from "./exchange.ts";
import { fail, socketFailure } from "./fail.ts";
import { ClientRequest, type ClientResponse } from "./http1/message.ts";
import { parseRequestHead } from "./http1/syntax.ts";
import { createRespond } from "./stages/respond.ts";
import { createRespondTunnel } from "./stages/respond-tunnel.ts";
import { createRespondUpgrade } from "./stages/respond-upgrade.ts";

const snapshot = compileSnapshot({
  schemaVersion: 1,
  version: 1,
  resolver: { upstreams: [] },
  locations: [],
  lists: [],
  policies: [],
});

/** A client socket that keeps what the proxy ends it with. */
function rawSocket(): Socket & { sent: string } {
  const s = {
    remoteAddress: "10.1.2.3",
    remotePort: 40000,
    bytesRead: 0,
    bytesWritten: 0,
    destroyed: false,
    sent: "",
    write(d: string | Buffer) {
      s.sent += d.toString();
      return true;
    },
    end(d?: string | Buffer) {
      if (d !== undefined) s.sent += d.toString();
      s.destroyed = true;
    },
    destroy() {
      s.destroyed = true;
    },
  };
  return s as unknown as Socket & { sent: string };
}

function exchange(head: string, transport: "http" | "connect", res?: ClientResponse): Exchange {
  const buf = Buffer.from(head, "latin1");
  const parsed = parseRequestHead(buf, buf.length, { maxHeadBytes: 1 << 16, maxHeaderCount: 100 });
  const socket = rawSocket();
  const req = new ClientRequest(parsed, socket, { attach() {}, resume() {} }, false);
  return newExchange(snapshot, transport, req, res, socket);
}

/** Fail with `err`, let the path's respond stage answer; the status the client saw. */
async function statusOn(path: "http" | "connect" | "upgrade", err: EdgeError): Promise<number> {
  let respond: Stage;
  let ex: Exchange;
  let status = 0;
  if (path === "http") {
    const res = {
      headersSent: false,
      destroyed: false,
      onClientClose: undefined,
      respond(s: number, _h: string[], _b: unknown, done: () => void) {
        status = s;
        done();
      },
    } as unknown as ClientResponse;
    ex = exchange("GET http://o.example/ HTTP/1.1\r\nHost: o.example\r\n\r\n", "http", res);
    respond = createRespond("1.1 gatehouse-test");
  } else if (path === "connect") {
    ex = exchange("CONNECT o.example:443 HTTP/1.1\r\nHost: o.example:443\r\n\r\n", "connect");
    respond = createRespondTunnel();
  } else {
    ex = exchange(
      "GET http://o.example/ws HTTP/1.1\r\nHost: o.example\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
      "http",
    );
    respond = createRespondUpgrade("1.1 gatehouse-test");
  }
  fail(ex, err);
  assert.equal(ex.action, "error");
  assert.equal(ex.reason, err.reason);
  await respond.run(ex);
  if (path !== "http") {
    const sent = (ex.socket as Socket & { sent: string }).sent;
    status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(sent)?.[1]);
    assert.ok(!sent.includes("192.0.2.9"), "the error's message (addresses) is not shown");
  }
  assert.equal(ex.status, status);
  return status;
}

test("every kind gets its catalogue status on the HTTP, CONNECT and upgrade paths", async () => {
  for (const kind of Object.keys(EDGE_ERRORS) as EdgeErrorKind[]) {
    const err = new EdgeError(kind, `192.0.2.9:80: ${kind}`, { where: "192.0.2.9:80" });
    const got = [
      await statusOn("http", err),
      await statusOn("connect", err),
      await statusOn("upgrade", err),
    ];
    const want = EDGE_ERRORS[kind].status;
    assert.deepEqual(got, [want, want, want], kind);
  }
});

test("anything thrown that is not an edge error is a 500 that shows nothing of itself", async () => {
  const ex = exchange("GET http://o.example/ HTTP/1.1\r\nHost: o.example\r\n\r\n", "http");
  fail(ex, new Error("secret 192.0.2.9"));
  assert.equal(ex.answer?.status, 500);
  assert.equal(ex.reason, "internal");
  assert.ok(!ex.answer?.detail.includes("192.0.2.9"));
});

test("socket errors map to the same kind whoever dialled (origin pool or tunnel)", () => {
  const errno = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
  const cases: [unknown, boolean, EdgeErrorKind][] = [
    // A timeout is a timeout, whether the kernel or our own timer says so (504, not 502).
    [errno("ETIMEDOUT"), true, "connect_timeout"],
    [errno("ETIMEDOUT"), false, "connect_timeout"],
    [errno("ECONNREFUSED"), true, "connect_failed"],
    [errno("EHOSTUNREACH"), true, "connect_failed"],
    [errno("ECONNRESET"), false, "connect_failed"],
    [errno("EACCES"), true, "connect_failed"],
    [errno("EPIPE"), false, "upstream_failed"],
    [undefined, true, "connect_failed"],
  ];
  for (const [err, connecting, kind] of cases) {
    const e = socketFailure(err, connecting, "192.0.2.9:443");
    assert.equal(e.kind, kind, `${(err as Error | undefined)?.message} connecting=${connecting}`);
    assert.equal(e.where, "192.0.2.9:443");
    assert.equal(e.source, "upstream");
    assert.equal(e.retryable, true);
  }
  const timeout = socketFailure(errno("ETIMEDOUT"), true);
  assert.equal(timeout.info.status, 504);
  const refused = socketFailure(errno("ECONNREFUSED"), true);
  assert.equal(refused.detail, "could not reach the origin (ECONNREFUSED)");
});
