// An edge worker (see workers.ts), a process or a thread: waits for its config over IPC (a
// thread: its parent port), starts an edge with SO_REUSEPORT UDP sockets, reports ready, answers the primary's requests (apply, drain, resume,
// metrics, credential, the intermediate CA and session-ticket keys for TLS inspection) and closes gracefully when told to. When the primary follows control,
// the worker ships its own query log with its own spool directory. A bundle from control comes
// as a file to read (workers.ts applyBody), parsed and compiled as the sync client does. A
// thread is given the domain lists already built, in memory it shares with the other threads
// (`lists`, snapshot.ts compileSharedLists), and compiles only the rest of the bundle.

import { createPrivateKey } from "node:crypto";
import { parentPort } from "node:worker_threads";
import type { ConfigBundle, EdgeConfigFile } from "@gatehouse/contract";
import type { SharedLists } from "./lists/list-set.ts";
import { type Edge, startEdge } from "./main.ts";
import { type ParsedBundleFile, parseBundleFile } from "./sync/bundle-stream.ts";
import { LogShipper } from "./sync/log-shipper.ts";
import { edgeRegistry } from "./telemetry/metrics.ts";
import { createOpLogger } from "./telemetry/op-log.ts";
import type { WireIssuer, WorkerReply } from "./workers.ts";

interface Request {
  type?: string;
  id?: number;
  config?: EdgeConfigFile;
  ship?: { controlUrl: string; spoolDir: string };
  /** With `config`: start without listeners (the other workers are drained). */
  drained?: boolean;
  bundle?: ConfigBundle;
  /** apply-file: the bundle's JSON as control sent it (hash checked here). */
  file?: string;
  /** With `config`: start from this bundle file (the edge section stays the config's). */
  bundleFile?: string;
  /** Heap limit of the bundle parser thread, MiB. */
  parseMemoryMb?: number;
  credential?: string;
  /** The intermediate CA for inspected leaves (null: none, stop inspecting). */
  issuer?: WireIssuer | null;
  /** Session-ticket keys (hex) for inspected TLS, the same in every worker. */
  ticketKeys?: string;
  /** Threads, with `config` or apply: its domain lists, built by the main thread. */
  lists?: SharedLists;
}

/** To the primary process or the main thread. */
const send = (m: object): void => {
  if (parentPort) parentPort.postMessage(m);
  else process.send?.(m);
};

// Operational lines (JSON, telemetry/op-log.ts) go straight to this process's stderr, which it
// shares with the primary: no IPC round trip per line.
const logger = createOpLogger({ component: "edge" });
let edge: Edge | undefined;
let shipper: LogShipper | undefined;
let credential: string | undefined;
const log = (line: string) => send({ type: "log", line });

/**
 * A bundle file written by the primary, its hash checked: read in two streaming passes as the
 * sync client reads a poll's answer (bundle-stream.ts; a body not in canonical form is parsed
 * whole, off the event loop). Read whole, every worker process held the body and a parse of it
 * at once during each apply (docs/benchmarks.md, "processes").
 */
async function readBundleFile(file: string, parseMemoryMb?: number): Promise<ParsedBundleFile> {
  const parsed = await parseBundleFile(file, {
    ...(parseMemoryMb !== undefined ? { memoryMb: parseMemoryMb } : {}),
  });
  if (!parsed.hashOk) throw new Error(`${file}: the bundle's hash does not match its content`);
  return parsed;
}

/** A request's field that its type requires; a request without it is refused. */
function need<T>(value: T | undefined, m: Request, field: string): T {
  if (value === undefined) throw new Error(`${String(m.type)} request without ${field}`);
  return value;
}

