import assert from "node:assert/strict";
import { test } from "node:test";
import type { QueryLogRecord } from "@gatehouse/contract";
import { type DnsQueryEvent, newDnsQueryEvent } from "./events.ts";
import { createOpLogger } from "./op-log.ts";
import { queryId } from "./query-log.ts";
import { levelOf, RequestLog, safeUpstream } from "./request-log.ts";

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const logger = createOpLogger({
    write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
    level,
    component: "dns",
  });
  return { lines, logger };
}

const dns: QueryLogRecord = {
  ts: 1,
  kind: "dns",
  id: "abc-1",
  client: "192.0.2.7",
  action: "allow",
  transport: "udp",
  durationMs: 0.5,
  qname: "example.com",
  qtype: "A",
  rcode: "NOERROR",
};

test("levels: upstream failures warn, malformed input and refused clients info, the rest debug", () => {
  assert.equal(levelOf({ ...dns, action: "error", reason: "upstream_timeout" }), "warn");
  assert.equal(levelOf({ ...dns, kind: "http", reason: "connect_failed" }), "warn");
  assert.equal(levelOf({ ...dns, action: "error", reason: "malformed" }), "info");
  assert.equal(levelOf({ ...dns, action: "refused", reason: "unknown_client" }), "info");
  assert.equal(levelOf({ ...dns, kind: "http", action: "refused", reason: "auth_failed" }), "info");
  assert.equal(levelOf({ ...dns, action: "ratelimited", reason: "rate_limit" }), "info");
  assert.equal(
    levelOf({ ...dns, kind: "net", action: "error", reason: "no_client_hello" }),
    "info",
  );
  assert.equal(
    levelOf({ ...dns, kind: "http", action: "error", reason: "client_aborted" }),
    "debug",
  );
  assert.equal(levelOf({ ...dns, action: "block", reason: "policy" }), "debug");
  assert.equal(levelOf(dns), "debug");
});

test("a failure is one warn line with the record's id as reqId and the upstream without secrets", () => {
  const c = capture("info");
  const log = new RequestLog(c.logger);
  log.record(dns); // debug: not written at info
  log.record({
    ...dns,
    action: "error",
    rcode: "SERVFAIL",
    reason: "upstream_timeout",
    upstream: "https://user:pw@doh.example:8443/dns-query/acct-1234?x=1",
  });
  assert.equal(c.lines.length, 1);
  const line = c.lines[0]!;
  assert.equal(line.level, "warn");
  assert.equal(line.component, "dns");
  assert.equal(line.reqId, "abc-1");
  assert.equal(line.reason, "upstream_timeout");
  assert.equal(line.qname, "example.com");
  assert.equal(line.upstream, "https://doh.example:8443");
  assert.doesNotMatch(JSON.stringify(line), /pw|acct-1234/);
});

test("an upstream failure's detail is in the line (not told to the client), its URL cut to host and port", () => {
  const c = capture("info");
  const upstream = "https://user:pw@doh.example:8443/dns-query/acct-1234";
  new RequestLog(c.logger).record(
    { ...dns, action: "error", rcode: "SERVFAIL", reason: "upstream_tls", upstream },
    `${upstream}: unable to verify the first certificate`,
  );
  const line = c.lines[0]!;
  assert.equal(line.detail, "https://doh.example:8443: unable to verify the first certificate");
  assert.doesNotMatch(JSON.stringify(line), /pw|acct-1234/);
});

test("proxy lines carry method, host and status, never the URL or the identity", () => {
  const c = capture("debug");
  new RequestLog(c.logger).record({
    ...dns,
    kind: "http",
    transport: "http",
    action: "refused",
    reason: "auth_failed",
    method: "GET",
    host: "example.com",
    url: "http://example.com/login?token=s3cret",
    identity: "alice@example.com",
    status: 407,
  });
  const line = c.lines[0]!;
  assert.equal(line.level, "info");
  assert.equal(line.status, 407);
  assert.equal(line.host, "example.com");
  assert.doesNotMatch(JSON.stringify(line), /s3cret|alice|login/);
});

test("every request at debug; nothing is formatted when debug is off", () => {
  const c = capture("debug");
  const log = new RequestLog(c.logger);
  log.record(dns);
  assert.equal(c.lines[0]!.level, "debug");
  assert.equal(c.lines[0]!.reqId, "abc-1");

  const off = capture("info");
  let reads = 0;
  const counted = new Proxy(dns, {
    get(t, k) {
      if (k !== "reason") reads++;
      return t[k as keyof QueryLogRecord];
    },
  });
  new RequestLog(off.logger).record(counted);
  assert.equal(off.lines.length, 0);
  assert.equal(reads, 0, "the record's fields were read although no line is written");
});

test("a fast-path answer's line follows the logger's level as it changes", () => {
  const c = capture("info");
  const log = new RequestLog(c.logger);
  const { ts, id: _id, client, transport, durationMs, ...fields } = dns;
  const ev: DnsQueryEvent = {
    ...newDnsQueryEvent({}),
    ts,
    client,
    transport,
    durationMs,
    fields,
    seq: 7,
  };
  log.dnsQuery(ev);
  assert.equal(c.lines.length, 0, "debug is off");
  c.logger.level = "debug";
  log.dnsQuery(ev);
  assert.equal(c.lines.length, 1);
  assert.equal(c.lines[0]!.reqId, queryId(7));
  assert.equal(c.lines[0]!.qname, "example.com");
  c.logger.level = "info";
  log.dnsQuery(ev);
  assert.equal(c.lines.length, 1, "off again");
});

test("a flood of one cause is limited per second, then the next line counts what was suppressed", () => {
  const c = capture("info");
  let now = 10_000;
  const log = new RequestLog(c.logger, { perSecond: 3, now: () => now });
  const bad = { ...dns, action: "error" as const, reason: "malformed" };
  for (let i = 0; i < 10; i++) log.record({ ...bad, id: `m${i}` });
  // Another cause has its own budget.
  log.record({ ...dns, action: "refused", reason: "unknown_client" });
  assert.deepEqual(
    c.lines.map((l) => l.reqId),
    ["m0", "m1", "m2", "abc-1"],
  );
  now += 1000;
  log.record({ ...bad, id: "m10" });
  assert.equal(c.lines.at(-1)!.reqId, "m10");
  assert.equal(c.lines.at(-1)!.suppressed, 7);
});

test("internal errors log at error level with the message scrubbed", () => {
  const c = capture("info");
  new RequestLog(c.logger).error("DNS query failed internally", new Error("boom Bearer abc.def"));
  assert.equal(c.lines[0]!.level, "error");
  assert.equal(c.lines[0]!.msg, "DNS query failed internally");
  assert.doesNotMatch(JSON.stringify(c.lines[0]), /abc\.def/);
});

test("safeUpstream keeps scheme, host and port only", () => {
  assert.equal(safeUpstream("udp://9.9.9.9:53"), "udp://9.9.9.9:53");
  assert.equal(safeUpstream("tls://dns.example:853"), "tls://dns.example:853");
  assert.equal(safeUpstream("https://a:b@[2001:db8::1]/q?k=v"), "https://[2001:db8::1]");
  assert.equal(safeUpstream("9.9.9.9"), "9.9.9.9");
});
