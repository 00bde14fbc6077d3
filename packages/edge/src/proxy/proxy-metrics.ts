// The proxy's Prometheus metrics, on the edge's shared registry. Labels are small fixed sets
// (kind, action, status class, direction, cause); hosts, clients and policy ids go to the query
// log only. Label children are resolved once and kept, so the hot path does no label lookups.

import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface ProxyMetrics {
  request(kind: "http" | "net", action: string, status: number): void;
  error(cause: string): void;
  bytes(up: number, down: number): void;
  connectLatency(seconds: number): void;
  readonly activeTunnels: Gauge;
  readonly activeConnections: Gauge;
}

function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

function statusClass(status: number): string {
  if (status === 0) return "none";
  if (status < 200) return "1xx";
  if (status < 300) return "2xx";
  if (status < 400) return "3xx";
  if (status < 500) return "4xx";
  return "5xx";
}

export function proxyMetrics(registry: Registry): ProxyMetrics {
  const requests = getOrCreate(
    registry,
    "gatehouse_proxy_requests_total",
    () =>
      new Counter({
        name: "gatehouse_proxy_requests_total",
        help: "Proxied HTTP requests (kind=http) and CONNECT tunnels (kind=net) by action and status class",
        labelNames: ["kind", "action", "status_class"] as const,
        registers: [registry],
      }),
  );
  const errors = getOrCreate(
    registry,
    "gatehouse_proxy_errors_total",
    () =>
      new Counter({
        name: "gatehouse_proxy_errors_total",
        help: "Requests and tunnels that failed or were refused, by cause",
        labelNames: ["cause"] as const,
        registers: [registry],
      }),
  );
  const bytes = getOrCreate(
    registry,
    "gatehouse_proxy_bytes_total",
    () =>
      new Counter({
        name: "gatehouse_proxy_bytes_total",
        help: "Bytes relayed; up = client to origin, down = origin to client (wire bytes)",
        labelNames: ["direction"] as const,
        registers: [registry],
      }),
  );
  const latency = getOrCreate(
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
  const activeTunnels = getOrCreate(
    registry,
    "gatehouse_proxy_active_tunnels",
    () =>
      new Gauge({
        name: "gatehouse_proxy_active_tunnels",
        help: "CONNECT tunnels and upgraded (WebSocket) connections open now",
        registers: [registry],
      }),
  );
  const activeConnections = getOrCreate(
    registry,
    "gatehouse_proxy_active_connections",
    () =>
      new Gauge({
        name: "gatehouse_proxy_active_connections",
        help: "Client connections open now",
        registers: [registry],
      }),
  );
  const up = bytes.labels("up");
  const down = bytes.labels("down");
  const children = new Map<string, ReturnType<typeof requests.labels>>();
  const errorChildren = new Map<string, ReturnType<typeof errors.labels>>();
  return {
    request(kind, action, status) {
      const cls = statusClass(status);
      const key = `${kind}|${action}|${cls}`;
      let c = children.get(key);
      if (c === undefined) {
        c = requests.labels(kind, action, cls);
        children.set(key, c);
      }
      c.inc();
    },
    error(cause) {
      let c = errorChildren.get(cause);
      if (c === undefined) {
        c = errors.labels(cause);
        errorChildren.set(cause, c);
      }
      c.inc();
    },
    bytes(u, d) {
      if (u > 0) up.inc(u);
      if (d > 0) down.inc(d);
    },
    connectLatency(seconds) {
      latency.observe(seconds);
    },
    activeTunnels,
    activeConnections,
  };
}