async function start(m: Request, config: EdgeConfigFile): Promise<Edge> {
  // The config is the one the other workers run now (a replacement gets the current bundle),
  // so the listeners open only once it is compiled: nothing is answered under an older one.
  if (m.credential !== undefined) credential = m.credential;
  const from = m.bundleFile ? await readBundleFile(m.bundleFile, m.parseMemoryMb) : undefined;
  const e = await startEdge({
    config: from ? { ...from.bundle, edge: config.edge } : config,
    ...(from ? { packed: from.packed } : {}),
    ...(m.lists ? { prebuilt: m.lists } : {}),
    reusePort: true,
    // A thread has no cluster primary to share its TCP, DoT and DoH listeners through.
    reuseStreamPorts: parentPort !== null,
    log,
    logger,
    ...(m.drained ? { drained: true } : {}),
  });
  edge = e;
  if (m.issuer) setIssuer(e, m.issuer);
  if (m.ticketKeys !== undefined) e.minter.setTicketKeys(Buffer.from(m.ticketKeys, "hex"));
  if (m.ship) {
    shipper = new LogShipper({
      controlUrl: m.ship.controlUrl,
      credential: () => credential,
      queryLog: e.queryLog,
      spoolDir: m.ship.spoolDir,
      registry: edgeRegistry(),
      log,
    });
    await shipper.start();
  }
  return e;
}

/** The primary's intermediate CA (its sync client has it signed): this worker's leaves. */
function setIssuer(e: Edge, w: WireIssuer | null): void {
  e.minter.setIssuer(
    w === null
      ? undefined
      : { certPem: w.certPem, key: createPrivateKey(w.keyPem), serial: w.serial },
  );
}

/** The answer to one request from the primary. */
async function answer(m: Request, e: Edge): Promise<unknown> {
  switch (m.type) {
    case "apply": {
      const bundle = need(m.bundle, m, "bundle");
      await (m.lists ? e.applyPrebuilt(bundle, m.lists) : e.apply(bundle));
      return undefined;
    }
    case "apply-file": {
      const { bundle, packed } = await readBundleFile(need(m.file, m, "file"), m.parseMemoryMb);
      await e.apply(bundle, packed);
      return undefined;
    }
    case "drain":
      await e.drain();
      // Telemetry out before maintenance starts, as on shutdown.
      await shipper?.flush(false);
      return undefined;
    case "resume":
      await e.resume();
      return undefined;
    case "metrics":
      return edgeRegistry().getMetricsAsJSON();
    case "credential":
      credential = m.credential;
      return undefined;
    case "issuer":
      setIssuer(e, m.issuer ?? null);
      return undefined;
    case "ticket-keys":
      e.minter.setTicketKeys(Buffer.from(need(m.ticketKeys, m, "ticketKeys"), "hex"));
      return undefined;
    default:
      throw new Error(`unknown request ${JSON.stringify(m.type)}`);
  }
}

let closing: Promise<void> | undefined;
/** Close the listeners, then ship or spool the last queries' records, then exit. Once. */
function closeAndExit(): Promise<void> {
  closing ??= (async () => {
    await edge?.close();
    await shipper?.stop();
  })().finally(() => process.exit(0));
  return closing;
}

const onMessage = (m: Request) => {
  if (m.type === "config" && m.config && !edge) {
    start(m, m.config).then(
      (e) => send({ type: "ready", addresses: e.addresses }),
      (err: Error) => {
        send({ type: "failed", error: err.message });
        // A thread's process.exit ends the thread only.
        process.exit(1);
      },
    );
  } else if (m.type === "close") {
    void closeAndExit();
  } else if (typeof m.id === "number" && edge) {
    const id = m.id;
    answer(m, edge).then(
      (value) => send({ type: "done", id, value } satisfies WorkerReply),
      (err: Error) => send({ type: "done", id, error: err.message } satisfies WorkerReply),
    );
  }
};
if (parentPort) parentPort.on("message", onMessage);
else {
  process.on("message", onMessage);
  // systemd (KillMode=control-group) and a terminal's Ctrl-C signal every process of the
  // group, not only the primary: shut down gracefully here too rather than die mid-query.
  // (Threads get no signals: the main thread closes them.)
  process.on("SIGTERM", () => void closeAndExit());
  process.on("SIGINT", () => void closeAndExit());
  // Without the primary there is nothing to serve for.
  process.on("disconnect", () => process.exit(0));
}
