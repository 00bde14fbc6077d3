// The pooled HTTP/1.1 client toward origins (http1/origin-pool.ts), configured from the proxy's
// limits: keep-alive connections reused across requests and clients, one pool per checked origin
// address, dialled by IP literal only (resolve-peer pinned it), connect latency measured.

import { OriginPool } from "./http1/origin-pool.ts";
import type { ProxyLimits } from "./limits.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";

/** How long an unused origin connection is kept. */
const KEEP_ALIVE_MS = 30_000;

export function createUpstreamPool(limits: ProxyLimits, metrics: ProxyMetrics): OriginPool {
  const pool = new OriginPool(
    {
      connectTimeoutMs: limits.connectTimeoutMs,
      responseTimeoutMs: limits.upstreamResponseTimeoutMs,
      bodyIdleTimeoutMs: limits.upstreamIdleTimeoutMs,
      keepAliveMs: KEEP_ALIVE_MS,
      perOrigin: limits.upstreamConnectionsPerOrigin,
      perClient: limits.upstreamConnectionsPerClient,
      // Response heads larger than what we accept from clients are refused too.
      head: { maxHeadBytes: limits.maxHeaderBytes * 4, maxHeaderCount: limits.maxHeaderCount * 2 },
    },
    (seconds) => metrics.connectLatency(seconds),
  );
  metrics.watchPool(() => pool.stats());
  return pool;
}
