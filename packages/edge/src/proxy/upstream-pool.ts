// The pooled HTTP/1.1 client toward origins (undici): keep-alive connections reused across
// requests and clients, one pool per checked origin address. Its connector dials IP literals
// only (resolve-peer pinned them) and measures connect latency.

import { Agent, buildConnector } from "undici";
import type { ProxyLimits } from "./limits.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";

export function createUpstreamPool(limits: ProxyLimits, metrics: ProxyMetrics): Agent {
  const base = buildConnector({ timeout: limits.connectTimeoutMs, keepAlive: true, noDelay: true });
  return new Agent({
    connections: limits.upstreamConnectionsPerOrigin,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: limits.upstreamResponseTimeoutMs,
    bodyTimeout: limits.upstreamIdleTimeoutMs,
    // Response heads larger than what we accept from clients are refused too.
    maxHeaderSize: limits.maxHeaderBytes * 4,
    connect(opts, cb) {
      const t0 = performance.now();
      base(opts, (err, socket) => {
        if (err === null) metrics.connectLatency((performance.now() - t0) / 1000);
        // Callback overloads: (err, null) | (null, socket)
        if (err === null) cb(null, socket);
        else cb(err, null);
      });
    },
  });
}
