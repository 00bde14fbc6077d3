// An edge that takes its configuration from control: it starts at once from the last good
// bundle in its data directory (fail-static) — or from an empty one that refuses every client
// — then enrols (first run only) and follows control's bundles. With several workers the
// primary process syncs and heartbeats and the workers (one edge each) serve and ship logs.
// When control marks the edge `draining` it closes its listeners (clients and load balancers
// move to another edge), flushes its query log and keeps syncing; `active` reopens them. When
// control answers that the edge is decommissioned, syncing stops at once and the listeners
// close after a grace (`decommissionGraceMs`); a restart then refuses to serve.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ConfigBundle, EdgeEndpoints, EdgeLocalSettings } from "@gatehouse/contract";
import { BUNDLE_SCHEMA_VERSION } from "@gatehouse/contract/edge-checks";
import {
  diskBundleRejections,
  type Edge,
  type EdgeAddresses,
  EdgeState,
  EndpointsReporter,
  edgeRegistry,
  heartbeatCounters,
  LeafMinter,
  type LogComponent,
  LogShipper,
  lineSink,
  type OpLogger,
  type PackedLists,
  SyncClient,
  type SyncTarget,
  startEdge,
  startEdgeWorkers,
  unpackBundle,
  withComponent,
} from "@gatehouse/edge";

/** This release's version (package.json), reported to control on enrolment and every request. */
const SOFTWARE_VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

/** Before the first sync: no locations (every client refused), no upstreams, no policies. */
function emptyBundle(): ConfigBundle {
  return {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    version: 0,
    resolver: { upstreams: [] },
    locations: [],
    lists: [],
    policies: [],
  };
}

/**
 * The bundle to start from: the last good one on disk, else the previous good one, else the
 * empty one. Every file refused (damaged, edited: its hash does not match) is said at error
 * level and counted; so is starting with nothing.
 */
async function startingBundle(
  opts: SyncedEdgeOptions,
  log: (line: string) => void,
): Promise<{ bundle: ConfigBundle; packed?: PackedLists }> {
  const state = new EdgeState(opts.dataDir);
  // A decommissioned edge never serves again from this data directory.
  const refused = await state.decommissionedError();
  if (refused) throw refused;
  // Read in two streaming passes, the domain lists' items left packed (no string per name).
  const loaded = await state.loadLastGoodParsed({
    ...(opts.local.limits?.bundleParseMemoryMb !== undefined
      ? { memoryMb: opts.local.limits.bundleParseMemoryMb }
      : {}),
  });
  const rejected = diskBundleRejections(edgeRegistry());
  const error = opts.logger ? withComponent(opts.logger, "edge") : undefined;
  const loud = (fields: Record<string, unknown>, msg: string) => {
    if (error) error.error(fields, msg);
    else log(`gatehouse edge: ERROR: ${msg}`);
  };
  for (const p of loaded.problems) {
    rejected.inc({ reason: p.reason });
    loud(
      { path: p.path, reason: p.reason, ...(p.movedTo ? { movedTo: p.movedTo } : {}) },
      `refused the config bundle in ${p.path} (${p.reason}: ${p.message})` +
        (p.movedTo ? `; moved it to ${p.movedTo}` : ""),
    );
  }
  if (loaded.parsed) {
    const { bundle, packed } = loaded.parsed;
    log(`gatehouse edge: serving last good config v${bundle.version} from ${loaded.path}`);
    return { bundle, packed };
  }
  if (loaded.problems.length > 0)
    loud(
      { path: state.lastGoodPath },
      "no good config bundle on disk: every client is refused until control can be reached",
    );
  return { bundle: emptyBundle() };
}

/**
 * The edge section: the local settings, the data directory, and once enrolled the edge's id as
 * its name, so its query-log records carry the id control knows it by (control stamps that id
 * at ingest anyway, which covers the records of a first start, before enrolment).
 */
