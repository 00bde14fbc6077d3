// The proxy's Prometheus metrics, on the edge's shared registry. Labels are small fixed sets
// (kind, action, status class, direction, cause); hosts, clients and policy ids go to the query
// log only. The hot path only adds to plain numbers (one slot per label set, found without
// building a key); they are handed to prom-client when the registry is read (`collect`), so no
// request pays for prom-client's label hashing.

import type { ConnectionRefusal } from "../net/connection-limiter.ts";
import { subscribeProxyEvents } from "../telemetry/events.ts";
import { type PendingCount, PendingCounts } from "../telemetry/pending-counts.ts";
import { Counter, Gauge, Histogram, type Registry } from "../telemetry/prom-client.ts";
import { registryMetric } from "../telemetry/registry-metric.ts";

/**
 * Why the proxy destroyed a client connection: close_grace = it did not close within
 * `closeGraceMs` of ours (after a response with `connection: close`, a refusal or an idle
 * timeout); not_reading = it took no byte of the output queued for it for `idleTimeoutMs`.
 */
export type DestroyReason = "close_grace" | "not_reading";

export interface ProxyMetrics {
  request(kind: "http" | "net", action: string, status: number): void;
  error(cause: string): void;
  bytes(up: number, down: number): void;
  connectLatency(seconds: number): void;
  /** A Basic credential checked and refused, or refused unchecked (client over its limit). */
  authFailure(result: "rejected" | "limited"): void;
  /** The private-address guard refused every address of a destination, or let one through
   * because the deciding allow policy lists it (settings.allowPrivateDestinations). */
  privateDestination(result: "refused" | "allowed"): void;
  /** A client connection refused at accept: its source, or the listener, is at its limit. */
  connectionRefused(reason: ConnectionRefusal): void;
  /** A client connection cut by the proxy: it did not close after our FIN, or never read. */
  connectionDestroyed(reason: DestroyReason): void;
  readonly activeTunnels: Gauge;
  readonly activeConnections: Gauge;
  /** This machine's addresses the address guard refuses as its own (0: none could be listed). */
  readonly ownAddresses: Gauge;
  /** The origin pool whose connections the registry reports (read only when scraped). */
  watchPool(stats: () => UpstreamPoolStats): void;
  /** Response bytes queued in the proxy toward clients, not yet taken by their sockets (scraped). */
  watchClientQueue(bytes: () => number): void;
}

export interface UpstreamPoolStats {
  /** Origin connections carrying (or dialling for) a request. */
  readonly active: number;
  /** Kept-alive origin connections waiting for a request. */
  readonly idle: number;
  /** Requests waiting for a connection (their origin is at its connection limit). */
  readonly queued: number;
}

const STATUS_CLASSES = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"] as const;

function statusClassIndex(status: number): number {
  if (status === 0) return 0;
  if (status < 200) return 1;
  if (status < 300) return 2;
  if (status < 400) return 3;
  if (status < 500) return 4;
  return 5;
}

/** One instance per registry: a proxy restarted on the same registry (drain/resume) adds to the
 * same slots, which the metrics' collect() flushes. */
const perRegistry = new WeakMap<Registry, ProxyMetrics>();

export function proxyMetrics(registry: Registry): ProxyMetrics {
  let m = perRegistry.get(registry);
  if (m === undefined) {
    m = create(registry);
    perRegistry.set(registry, m);
  }
  return m;
}

