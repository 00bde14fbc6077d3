// The counters an edge reports in its heartbeat, read from its own Prometheus registry so the
// numbers control shows are the ones /metrics shows. Runs every 10 s, never per query.

import type { Registry } from "../telemetry/prom-client.ts";

interface MetricJson {
  name: string;
  type: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

function sum(
  m: MetricJson | undefined,
  pred: (labels: Record<string, string | number>) => boolean = () => true,
): number {
  if (!m) return 0;
  let t = 0;
  for (const v of m.values) if (pred(v.labels)) t += v.value;
  return t;
}

/** p-quantile (seconds) from a histogram's cumulative buckets, all label sets merged. */
export function histogramQuantile(m: MetricJson | undefined, q: number): number | undefined {
  if (!m) return undefined;
  const buckets = new Map<number, number>();
  for (const v of m.values) {
    if (!v.metricName?.endsWith("_bucket")) continue;
    const le = v.labels["le"];
    const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + v.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (!Number.isFinite(bound)) return prevBound;
      // Linear interpolation inside the bucket, as Prometheus' histogram_quantile does.
      const inBucket = count - prevCount;
      return inBucket === 0
        ? bound
        : prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket;
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

/** Integer counters, keys `[a-z0-9_.]{1,64}` as control's heartbeat schema requires. */
export async function heartbeatCounters(registry: Registry): Promise<Record<string, number>> {
  const all = (await registry.getMetricsAsJSON()) as unknown as MetricJson[];
  const by = new Map(all.map((m) => [m.name, m]));
  const queries = by.get("gatehouse_dns_queries_total");
  const out: Record<string, number> = {
    "dns.queries": sum(queries),
    "dns.servfail": sum(queries, (l) => l["rcode"] === "SERVFAIL"),
    "dns.blocked": sum(queries, (l) => l["action"] === "block"),
    "dns.upstream_errors": sum(by.get("gatehouse_dns_upstream_errors_total")),
    "proxy.requests": sum(by.get("gatehouse_proxy_requests_total")),
    "proxy.errors": sum(by.get("gatehouse_proxy_errors_total")),
    "log.dropped": sum(by.get("gatehouse_edge_query_log_dropped_total")),
  };
  const p99 = histogramQuantile(by.get("gatehouse_dns_query_duration_seconds"), 0.99);
  if (p99 !== undefined) out["dns.p99_us"] = p99 * 1e6;
  for (const [k, v] of Object.entries(out)) out[k] = Math.max(0, Math.round(v));
  return out;
}
