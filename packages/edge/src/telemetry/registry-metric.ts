// Metrics are created once per registry: tests (and restarts inside one process) build many
// edges, proxies and sync clients on the same registry, and prom-client refuses a second metric
// under a name already registered.

import type { Registry } from "./prom-client.ts";

/** The metric registered on `registry` under `name`, or the one `make` creates and registers. */
export function registryMetric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}