function create(registry: Registry): ProxyMetrics {
  const counts = new PendingCounts();
  const slot = (child: { inc(value: number): void }) => counts.add(child);
  const flush = counts.flush;
  /** A counter with one label, fed by pending counts. */
  const counter = (name: string, help: string, label: string) =>
    registryMetric(
      registry,
      name,
      () => new Counter({ name, help, labelNames: [label], registers: [registry], collect: flush }),
    );
  const requests = registryMetric(
    registry,
    "gatehouse_proxy_requests_total",
    () =>
      new Counter({
        name: "gatehouse_proxy_requests_total",
        help: "Proxied HTTP requests (kind=http) and CONNECT tunnels (kind=net) by action and status class",
        labelNames: ["kind", "action", "status_class"] as const,
        registers: [registry],
        collect: flush,
      }),
  );
  const errors = counter(
    "gatehouse_proxy_errors_total",
    "Requests and tunnels that failed or were refused, by cause",
    "cause",
  );
  const bytes = counter(
    "gatehouse_proxy_bytes_total",
    "Bytes relayed; up = client to origin, down = origin to client (wire bytes)",
    "direction",
  );
  const authFailures = counter(
    "gatehouse_proxy_auth_failures_total",
    "Proxy Basic credentials refused: rejected = checked and wrong (or unknown user), limited = not checked, the client address is over its failure limit",
    "result",
  );
  const privateDestinations = counter(
    "gatehouse_proxy_private_destinations_total",
    "Requests and tunnels to internal addresses (loopback, private, link-local, …): refused = the guard stopped them, allowed = an allow policy's allowPrivateDestinations listed the address",
    "result",
  );
  const latency = registryMetric(
    registry,
    "gatehouse_proxy_upstream_connect_seconds",
    () =>
      new Histogram({
        name: "gatehouse_proxy_upstream_connect_seconds",
        help: "Time to open a TCP connection to an origin",
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [registry],
      }),
  );
  const activeTunnels = registryMetric(
    registry,
    "gatehouse_proxy_active_tunnels",
    () =>
      new Gauge({
        name: "gatehouse_proxy_active_tunnels",
        help: "CONNECT tunnels and upgraded (WebSocket) connections open now",
        registers: [registry],
      }),
  );
  const activeConnections = registryMetric(
    registry,
    "gatehouse_proxy_active_connections",
    () =>
      new Gauge({
        name: "gatehouse_proxy_active_connections",
        help: "Client connections open now",
        registers: [registry],
      }),
  );
  const ownAddresses = registryMetric(
    registry,
    "gatehouse_proxy_own_addresses",
    () =>
      new Gauge({
        name: "gatehouse_proxy_own_addresses",
        help: "This machine's interface addresses the proxy refuses to dial as its own; 0 when they could not be listed (a sandbox without AF_NETLINK)",
        registers: [registry],
      }),
  );
  let clientQueue: (() => number) | undefined;
  registryMetric(
    registry,
    "gatehouse_proxy_client_queued_bytes",
    () =>
      new Gauge({
        name: "gatehouse_proxy_client_queued_bytes",
        help: "Bytes the proxy holds for client connections (responses, tunnels relayed in Node) that their sockets have not taken yet",
        registers: [registry],
        collect() {
          this.set(clientQueue?.() ?? 0);
        },
      }),
  );
  let poolStats: (() => UpstreamPoolStats) | undefined;
  registryMetric(
    registry,
    "gatehouse_proxy_upstream_connections",
    () =>
      new Gauge({
        name: "gatehouse_proxy_upstream_connections",
        help: "Connections to origins now: active = carrying a request, idle = kept alive in the pool, queued = requests waiting for one",
        labelNames: ["state"] as const,
        registers: [registry],
        collect() {
          const s = poolStats?.() ?? { active: 0, idle: 0, queued: 0 };
          this.set({ state: "active" }, s.active);
          this.set({ state: "idle" }, s.idle);
          this.set({ state: "queued" }, s.queued);
        },
      }),
  );
  const refusedConnections = counter(
    "gatehouse_proxy_connections_refused_total",
    "Client connections refused when accepted: per_source = that source (IPv4 address, IPv6 /64) holds maxConnectionsPerSource, total = the listener holds maxConnections",
    "reason",
  );
  const destroyedConnections = counter(
    "gatehouse_proxy_connections_destroyed_total",
    "Client connections the proxy cut: close_grace = not closed within closeGraceMs of the proxy's close, not_reading = took no byte of its queued response for idleTimeoutMs",
    "reason",
  );
  const refusedBy = {
    per_source: slot(refusedConnections.labels("per_source")),
    total: slot(refusedConnections.labels("total")),
  };
  const destroyedBy = {
    close_grace: slot(destroyedConnections.labels("close_grace")),
    not_reading: slot(destroyedConnections.labels("not_reading")),
  };
  const rejected = slot(authFailures.labels("rejected"));
  const limited = slot(authFailures.labels("limited"));
  const privateRefused = slot(privateDestinations.labels("refused"));
  const privateAllowed = slot(privateDestinations.labels("allowed"));
  const up = slot(bytes.labels("up"));
  const down = slot(bytes.labels("down"));
  // kind → action → status class; actions and causes are small fixed sets met at run time.
  const byKind = {
    http: new Map<string, PendingCount[]>(),
    net: new Map<string, PendingCount[]>(),
  };
  const byCause = new Map<string, PendingCount>();
  return {
    request(kind, action, status) {
      const actions = byKind[kind];
      let row = actions.get(action);
      if (row === undefined) {
        row = STATUS_CLASSES.map((cls) => slot(requests.labels(kind, action, cls)));
        actions.set(action, row);
      }
      const counter = row[statusClassIndex(status)];
      if (counter !== undefined) counter.n++;
    },
    error(cause) {
      let c = byCause.get(cause);
      if (c === undefined) {
        c = slot(errors.labels(cause));
        byCause.set(cause, c);
      }
      c.n++;
    },
    bytes(u, d) {
      up.n += u;
      down.n += d;
    },
    authFailure(result) {
      (result === "rejected" ? rejected : limited).n++;
    },
    privateDestination(result) {
      (result === "refused" ? privateRefused : privateAllowed).n++;
    },
    connectLatency(seconds) {
      latency.observe(seconds);
    },
    connectionRefused(reason) {
      refusedBy[reason].n++;
    },
    connectionDestroyed(reason) {
      destroyedBy[reason].n++;
    },
    activeTunnels,
    activeConnections,
    ownAddresses,
    watchPool(stats) {
      poolStats = stats;
    },
    watchClientQueue(bytes) {
      clientQueue = bytes;
    },
  };
}

