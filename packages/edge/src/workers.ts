// One edge process per core. Each worker compiles the config itself (compiled filters are
// closures and cannot cross a process boundary) and owns its own UDP socket on the shared port
// with SO_REUSEPORT (Node ≥ 23 `dgram` `reusePort`), so the kernel spreads datagrams across the
// workers without a hop through the primary. TCP, DoT and DoH listeners use cluster's shared
// handles. Metrics are served by the first worker only (one scrape target, that worker's view
// plus process metrics); each worker keeps its own cache and query-log ring.

import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { type Edge, type EdgeAddresses, startEdge } from "./main.ts";

export interface StartWorkersOptions {
  config: EdgeConfigFile;
  log?: (line: string) => void;
  /** Called once every worker listens (in the primary, or in the single process). */
  onReady?: (addresses: EdgeAddresses) => void;
}

export type WorkersHandle =
  | { readonly mode: "single"; readonly edge: Edge; close(): Promise<void> }
  | { readonly mode: "cluster"; readonly workers: number; close(): Promise<void> };

export async function startEdgeWorkers(opts: StartWorkersOptions): Promise<WorkersHandle> {
  const n = opts.config.edge?.workers ?? availableParallelism();
  if (n <= 1) {
    const edge = await startEdge({ config: opts.config, ...(opts.log ? { log: opts.log } : {}) });
    opts.onReady?.(edge.addresses);
    return { mode: "single", edge, close: () => edge.close() };
  }
  if (cluster.isPrimary) {
    let ready = 0;
    let first: EdgeAddresses | undefined;
    await new Promise<void>((resolve, reject) => {
      for (let i = 0; i < n; i++) {
        const w = cluster.fork({ GATEHOUSE_WORKER_INDEX: String(i) });
        w.on("message", (m: { type?: string; addresses?: EdgeAddresses; error?: string }) => {
          if (m.type === "ready") {
            first ??= m.addresses;
            if (++ready === n) resolve();
          } else if (m.type === "failed") reject(new Error(m.error));
        });
        w.on("exit", (code) => {
          if (ready < n) reject(new Error(`edge worker exited with ${code} during start`));
        });
      }
    });
    opts.onReady?.(first!);
    return {
      mode: "cluster",
      workers: n,
      close: async () => {
        const ws = Object.values(cluster.workers ?? {});
        await Promise.all(
          ws.map(
            (w) =>
              new Promise<void>((r) => {
                if (!w) return r();
                w.once("exit", () => r());
                w.send({ type: "close" });
              }),
          ),
        );
      },
    };
  }
  // Worker: same config, UDP with SO_REUSEPORT, metrics only on worker 0.
  const index = Number(process.env.GATEHOUSE_WORKER_INDEX ?? 0);
  const { metrics: _m, ...local } = opts.config.edge ?? {};
  const config: EdgeConfigFile = { ...opts.config, edge: index === 0 ? opts.config.edge : local };
  try {
    const edge = await startEdge({
      config,
      reusePort: true,
      ...(opts.log ? { log: opts.log } : {}),
    });
    process.on("message", (m: { type?: string }) => {
      if (m.type === "close") edge.close().then(() => process.exit(0));
    });
    process.send?.({ type: "ready", addresses: edge.addresses });
    return { mode: "single", edge, close: () => edge.close() };
  } catch (e) {
    process.send?.({ type: "failed", error: (e as Error).message });
    process.exit(1);
  }
}