async function localSettings(opts: SyncedEdgeOptions): Promise<EdgeLocalSettings> {
  // A damaged credential file is reported by the sync client's start, with what to do.
  const cred = await new EdgeState(opts.dataDir).loadCredential().catch(() => undefined);
  return { ...opts.local, dataDir: opts.dataDir, ...(cred ? { name: cred.edgeId } : {}) };
}

interface SyncedEdgeOptions {
  readonly controlUrl: string;
  readonly dataDir: string;
  readonly joinToken?: string;
  readonly name?: string;
  readonly local: EdgeLocalSettings;
  readonly log: (line: string) => void;
  /** Structured logs: when given, the edge, sync and shipper each log under their component. */
  readonly logger?: OpLogger;
  readonly heartbeatIntervalMs?: number;
  /** How long a decommissioned edge keeps serving before it closes its listeners; default 60 s. */
  readonly decommissionGraceMs?: number;
}

const DEFAULT_DECOMMISSION_GRACE_MS = 60_000;

/**
 * Once control says the edge is decommissioned (syncing has stopped by then), keep serving for
 * the grace, so clients can move to another edge, then stop serving for good.
 */
function decommissioning(
  opts: SyncedEdgeOptions,
  stopServing: () => Promise<void>,
  log: (line: string) => void,
): { onDecommissioned: () => void; cancel: () => void; stopped: Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => {
    stopped = resolve;
  });
  const grace = opts.decommissionGraceMs ?? DEFAULT_DECOMMISSION_GRACE_MS;
  return {
    onDecommissioned: () => {
      if (timer) return;
      log(
        `gatehouse edge: decommissioned: serving the current config for ${grace / 1000} s more, then closing the listeners`,
      );
      timer = setTimeout(() => {
        stopServing()
          .then(
            () =>
              log(
                "gatehouse edge: decommissioned: listeners closed, not serving; remove the credential and enrol again to bring this machine back",
              ),
            (e: unknown) => log(`gatehouse edge: decommissioned: closing: ${(e as Error).message}`),
          )
          .finally(stopped);
      }, grace);
    },
    cancel: () => clearTimeout(timer),
    stopped: done,
  };
}

type Serving = "serving" | "draining" | "drained";

/**
 * Follow control's drain/activate requests (on every heartbeat answer, and at once when control
 * wakes the config poll for them) at most once each. `report` runs when the state changes — the
 * edge finished draining (listeners closed, open connections done) or serves again — so control
 * hears it at once, not at the next heartbeat.
 */
function maintenance(
  target: { drain(): Promise<void>; resume(): Promise<void> },
  flush: () => Promise<void>,
  log: (line: string) => void,
  report: () => void,
): { onDrain: () => void; onActive: () => void; serving: () => Serving } {
  let drained = false;
  let busy = false;
  let serving: Serving = "serving";
  return {
    serving: () => serving,
    onDrain: () => {
      if (drained || busy) return;
      busy = true;
      drained = true;
      serving = "draining";
      log("gatehouse edge: control asks this edge to drain: closing its listeners");
      target
        .drain()
        .then(flush)
        .then(
          () => {
            serving = "drained";
            log("gatehouse edge: drained; still syncing config, not serving clients");
            report();
          },
          (e: unknown) => log(`gatehouse edge: drain: ${(e as Error).message}`),
        )
        .finally(() => {
          busy = false;
        });
    },
    onActive: () => {
      if (!drained || busy) return;
      busy = true;
      target
        .resume()
        .then(
          () => {
            drained = false;
            serving = "serving";
            log("gatehouse edge: control set this edge active again: serving");
            report();
          },
          // Still drained: the next heartbeat answer tries again.
          (e: unknown) =>
            log(`gatehouse edge: could not reopen the listeners: ${(e as Error).message}`),
        )
        .finally(() => {
          busy = false;
        });
    },
  };
}