/**
 * Count `origin`'s finished requests and tunnels (telemetry/events.ts) in `m` until the returned
 * function is called: requests by kind, action and status class, bytes, error causes (a policy
 * block or a Max-Forwards answer is not an error) and private destinations.
 */
export function subscribeProxyMetrics(m: ProxyMetrics, origin: object): () => void {
  return subscribeProxyEvents((ev) => {
    if (ev.origin !== origin) return;
    const r = ev.record;
    const reason = r.reason;
    m.request(r.kind === "net" ? "net" : "http", r.action, r.status ?? 0);
    if (r.bytesUp !== undefined) m.bytes(r.bytesUp, r.bytesDown ?? 0);
    if (reason !== undefined && reason !== "policy" && reason !== "max_forwards") m.error(reason);
    if (reason === "private_target") m.privateDestination("refused");
    else if (ev.peerPrivate) m.privateDestination("allowed");
  });
}

/** TLS inspection's own counters (stages/inspect-tls.ts, stages/record.ts). */
export interface InspectionMetrics {
  /** Client handshakes on minted leaves: ok, failed, refused_busy, refused_source_busy, no_issuer, bad_name, … */
  readonly handshakes: Counter<"result">;
  /** Requests read from inspected connections, by action. */
  readonly requests: Counter<"action">;
  /** Origins whose certificate did not verify, by the verification error. */
  readonly originCertErrors: Counter<"reason">;
  /** Origin certificate checks before the client's handshake (untrustedOriginCert: pass_through). */
  readonly originProbes: Counter<"result" | "verdict">;
}

export function inspectionMetrics(registry: Registry): InspectionMetrics {
  const counter = <L extends string>(name: string, help: string, label: L) =>
    registryMetric(
      registry,
      name,
      () => new Counter<L>({ name, help, labelNames: [label], registers: [registry] }),
    );
  return {
    handshakes: counter(
      "gatehouse_proxy_tls_handshakes_total",
      "TLS handshakes with clients of inspected connections, by result",
      "result",
    ),
    requests: counter(
      "gatehouse_proxy_inspected_requests_total",
      "Requests read from inspected (decrypted) connections, by action",
      "action",
    ),
    originCertErrors: counter(
      "gatehouse_proxy_origin_cert_errors_total",
      "Inspected requests whose origin's certificate did not verify (refused, or let through by untrustedOriginCert: inspect), by reason",
      "reason",
    ),
    originProbes: registryMetric(
      registry,
      "gatehouse_proxy_origin_cert_probes_total",
      () =>
        new Counter<"result" | "verdict">({
          name: "gatehouse_proxy_origin_cert_probes_total",
          help: "Origin certificate checks before an inspected client's handshake (untrustedOriginCert: pass_through), by result (probed, cached, failed) and verdict",
          labelNames: ["result", "verdict"],
          registers: [registry],
        }),
    ),
  };
}

/** Count `origin`'s inspected requests and origin certificate failures (from its events). */
export function subscribeInspectionMetrics(m: InspectionMetrics, origin: object): () => void {
  return subscribeProxyEvents((ev) => {
    if (ev.origin !== origin) return;
    const r = ev.record;
    if (r.inspected !== true || r.kind !== "http") return;
    m.requests.inc({ action: r.action });
    if (r.originCert !== undefined && r.originCert !== "valid")
      m.originCertErrors.inc({ reason: r.originCert.slice(0, 64) });
  });
}
