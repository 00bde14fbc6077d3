// One Prometheus registry for the whole edge process (default process metrics included), served
// on /metrics. Names are `gatehouse_<area>_<name>`; labels are bounded enumerations (action,
// transport, rcode, cache result, upstream protocol) — never a domain, client or policy id,
// which belong in the query log.

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { splitHostPort } from "../net/host-port.ts";
import { closeServer, listen } from "../net/listen.ts";
import { http } from "../net/node-http.ts";
import { DNS_QUERY_CHANNEL, type DnsQueryEvent, publishPending, subscribe } from "./events.ts";
import { type PendingCount, PendingCounts, PendingHistograms } from "./pending-counts.ts";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "./prom-client.ts";
import { registryMetric } from "./registry-metric.ts";

/** The DNS query and cache-lookup counts, bumped per query and flushed on collect. */
const dnsCounts = new PendingCounts();
/** The DNS duration histograms' observations, flushed on collect likewise. */
const dnsHistograms = new PendingHistograms();
/** What a DNS metric's collection runs: queries still held unpublished first (events.ts). */
const collectDns = (): void => {
  publishPending();
  dnsCounts.flush();
  dnsHistograms.flush();
};

let registry: Registry | undefined;

/** The edge's registry; created once per process with the default process metrics. */
export function edgeRegistry(): Registry {
  if (!registry) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: "gatehouse_edge_" });
  }
  return registry;
}

/** Get a metric already registered under `name`, or create it (tests start many edges). */
function once<T>(name: string, make: (r: Registry) => T): T {
  const r = edgeRegistry();
  return registryMetric(r, name, () => make(r));
}

export interface DnsMetrics {
  readonly queries: Counter<"transport" | "action" | "rcode">;
  readonly cache: Counter<"result">;
  readonly cacheEvictions: Counter;
  readonly cacheEntries: Gauge;
  readonly upstreamLatency: Histogram<"protocol">;
  readonly upstreamErrors: Counter<"protocol" | "reason">;
  readonly policyMatches: Counter<"action" | "phase">;
  /** Upstream recoveries: UDP retransmits, TCP after UDP, retries without EDNS or 0x20. */
  readonly upstreamFallbacks: Counter<"kind">;
  /** Queries for ANY answered with the RFC 8482 HINFO. */
  readonly minimalAny: Counter;
  /** Answers blocked because a name of their CNAME chain matched a block policy. */
  readonly cnameCloakBlocks: Counter;
  /** Records of upstream answers not kept (dns/scrub.ts), by reason. */
  readonly upstreamRecordsDropped: Counter<"reason">;
  /** DNSSEC validations of upstream answers (cache misses), by result and reason. */
  readonly dnssecValidations: Counter<"result" | "reason">;
  readonly duration: Histogram<"transport">;
  readonly logDropped: Counter;
}

let dns: DnsMetrics | undefined;

/** The DNS caches gatehouse_dns_cache_entries adds up at scrape time. */
const caches = new Set<{ readonly size: number }>();

/** Report `cache`'s size in gatehouse_dns_cache_entries until the returned function is called. */
export function trackDnsCache(cache: { readonly size: number }): () => void {
  dnsMetrics();
  caches.add(cache);
  return () => {
    caches.delete(cache);
  };
}

/** Query-log rings counted by gatehouse_edge_query_log_dropped_total, with what was reported. */
const rings = new Map<{ readonly dropped: number }, number>();

/** Count `ring`'s overwritten records in gatehouse_edge_query_log_dropped_total until untracked. */
export function trackQueryLogDrops(ring: { readonly dropped: number }): () => void {
  dnsMetrics();
  rings.set(ring, ring.dropped);
  return () => {
    rings.delete(ring);
  };
}