function syncClient(
  opts: SyncedEdgeOptions,
  target: SyncTarget,
  counters: () => Promise<Record<string, number>>,
  log: (line: string) => void,
  hooks: {
    onDrain: () => void;
    onActive: () => void;
    onDecommissioned: () => void;
    serving: () => Serving;
    endpoints: () => EdgeEndpoints;
  },
  minter?: LeafMinter,
  allocate?: (bytes: number) => Uint8Array,
): SyncClient {
  return new SyncClient({
    ...(allocate ? { allocate } : {}),
    controlUrl: opts.controlUrl,
    dataDir: opts.dataDir,
    target,
    softwareVersion: SOFTWARE_VERSION,
    registry: edgeRegistry(),
    // TLS inspection: this edge's intermediate CA, signed by control, for the proxy's leaves.
    // (With workers, the primary's minter hands it to every worker.)
    ...(minter ? { minter } : {}),
    counters,
    log,
    ...(opts.joinToken ? { joinToken: opts.joinToken } : {}),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.heartbeatIntervalMs ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
    ...(opts.local.limits?.maxBundleBytes !== undefined
      ? { maxBundleBytes: opts.local.limits.maxBundleBytes }
      : {}),
    ...(opts.local.limits?.bundleParseMemoryMb !== undefined
      ? { parseMemoryMb: opts.local.limits.bundleParseMemoryMb }
      : {}),
    ...hooks,
  });
}

interface SyncedEdge {
  readonly edge: Edge;
  readonly sync: SyncClient;
  readonly shipper: LogShipper;
  /** The version served at start: from disk (fail-static), or 0. */
  readonly startedFrom: number;
  /** Resolves once control decommissioned the edge and its grace ended (it no longer serves). */
  readonly decommissioned: Promise<void>;
  close(): Promise<void>;
}

/** The log callback for one part: its component's JSON lines with a logger, else opts.log. */
function componentLog(opts: SyncedEdgeOptions, component: LogComponent): (line: string) => void {
  return opts.logger ? lineSink(withComponent(opts.logger, component)) : opts.log;
}

