// Telemetry as events: the data planes publish one event per finished DNS query, HTTP request
// and CONNECT tunnel on a `node:diagnostics_channel` channel, and the sinks — Prometheus
// metrics, the query-log ring, the operational log, and whatever comes next (an analytics
// pipeline, a tracer) — subscribe. A stage never calls a sink; a new sink changes no stage.
//
// Channels are per thread and process-wide (as undici's are): one edge process may run several
// services (tests do), so every event names its `origin` and a per-edge sink (a query log, a
// request log) keeps only its own edge's events; process-wide sinks (metrics) take them all.
//
// Publishing is on the hot path. A publisher checks `channel.hasSubscribers` first and fills
// one event object it owns and reuses (valid only during the synchronous `publish` call: a sink
// that keeps something copies it), so a published event allocates nothing.

import diagnosticsChannel from "node:diagnostics_channel";
import type { LogAction, QueryLogRecord } from "@gatehouse/contract";
import type { PendingCount } from "./pending-counts.ts";
import type { RecordTemplate } from "./query-log.ts";

/** A DNS query finished: answered, refused, dropped or failed, by the pipeline or the fast path. */
export const DNS_QUERY_CHANNEL = "gatehouse:dns.query";
/** A proxied HTTP request finished (forwarded, blocked, refused or failed). */
export const HTTP_REQUEST_CHANNEL = "gatehouse:http.request";
/** A CONNECT tunnel closed, or was refused before it opened (an upgraded connection is an HTTP
 * request: HTTP_REQUEST_CHANNEL). */
export const PROXY_TUNNEL_CHANNEL = "gatehouse:proxy.tunnel";

export const dnsQueryChannel = diagnosticsChannel.channel(DNS_QUERY_CHANNEL);
export const httpRequestChannel = diagnosticsChannel.channel(HTTP_REQUEST_CHANNEL);
export const proxyTunnelChannel = diagnosticsChannel.channel(PROXY_TUNNEL_CHANNEL);

/**
 * One finished DNS query. The same shape from the pipeline's record stage and the fast path:
 * `fields` holds what is logged about the answer; the per-query values sit beside it.
 */
export interface DnsQueryEvent {
  /** The publishing service (its shared DNS state): per-edge sinks compare it with their own. */
  origin: object;
  /** Date.now() at arrival. */
  ts: number;
  client: string;
  /** udp, tcp, dot, doh or internal. */
  transport: string;
  durationMs: number;
  /**
   * The query-log fields of the answer: the whole record (pipeline), or the template shared
   * by every repeat of a cached answer (fast path). `fields.action`, `fields.rcode`,
   * `fields.cache`, `fields.reason` and `fields.policyId` are what counters read.
   */
  fields: RecordTemplate;
  /** The whole query-log record, when the pipeline built one; undefined on the fast path. */
  record: QueryLogRecord | undefined;
  /**
   * The sequence number of the query on this thread: with `queryId` (query-log.ts) the id of
   * its record (`fields.id` when `record` is set) and of its operational log line.
   */
  seq: number;
  /** The matched policy's action and the phase it matched in; undefined when none matched. */
  policyAction: string | undefined;
  policyPhase: "query" | "response" | undefined;
  /** What went wrong in full (upstream addresses, TLS errors): operational log only. */
  errorDetail: string | undefined;
  /**
   * Per-answer counters a sink may resolve once and reuse for every repeat (the packet-cache
   * entry's slots: query counts by transport, then the policy-match count); undefined on the
   * pipeline, where sinks look their counters up.
   */
  memo: (PendingCount | undefined)[] | undefined;
}

/** One finished proxy request or tunnel: its query-log record and what the record leaves out. */
export interface ProxyEvent {
  /** The publishing proxy: per-edge sinks compare it with their own. */
  origin: object;
  /** kind "http" (HTTP_REQUEST_CHANNEL) or "net" (PROXY_TUNNEL_CHANNEL). */
  record: QueryLogRecord;
  /** The peer was a private address the config allows (the record has only `upstreamAddr`). */
  peerPrivate: boolean;
  /** What went wrong in full: operational log only. */
  errorDetail: string | undefined;
}

export type HttpRequestEvent = ProxyEvent;
export type ProxyTunnelEvent = ProxyEvent;

/** A fresh DNS event for a publisher to own and refill for every query it publishes. */
export function newDnsQueryEvent(origin: object): DnsQueryEvent {
  return {
    origin,
    ts: 0,
    client: "",
    transport: "",
    durationMs: 0,
    fields: EMPTY_FIELDS,
    record: undefined,
    seq: 0,
    policyAction: undefined,
    policyPhase: undefined,
    errorDetail: undefined,
    memo: undefined,
  };
}

const EMPTY_FIELDS: RecordTemplate = { kind: "dns", action: "allow" satisfies LogAction };

/** Publishers holding finished queries they have not published yet (see `holdsUnpublished`). */
const unpublished = new Set<() => void>();

/**
 * A publisher that publishes some queries in bulk, later (the batch UDP socket's answers given
 * in C, published within milliseconds): `publish` publishes what it holds. Readers of what the
 * sinks keep (a metrics collection, a query-log read) call `publishPending` first, so nothing
 * answered is missing from what they read. Until the returned function is called.
 */
export function holdsUnpublished(publish: () => void): () => void {
  unpublished.add(publish);
  return () => {
    unpublished.delete(publish);
  };
}

/** Publish every query a publisher still holds (before reading a sink's state). */
export function publishPending(): void {
  for (const publish of unpublished) publish();
}

/**
 * Subscribe `sink` to `name` until the returned function is called. A sink must not throw:
 * diagnostics_channel reports a subscriber's exception as uncaught on the next tick.
 */
export function subscribe<E>(name: string, sink: (event: E) => void): () => void {
  const fn = sink as (message: unknown, name: string | symbol) => void;
  diagnosticsChannel.subscribe(name, fn);
  return () => {
    diagnosticsChannel.unsubscribe(name, fn);
  };
}

/** Subscribe `sink` to both proxy channels (requests and tunnels) until the returned function is
 * called. */
export function subscribeProxyEvents(sink: (event: ProxyEvent) => void): () => void {
  const http = subscribe(HTTP_REQUEST_CHANNEL, sink);
  const tunnel = subscribe(PROXY_TUNNEL_CHANNEL, sink);
  return () => {
    http();
    tunnel();
  };
}