export function dnsMetrics(): DnsMetrics {
  dns ??= {
    queries: once(
      "gatehouse_dns_queries_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_queries_total",
          help: "DNS queries answered, by transport, action and response code",
          labelNames: ["transport", "action", "rcode"] as const,
          registers: [r],
          collect: collectDns,
        }),
    ),
    cache: once(
      "gatehouse_dns_cache_lookups_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_cache_lookups_total",
          help: "DNS cache lookups by result (hit, miss, stale)",
          labelNames: ["result"] as const,
          registers: [r],
          collect: collectDns,
        }),
    ),
    cacheEvictions: once(
      "gatehouse_dns_cache_evictions_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_cache_evictions_total",
          help: "DNS cache entries evicted to respect the size bound",
          registers: [r],
          collect: collectDns,
        }),
    ),
    cacheEntries: once(
      "gatehouse_dns_cache_entries",
      (r) =>
        new Gauge({
          name: "gatehouse_dns_cache_entries",
          help: "DNS cache entries held",
          registers: [r],
          collect() {
            let n = 0;
            for (const c of caches) n += c.size;
            this.set(n);
          },
        }),
    ),
    upstreamLatency: once(
      "gatehouse_dns_upstream_duration_seconds",
      (r) =>
        new Histogram({
          name: "gatehouse_dns_upstream_duration_seconds",
          help: "Upstream DNS exchange latency by protocol",
          labelNames: ["protocol"] as const,
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers: [r],
          collect: collectDns,
        }),
    ),
    upstreamErrors: once(
      "gatehouse_dns_upstream_errors_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_upstream_errors_total",
          help: "Upstream DNS failures by protocol and reason",
          labelNames: ["protocol", "reason"] as const,
          registers: [r],
        }),
    ),
    upstreamFallbacks: once(
      "gatehouse_dns_upstream_fallbacks_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_upstream_fallbacks_total",
          help: "Upstream recoveries: UDP retransmit, TCP after UDP, retry without EDNS or without 0x20",
          labelNames: ["kind"] as const,
          registers: [r],
        }),
    ),
    dnssecValidations: once("gatehouse_dns_dnssec_validations_total", (r) => {
      const c = new Counter({
        name: "gatehouse_dns_dnssec_validations_total",
        help: "DNSSEC validations of upstream answers (one per cache miss) by result (secure, insecure, bogus) and reason (the RFC 8914 cause for bogus answers, why an insecure one is)",
        labelNames: ["result", "reason"] as const,
        registers: [r],
      });
      c.inc({ result: "secure", reason: "signed" }, 0);
      c.inc({ result: "insecure", reason: "unsigned" }, 0);
      c.inc({ result: "bogus", reason: "dnssec_bogus" }, 0);
      return c;
    }),
    upstreamRecordsDropped: once("gatehouse_dns_upstream_records_dropped_total", (r) => {
      const c = new Counter({
        name: "gatehouse_dns_upstream_records_dropped_total",
        help: "Records of upstream answers the edge did not keep: unrelated to the question's chain, authority or additional records an answer does not need, DNSSEC records for clients without DO",
        labelNames: ["reason"] as const,
        registers: [r],
        collect: collectDns,
      });
      for (const reason of ["unrelated", "authority", "additional", "dnssec"]) c.inc({ reason }, 0);
      return c;
    }),
    minimalAny: once(
      "gatehouse_dns_minimal_any_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_minimal_any_total",
          help: "Queries for ANY answered with the synthesized HINFO of RFC 8482",
          registers: [r],
        }),
    ),
    cnameCloakBlocks: once(
      "gatehouse_dns_cname_cloaking_blocks_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_cname_cloaking_blocks_total",
          help: "Answers blocked because a name of their CNAME chain matched a block policy",
          registers: [r],
        }),
    ),
    policyMatches: once(
      "gatehouse_dns_policy_matches_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_policy_matches_total",
          help: "DNS policy matches by action and phase",
          labelNames: ["action", "phase"] as const,
          registers: [r],
          collect: collectDns,
        }),
    ),
    duration: once(
      "gatehouse_dns_query_duration_seconds",
      (r) =>
        new Histogram({
          name: "gatehouse_dns_query_duration_seconds",
          help: "Time from receiving a DNS query to writing its answer",
          labelNames: ["transport"] as const,
          buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
          registers: [r],
          collect: collectDns,
        }),
    ),
    logDropped: once(
      "gatehouse_edge_query_log_dropped_total",
      (r) =>
        new Counter({
          name: "gatehouse_edge_query_log_dropped_total",
          help: "Query-log records overwritten before they were shipped",
          registers: [r],
          // Read from the rings at scrape time: DNS (both paths) and the proxy push into them.
          collect() {
            for (const [ring, reported] of rings) {
              if (ring.dropped > reported) this.inc(ring.dropped - reported);
              rings.set(ring, ring.dropped);
            }
          },
        }),
    ),
  };
  return dns;
}

