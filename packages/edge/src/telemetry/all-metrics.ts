// Every metric the edge can export, registered on its registry at once. The edge registers
// most of them lazily (when the DNS listeners, the proxy, the sync client or the log shipper
// start); this lists them all, so what the shipped alert rules and dashboard use can be checked
// against what the code really registers (packages/gatehouse/test/deploy.test.ts).

import { inspectionMetrics, proxyMetrics } from "../proxy/proxy-metrics.ts";
import { diskBundleRejections } from "../sync/edge-state.ts";
import { logShipperMetrics } from "../sync/log-shipper.ts";
import { syncMetrics } from "../sync/sync-client.ts";
import { leafMinterMetrics } from "../tls/leaf-minter.ts";
import {
  dnsConnectionMetrics,
  dnsMetrics,
  edgeRegistry,
  noUdpBatchStats,
  trackUdpBatch,
  udpSendQueueDrops,
} from "./metrics.ts";
import type { Registry } from "./prom-client.ts";

/** Register every edge metric on the edge's registry (idempotent) and return the registry. */
export function registerEdgeMetrics(): Registry {
  const r = edgeRegistry();
  dnsMetrics();
  dnsConnectionMetrics();
  udpSendQueueDrops();
  // Registers the gatehouse_dns_udp_* counters; a source reporting nothing, untracked at once.
  trackUdpBatch(noUdpBatchStats)();
  proxyMetrics(r);
  inspectionMetrics(r);
  leafMinterMetrics(r);
  syncMetrics(r);
  logShipperMetrics(r);
  diskBundleRejections(r);
  return r;
}