export async function startSyncedEdge(opts: SyncedEdgeOptions): Promise<SyncedEdge> {
  const logOf = (component: LogComponent) => componentLog(opts, component);
  const { bundle: initial, packed } = await startingBundle(opts, logOf("edge"));
  const edge = await startEdge({
    config: { ...initial, edge: await localSettings(opts) },
    ...(packed ? { packed } : {}),
    log: logOf("edge"),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const registry = edgeRegistry();
  const reporter = new EndpointsReporter(opts.local.publicName);
  // Assigned right below; the hooks only run once the sync client heartbeats.
  let shipper: LogShipper | undefined;
  const decommission = decommissioning(
    opts,
    async () => {
      await edge.drain();
      await shipper?.stop();
    },
    logOf("sync"),
  );
  const sync = syncClient(
    opts,
    edge,
    () => heartbeatCounters(registry),
    logOf("sync"),
    {
      ...maintenance(
        edge,
        async () => shipper?.flush(false),
        logOf("sync"),
        () => sync.beatNow(),
      ),
      onDecommissioned: decommission.onDecommissioned,
      endpoints: () => reporter.report(edge.addresses, edge.tlsCertificate),
    },
    edge.minter,
  );
  shipper = new LogShipper({
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
    decommissioned: decommission.stopped,
    async close() {
      decommission.cancel();
      await sync.stop();
      await edge.close();
      // After the listeners closed, so the last queries' records are shipped or spooled.
      await shipper?.stop();
    },
  };
}

interface SyncedWorkers {
  readonly workers: number;
  readonly addresses: EdgeAddresses;
  readonly sync: SyncClient;
  readonly startedFrom: number;
  /** Resolves once control decommissioned the edge and its grace ended (it no longer serves). */
  readonly decommissioned: Promise<void>;
  close(): Promise<void>;
}

/**
 * `workers` edge threads or processes (edge.workerMode) sharing the listeners (see @gatehouse/edge workers.ts); this process
 * syncs and heartbeats for all of them. Each worker ships its own query log (own spool under
 * `<data dir>/log-spool/worker-<i>`) with the credential passed to it after enrolment.
 */
export async function startSyncedEdgeWorkers(
  opts: SyncedEdgeOptions & { readonly workers: number },
): Promise<SyncedWorkers> {
  const log = componentLog(opts, "workers");
  const syncLog = componentLog(opts, "sync");
  const start = await startingBundle(opts, log);
  // The workers get the bundle over IPC: its items as arrays.
  const initial = start.packed
    ? await unpackBundle({ bundle: start.bundle, packed: start.packed })
    : start.bundle;
  const handle = await startEdgeWorkers({
    config: {
      ...initial,
      edge: { ...(await localSettings(opts)), workers: opts.workers },
    },
    log,
    shipLogs: { controlUrl: opts.controlUrl, spoolRoot: join(opts.dataDir, "log-spool") },
    bundleDir: opts.dataDir,
    ...(opts.local.limits?.bundleParseMemoryMb !== undefined
      ? { parseMemoryMb: opts.local.limits.bundleParseMemoryMb }
      : {}),
  });
  if (handle.mode !== "cluster") {
    await handle.close();
    throw new Error("startSyncedEdgeWorkers needs at least 2 workers");
  }
  // The version every worker serves: they apply each bundle together, or refuse it together.
  let version = initial.version;
  const target: SyncTarget = {
    get snapshot() {
      return { version };
    },
    // Threads: the lists are built here, once, from what the sync client parsed; processes
    // read the body from a file, each parsing it off its own event loop.
    async apply(bundle: ConfigBundle, packed, file: string) {
      await handle.applyParsed(bundle, packed, file);
      version = bundle.version;
    },
  };
  // The workers read the certificate from the same file (or the self-signed one they made).
  const reporter = new EndpointsReporter(opts.local.publicName);
  const certFile = opts.local.tls?.certFile ?? join(opts.dataDir, "edge-selfsigned-cert.pem");
  let certPem: string | undefined;
  const certificate = () => {
    if (
      certPem === undefined &&
      (handle.addresses.dns.dot.length || handle.addresses.dns.doh.length)
    )
      certPem = readFileSync(certFile, "utf8");
    return certPem;
  };
  // Each worker flushes its own query log after draining.
  const decommission = decommissioning(opts, () => handle.drain(), syncLog);
  // TLS inspection: the primary's sync client has the intermediate signed and renewed; every
  // worker's proxy mints with it (handed over IPC, key included, to our own children).
  const minter = new LeafMinter({
    onIssuer: (issuer) => {
      const wire = issuer && {
        certPem: issuer.certPem,
        keyPem: String(issuer.key.export({ format: "pem", type: "pkcs8" })),
        serial: issuer.serial,
      };
      handle
        .setIssuer(wire)
        .catch((e: Error) => syncLog(`workers: intermediate CA not applied: ${e.message}`));
    },
  });
  const sync = syncClient(
    opts,
    target,
    async () => heartbeatCounters(await handle.metrics()),
    syncLog,
    {
      ...maintenance(
        handle,
        async () => {},
        syncLog,
        () => sync.beatNow(),
      ),
      onDecommissioned: decommission.onDecommissioned,
      endpoints: () => reporter.report(handle.addresses, certificate()),
    },
    minter,
    // Threads share one copy of the lists in shared memory: the items are decoded there.
    handle.workerMode === "threads" ? (n) => new Uint8Array(new SharedArrayBuffer(n)) : undefined,
  );
  try {
    await sync.start();
    // start() enrols or loads the credential, or throws.
    const credential = sync.credential;
    if (credential === undefined) throw new Error("gatehouse edge: enrolled without a credential");
    await handle.setCredential(credential);
  } catch (e) {
    await sync.stop();
    await handle.close();
    throw e;
  }
  return {
    workers: handle.workers,
    addresses: handle.addresses,
    sync,
    startedFrom: initial.version,
    decommissioned: decommission.stopped,
    async close() {
      decommission.cancel();
      await sync.stop();
      // Each worker closes its listeners, then ships or spools its last records.
      await handle.close();
    },
  };
}
