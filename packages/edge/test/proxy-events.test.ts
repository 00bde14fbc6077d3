// Telemetry as events: the proxy publishes one event per finished request (HTTP, upgrade, PAC,
// client fault) on gatehouse:http.request and per tunnel on gatehouse:proxy.tunnel, and its query
// log and metrics are subscribers like any other: a new sink needs no stage to change.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import {
  HTTP_REQUEST_CHANNEL,
  PROXY_TUNNEL_CHANNEL,
  type ProxyEvent,
  subscribe,
} from "../src/telemetry/events.ts";
import {
  bundle,
  type Harness,
  logMark,
  rawExchange,
  recordAfter,
  startEchoServer,
  startHarness,
} from "./proxy-harness.ts";

let h: Harness;
let echo: { close(): void };
let echoPort: number;
const seen: { channel: string; record: ProxyEvent["record"]; detail: string | undefined }[] = [];
const stop: (() => void)[] = [];

before(async () => {
  const e = await startEchoServer();
  echo = e.server;
  echoPort = e.port;
  h = await startHarness(bundle({ proxy: { connectPorts: [echoPort] } }));
  for (const channel of [HTTP_REQUEST_CHANNEL, PROXY_TUNNEL_CHANNEL]) {
    stop.push(
      subscribe<ProxyEvent>(channel, (ev) => {
        seen.push({ channel, record: ev.record, detail: ev.errorDetail });
      }),
    );
  }
});
after(async () => {
  for (const s of stop) s();
  echo.close();
  await h.close();
});

test("one event per request, PAC request and client fault; the query log holds the same records", async () => {
  const mark = logMark(h);
  const from = seen.length;
  const port = h.origin.port;
  await rawExchange(h.port, `GET http://origin.test:${port}/a HTTP/1.1\r\nHost: x\r\n\r\n`);
  await rawExchange(h.port, "GET /proxy.pac HTTP/1.1\r\nHost: x\r\n\r\n");
  // A head the connection loop refuses itself (no pipeline runs).
  await rawExchange(h.port, "GET http://origin.test/ HTTP/1.1\r\nno colon here\r\n\r\n");
  await rawExchange(h.port, "GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n");
  await recordAfter(h, mark, 4);
  const events = seen.slice(from);
  assert.deepEqual(
    events.map((e) => [e.channel, e.record.status, e.record.reason]),
    [
      [HTTP_REQUEST_CHANNEL, 200, undefined],
      [HTTP_REQUEST_CHANNEL, 200, undefined],
      [HTTP_REQUEST_CHANNEL, 400, "bad_request"],
      [HTTP_REQUEST_CHANNEL, 502, "connect_failed"],
    ],
  );
  assert.equal(events[2]!.record.method, undefined, "refused by the connection loop itself");
  // The query log is a subscriber: it holds the records the events carried, field for field
  // (kept compactly: the same values, not the same objects).
  assert.deepEqual(
    h.log.peekNewest(4).reverse(),
    events.map((e) => e.record),
  );
  // What went wrong in full travels with the event (for the operational log), not in the record.
  assert.match(events[3]!.detail ?? "", /ECONNREFUSED/);
  // Metrics count from the same events.
  const text = await h.registry.metrics();
  assert.match(text, /gatehouse_proxy_errors_total\{cause="connect_failed"\} 1/);
  assert.match(text, /gatehouse_proxy_errors_total\{cause="bad_request"\} 1/);
});

test("one event per tunnel, on the tunnel channel", async () => {
  const mark = logMark(h);
  const from = seen.length;
  const s: Socket = connect(h.port, "127.0.0.1");
  s.write(`CONNECT origin.test:${echoPort} HTTP/1.1\r\nHost: origin.test:${echoPort}\r\n\r\n`);
  let got = "";
  for await (const c of s) {
    got += (c as Buffer).toString("latin1");
    if (got.includes("\r\n\r\n") && !got.includes("hello")) s.write("hello\n");
    if (got.endsWith("hello\n")) break;
  }
  s.destroy();
  const rec = await recordAfter(h, mark);
  const events = seen.slice(from);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.channel, PROXY_TUNNEL_CHANNEL);
  assert.deepEqual(events[0]!.record, rec, "the query log holds the record the event carried");
  assert.equal(rec.kind, "net");
  assert.ok(rec.bytesUp! > 0 && rec.bytesDown! > 0);
});
