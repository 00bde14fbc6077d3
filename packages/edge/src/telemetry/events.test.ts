import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DNS_QUERY_CHANNEL,
  type DnsQueryEvent,
  dnsQueryChannel,
  HTTP_REQUEST_CHANNEL,
  httpRequestChannel,
  newDnsQueryEvent,
  PROXY_TUNNEL_CHANNEL,
  proxyTunnelChannel,
  subscribe,
} from "./events.ts";

test("one channel per finished DNS query, HTTP request and tunnel", () => {
  assert.equal(dnsQueryChannel.name, DNS_QUERY_CHANNEL);
  assert.equal(httpRequestChannel.name, HTTP_REQUEST_CHANNEL);
  assert.equal(proxyTunnelChannel.name, PROXY_TUNNEL_CHANNEL);
  assert.equal(new Set([DNS_QUERY_CHANNEL, HTTP_REQUEST_CHANNEL, PROXY_TUNNEL_CHANNEL]).size, 3);
});

test("subscribe delivers the published event until unsubscribed", () => {
  const origin = {};
  const ev = newDnsQueryEvent(origin);
  const seen: number[] = [];
  const before = dnsQueryChannel.hasSubscribers;
  const off = subscribe<DnsQueryEvent>(DNS_QUERY_CHANNEL, (e) => {
    if (e.origin === origin) seen.push(e.ts);
  });
  assert.equal(dnsQueryChannel.hasSubscribers, true);
  ev.ts = 1;
  dnsQueryChannel.publish(ev);
  ev.ts = 2;
  dnsQueryChannel.publish(ev);
  off();
  ev.ts = 3;
  dnsQueryChannel.publish(ev);
  assert.deepEqual(seen, [1, 2]);
  assert.equal(dnsQueryChannel.hasSubscribers, before);
});
