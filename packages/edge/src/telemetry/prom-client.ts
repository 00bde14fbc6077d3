// prom-client for the edge, taken from the package's own modules rather than its index: the
// index also loads the Pushgateway client (node:http, node:https, node:zlib), the cluster
// aggregator (node:cluster, node:child_process) and Summary (tdigest), none of which an edge
// uses at start; an idle edge kept them resident (docs/benchmarks.md, "Idle edge: what loads at
// start"). The classes are prom-client's, so its types apply; AggregatorRegistry (the
// processes mode's /metrics) loads at its first use.

import { createRequire } from "node:module";
import type * as Prom from "prom-client";

const load = createRequire(import.meta.url);

export const Registry = load("prom-client/lib/registry") as typeof Prom.Registry;
export type Registry = Prom.Registry;
export const Counter = load("prom-client/lib/counter") as typeof Prom.Counter;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = load("prom-client/lib/gauge") as typeof Prom.Gauge;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = load("prom-client/lib/histogram") as typeof Prom.Histogram;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export const collectDefaultMetrics = load(
  "prom-client/lib/defaultMetrics",
) as typeof Prom.collectDefaultMetrics;
export type PrometheusContentType = Prom.PrometheusContentType;

/** prom-client's AggregatorRegistry (loads node:cluster), at its first use. */
export function aggregatorRegistry(): typeof Prom.AggregatorRegistry {
  return load("prom-client/lib/cluster") as typeof Prom.AggregatorRegistry;
}