export interface MetricsServer {
  readonly server: Server;
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Serve GET /metrics of the edge registry on `addr` ("host:port"; port 0 picks one). */
export async function serveMetrics(addr: string): Promise<MetricsServer> {
  const { host, port } = splitHostPort(addr);
  const reg = edgeRegistry();
  const server = http().createServer((req, res) => {
    if (req.method !== "GET" || (req.url !== "/metrics" && !req.url?.startsWith("/metrics?"))) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    reg.metrics().then(
      (text) => res.writeHead(200, { "content-type": reg.contentType }).end(text),
      (e: unknown) =>
        res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(e)}\n`),
    );
  });
  const address = await listen(server, { port, host });
  return {
    server,
    address,
    close: () => closeServer(server, 0, () => server.closeAllConnections()),
  };
}

/** Pending query counts by transport, action and rcode (no key string made per query). */
const queryCounts = new Map<string, Map<string, Map<string, PendingCount>>>();

/** The pending count of DNS queries answered with these labels (resolve once, bump per query). */
function queryCount(transport: string, action: string, rcode: string): PendingCount {
  let byAction = queryCounts.get(transport);
  if (byAction === undefined) {
    byAction = new Map();
    queryCounts.set(transport, byAction);
  }
  let byRcode = byAction.get(action);
  if (byRcode === undefined) {
    byRcode = new Map();
    byAction.set(action, byRcode);
  }
  let c = byRcode.get(rcode);
  if (c === undefined) {
    c = dnsCounts.add(dnsMetrics().queries.labels(transport, action, rcode));
    byRcode.set(rcode, c);
  }
  return c;
}

/** The pending count of DNS cache evictions (one per evicted entry: on the miss path). */
export function cacheEvictionCount(): PendingCount {
  return dnsCounts.keyed("evictions", () => dnsMetrics().cacheEvictions);
}

/** The pending count of upstream records dropped for `reason` (scrub.ts, once per miss). */
export function recordsDroppedCount(reason: string): PendingCount {
  return dnsCounts.keyed(`dropped|${reason}`, () =>
    dnsMetrics().upstreamRecordsDropped.labels(reason),
  );
}

/** The pending count of DNS cache lookups with this result. */
function cacheCount(result: "hit" | "miss" | "stale"): PendingCount {
  return dnsCounts.keyed(result, () => dnsMetrics().cache.labels(result));
}

/** The pending count of DNS policy matches with this action and phase. */
function policyCount(action: string, phase: string): PendingCount {
  return dnsCounts.keyed(`policy|${action}|${phase}`, () =>
    dnsMetrics().policyMatches.labels(action, phase),
  );
}

/**
 * The upstream exchange latency histogram's pending observations for a protocol (seconds; added
 * to gatehouse_dns_upstream_duration_seconds when it is collected).
 */
export const upstreamLatencyOf = dnsHistograms.byLabel(
  () => dnsMetrics().upstreamLatency,
  "protocol",
);

/** The query duration histogram's pending observations for a transport (seconds). */
const durationOf = dnsHistograms.byLabel(() => dnsMetrics().duration, "transport");

/** Slots of a fast-path answer's memo (DnsQueryEvent.memo): query counts by transport, policy. */
const MEMO_POLICY = 3;

let dnsSubscribed = false;

/**
 * Count every finished DNS query of this thread (telemetry/events.ts) in the gatehouse_dns_*
 * metrics; idempotent, for the life of the thread. Queries, cache results and policy matches
 * add to plain numbers; a fast-path answer's counters are resolved once per answer and kept in
 * its memo, so a repeat costs a few increments. The duration histogram observes pipeline runs;
 * fast-path answers (microseconds) are counted, their durations are in the query log.
 */
export function subscribeDnsMetrics(): void {
  if (dnsSubscribed) return;
  dnsSubscribed = true;
  const m = dnsMetrics();
  const hit = cacheCount("hit");
  const miss = cacheCount("miss");
  const stale = cacheCount("stale");
  subscribe<DnsQueryEvent>(DNS_QUERY_CHANNEL, (ev) => {
    const f = ev.fields;
    const memo = ev.memo;
    const phase = ev.policyPhase;
    if (memo === undefined) {
      queryCount(ev.transport, f.action, f.rcode ?? "NONE").n++;
      durationOf(ev.transport).observe(ev.durationMs / 1000);
      if (phase !== undefined) policyCount(ev.policyAction ?? f.action, phase).n++;
      if (f.reason === "rfc8482_any") m.minimalAny.inc();
    } else {
      const t = ev.transport;
      const ti = t === "udp" ? 0 : t === "tcp" ? 1 : 2;
      let c = memo[ti];
      if (c === undefined) {
        c = queryCount(t, f.action, f.rcode ?? "NOERROR");
        memo[ti] = c;
      }
      c.n++;
      if (phase !== undefined) {
        let p = memo[MEMO_POLICY];
        if (p === undefined) {
          p = policyCount(ev.policyAction ?? f.action, phase);
          memo[MEMO_POLICY] = p;
        }
        p.n++;
      }
    }
    if (f.matchedName !== undefined && f.action !== "allow") m.cnameCloakBlocks.inc();
    const cache = f.cache;
    if (cache === "hit") hit.n++;
    else if (cache === "miss") miss.n++;
    else if (cache === "stale") {
      // The lookup found an expired entry (a miss), which was then served.
      miss.n++;
      stale.n++;
    }
  });
}

/** What a batch UDP socket (dns/server/udp-batch.ts) has done since it opened. */
export interface UdpBatchStats {
  batches: number;
  received: number;
  sent: number;
  sendErrors: number;
  truncated: number;
  /** Queries answered in C from copies of packet-cache entries (also counted as answers). */
  answeredInC: number;
}

const udpSources = new Set<() => UdpBatchStats>();
/** A batch socket's counts before it has done anything. */
export function noUdpBatchStats(): UdpBatchStats {
  return { batches: 0, received: 0, sent: 0, sendErrors: 0, truncated: 0, answeredInC: 0 };
}

const udpRetired = noUdpBatchStats();

function addStats(into: UdpBatchStats, s: UdpBatchStats): void {
  into.batches += s.batches;
  into.received += s.received;
  into.sent += s.sent;
  into.sendErrors += s.sendErrors;
  into.truncated += s.truncated;
  into.answeredInC += s.answeredInC;
}

function udpTotals(): UdpBatchStats {
  const t = { ...udpRetired };
  for (const read of udpSources) addStats(t, read());
  return t;
}

/** A counter whose value is read from a running total at collect time. */
function collectedCounter(name: string, help: string, read: () => number): void {
  once(
    name,
    (r) =>
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          this.reset();
          const v = read();
          if (v > 0) this.inc(v);
        },
      }),
  );
}

/** A counter whose value is read from the batch sockets' own counts at collect time. */
function udpCounter(name: string, help: string, pick: (t: UdpBatchStats) => number): void {
  collectedCounter(name, help, () => pick(udpTotals()));
}

/**
 * Report a batch UDP socket's counts as `gatehouse_dns_udp_*` metrics until the returned
 * function is called (at close, which keeps its final counts).
 */
export function trackUdpBatch(read: () => UdpBatchStats): () => void {
  udpCounter(
    "gatehouse_dns_udp_batches_total",
    "recvmmsg batches read by the batch UDP sockets",
    (t) => t.batches,
  );
  udpCounter(
    "gatehouse_dns_udp_received_total",
    "Datagrams read by the batch UDP sockets",
    (t) => t.received,
  );
  udpCounter(
    "gatehouse_dns_udp_sent_total",
    "Answers sent by the batch UDP sockets",
    (t) => t.sent,
  );
  udpCounter(
    "gatehouse_dns_udp_send_errors_total",
    "Answers the batch UDP sockets could not send (full buffer, unreachable client)",
    (t) => t.sendErrors,
  );
  udpCounter(
    "gatehouse_dns_udp_oversized_total",
    "Datagrams dropped for being longer than any DNS query (4096 bytes)",
    (t) => t.truncated,
  );
  udpCounter(
    "gatehouse_dns_udp_answered_in_c_total",
    "Repeats the batch UDP sockets answered in C from copies of packet-cache entries (each also logged and counted as a cache hit)",
    (t) => t.answeredInC,
  );
  udpSources.add(read);
  return () => {
    if (udpSources.delete(read)) addStats(udpRetired, read());
  };
}

/** What a DNS stream listener (TCP, DoT, DoH) holds right now, read at scrape time. */
export interface DnsConnectionGauges {
  /** Client connections open. */
  open: number;
  /** Answer bytes queued toward clients and not yet taken by the kernel. */
  queuedBytes: number;
}

export interface DnsConnectionMetrics {
  /** Connections refused at accept: `per_source` or `total` limit reached. */
  readonly refused: Counter<"transport" | "reason">;
  /** Connections the edge closed: `idle`, `backpressure`, `linger`, `malformed`. */
  readonly closed: Counter<"transport" | "reason">;
  /** Report a listener's gauges until the returned function is called (at close). */
  track(transport: string, read: () => DnsConnectionGauges): () => void;
}

const connectionSources = new Set<{ transport: string; read: () => DnsConnectionGauges }>();

function connectionGauge(name: string, help: string, pick: (g: DnsConnectionGauges) => number) {
  once(
    name,
    (r) =>
      new Gauge({
        name,
        help,
        labelNames: ["transport"] as const,
        registers: [r],
        collect() {
          this.reset();
          const by = new Map<string, number>();
          for (const s of connectionSources)
            by.set(s.transport, (by.get(s.transport) ?? 0) + pick(s.read()));
          for (const [t, v] of by) this.labels(t).set(v);
        },
      }),
  );
}

let connectionMetrics: DnsConnectionMetrics | undefined;

/** Connection-level metrics of the DNS stream listeners (dns/server/tcp-server.ts, doh-server.ts). */
export function dnsConnectionMetrics(): DnsConnectionMetrics {
  if (connectionMetrics) return connectionMetrics;
  connectionGauge(
    "gatehouse_dns_connections_open",
    "DNS client connections open now (TCP, DoT, DoH), by transport",
    (g) => g.open,
  );
  connectionGauge(
    "gatehouse_dns_connection_queued_bytes",
    "DNS answer bytes queued toward clients and not yet sent, by transport",
    (g) => g.queuedBytes,
  );
  connectionMetrics = {
    refused: once(
      "gatehouse_dns_connections_refused_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_connections_refused_total",
          help: "DNS client connections refused at accept, by transport and limit (per_source, total)",
          labelNames: ["transport", "reason"] as const,
          registers: [r],
        }),
    ),
    closed: once(
      "gatehouse_dns_connections_closed_total",
      (r) =>
        new Counter({
          name: "gatehouse_dns_connections_closed_total",
          help: "DNS client connections closed by the edge, by transport and reason (idle, backpressure, linger, malformed, slow)",
          labelNames: ["transport", "reason"] as const,
          registers: [r],
        }),
    ),
    track(transport, read) {
      const s = { transport, read };
      connectionSources.add(s);
      return () => {
        connectionSources.delete(s);
      };
    },
  };
  return connectionMetrics;
}

/**
 * Answers the node:dgram UDP socket dropped because its send queue (libuv's, unbounded by
 * itself) already held `MAX_UDP_SEND_QUEUE` answers the kernel had not taken.
 */
export function udpSendQueueDrops(): Counter {
  return once(
    "gatehouse_dns_udp_send_queue_dropped_total",
    (r) =>
      new Counter({
        name: "gatehouse_dns_udp_send_queue_dropped_total",
        help: "UDP answers dropped because the node:dgram socket's send queue was full",
        registers: [r],
      }),
  );
}

/**
 * Upstream UDP datagrams the batch socket lost: a query the kernel would not take at once
 * (`send_full`: the retransmission sends it again) or a reply longer than a receive slot
 * (`oversized`: more than CLIENT_IN_SLOT bytes when we advertise 1,232).
 */
export function upstreamDatagramDrops(): Counter<"reason"> {
  return once(
    "gatehouse_dns_upstream_datagrams_dropped_total",
    (r) =>
      new Counter({
        name: "gatehouse_dns_upstream_datagrams_dropped_total",
        help: "Upstream UDP datagrams dropped by the batch socket: query not taken by the kernel (send_full), reply too long (oversized)",
        labelNames: ["reason"] as const,
        registers: [r],
      }),
  );
}

/** RFC 8914 info codes a validation can end in, as metric reasons. */
const BOGUS_REASONS = new Map<number, string>([
  [6, "dnssec_bogus"],
  [7, "signature_expired"],
  [8, "signature_not_yet_valid"],
  [9, "dnskey_missing"],
  [10, "rrsigs_missing"],
  [12, "nsec_missing"],
  [23, "network_error"],
  [27, "nsec3_iterations"],
]);

/** Count one DNSSEC verdict (dns/dnssec/validator.ts) by result and a bounded reason. */
export function countValidation(v: {
  security: "secure" | "insecure" | "bogus";
  ede?: number;
  why?: string;
}): void {
  let reason: string;
  if (v.security === "secure") reason = "signed";
  else if (v.security === "bogus") reason = BOGUS_REASONS.get(v.ede ?? 6) ?? "dnssec_bogus";
  else if (v.ede !== undefined) reason = BOGUS_REASONS.get(v.ede) ?? "other";
  else if (v.why === "negative trust anchor") reason = "negative_trust_anchor";
  else if (v.why === "no trust anchor") reason = "no_trust_anchor";
  else if (v.why === "NSEC3 opt-out") reason = "nsec3_opt_out";
  else reason = "unsigned";
  dnsMetrics().dnssecValidations.inc({ result: v.security, reason });
}

/**
 * What the releases after bursts did (memory-release.ts), read at collect time:
 * `gatehouse_edge_memory_releases_total` and `gatehouse_edge_memory_released_bytes_total`.
 */
export function trackMemoryRelease(stats: {
  readonly releases: number;
  readonly releasedBytes: number;
}): void {
  const counters: [string, string, () => number][] = [
    [
      "gatehouse_edge_memory_releases_total",
      "Full collections and malloc trims run after the RSS grew and the edge went quiet",
      () => stats.releases,
    ],
    [
      "gatehouse_edge_memory_released_bytes_total",
      "RSS bytes those releases gave back",
      () => stats.releasedBytes,
    ],
  ];
  for (const [name, help, read] of counters) collectedCounter(name, help, read);
}
