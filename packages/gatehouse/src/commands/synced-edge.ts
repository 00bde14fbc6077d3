// An edge that takes its configuration from control: it starts at once from the last good
// bundle in its data directory (fail-static) — or from an empty one that refuses every client
// — then enrols (first run only) and follows control's bundles.

import { join } from "node:path";
import {
  BUNDLE_SCHEMA_VERSION,
  type ConfigBundle,
  type EdgeLocalSettings,
} from "@gatehouse/contract";
import {
  type Edge,
  EdgeState,
  edgeRegistry,
  heartbeatCounters,
  type LogComponent,
  LogShipper,
  lineSink,
  type OpLogger,
  SyncClient,
  startEdge,
} from "@gatehouse/edge";

export const SOFTWARE_VERSION = "0.1.0";

/** Before the first sync: no locations (every client refused), no upstreams, no policies. */
export function emptyBundle(): ConfigBundle {
  return {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    version: 0,
    resolver: { upstreams: [] },
    locations: [],
    lists: [],
    policies: [],
  };
}

export interface SyncedEdgeOptions {
  readonly controlUrl: string;
  readonly dataDir: string;
  readonly joinToken?: string;
  readonly name?: string;
  readonly local: EdgeLocalSettings;
  readonly log: (line: string) => void;
  /** Structured logs: when given, the edge, sync and shipper each log under their component. */
  readonly logger?: OpLogger;
  readonly heartbeatIntervalMs?: number;
}

export interface SyncedEdge {
  readonly edge: Edge;
  readonly sync: SyncClient;
  readonly shipper: LogShipper;
  /** The version served at start: from disk (fail-static), or 0. */
  readonly startedFrom: number;
  close(): Promise<void>;
}

export async function startSyncedEdge(opts: SyncedEdgeOptions): Promise<SyncedEdge> {
  const logger = opts.logger;
  const logOf = (component: LogComponent) =>
    logger ? lineSink(logger.child({ component })) : opts.log;
  const state = new EdgeState(opts.dataDir);
  const lastGood = await state.loadLastGood();
  const initial = lastGood ?? emptyBundle();
  if (lastGood)
    logOf("edge")(
      `gatehouse edge: serving last good config v${lastGood.version} from ${state.lastGoodPath}`,
    );
  const edge = await startEdge({
    config: { ...initial, edge: { ...opts.local, dataDir: opts.dataDir } },
    log: logOf("edge"),
  });
  const registry = edgeRegistry();
  const sync = new SyncClient({
    controlUrl: opts.controlUrl,
    dataDir: opts.dataDir,
    target: edge,
    softwareVersion: SOFTWARE_VERSION,
    registry,
    counters: () => heartbeatCounters(registry),
    log: logOf("sync"),
    ...(opts.joinToken ? { joinToken: opts.joinToken } : {}),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.heartbeatIntervalMs ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
    onDrain: () =>
      logOf("sync")("gatehouse edge: control asks this edge to drain; take it out of rotation"),
  });
  const shipper = new LogShipper({
    controlUrl: opts.controlUrl,
    credential: () => sync.credential,
    queryLog: edge.queryLog,
    spoolDir: join(opts.dataDir, "log-spool"),
    registry,
    log: logOf("shipper"),
  });
  try {
    await sync.start();
    await shipper.start();
  } catch (e) {
    await sync.stop();
    await edge.close();
    throw e;
  }
  return {
    edge,
    sync,
    shipper,
    startedFrom: initial.version,
    async close() {
      await sync.stop();
      await edge.close();
      // After the listeners closed, so the last queries' records are shipped or spooled.
      await shipper.stop();
    },
  };
}
