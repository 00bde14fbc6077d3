// `gatehouse edge`: the data plane. Two ways to configure it:
//   --config FILE.yaml   standalone, from a file whose schema is the config bundle plus an `edge`
//                        section (docs/configuration.md); SIGHUP reloads the file.
//   --control URL        following control: enrols once with --join-token, keeps its credential
//                        and last good bundle in --data-dir, serves from them when control is down.
// A config that does not compile is refused and the running one keeps serving.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { EdgeLocalSettings } from "@gatehouse/contract";
import { bundleOfEdgeConfig } from "@gatehouse/contract/edge-checks";
import {
  createOpLogger,
  type Edge,
  type EdgeAddresses,
  EdgeDecommissionedError,
  lineSink,
  loadEdgeConfigFile,
  loadEdgeLocalFile,
  startEdge,
  startEdgeWorkers,
  type WorkerMode,
  withComponent,
} from "@gatehouse/edge";
import { trustOriginCaFiles } from "./origin-ca.ts";
import type { Io } from "./rules.ts";
import { onShutdown } from "./signals.ts";
import { startSyncedEdge, startSyncedEdgeWorkers } from "./synced-edge.ts";
import { readTrustAnchorFile, withTrustAnchors } from "./trust-anchor.ts";

const USAGE = `usage:
  gatehouse edge --config FILE.yaml [--trust-anchor FILE]
                 --trust-anchor FILE    DNSSEC trust anchors (DS or DNSKEY lines) replacing the
                                        built-in root keys (resolver.dnssec.trustAnchors)
  gatehouse edge --control URL [--join-token T] [--data-dir DIR] [--name NAME]
                 [--local FILE.yaml]    this edge's own settings: the \`edge:\` section of a
                                        config file (listeners, TLS, limits, proxy limits)
                 [--dns ADDR:PORT] [--proxy ADDR:PORT] [--metrics ADDR:PORT]
                 [--public-name NAME]   the name devices use for this edge's DoH and DoT
                                        (edge.publicName; its certificate should cover it):
                                        control's Connect page shows it (env
                                        GATEHOUSE_EDGE_PUBLIC_NAME too)
                 [--max-list-items N]   refuse bundles whose lists hold more items
                 [--workers N]          N workers sharing the ports (default 1)
                 [--worker-mode threads|processes]   threads of one process sharing one
                                        copy of the lists (default), or processes each with
                                        its own (edge.workerMode)
                 [--heartbeat-interval SECONDS]   default 10
                 [--decommission-grace SECONDS]   serving time left once control
                                        says the edge is decommissioned (default 60)
  gatehouse edge install --control URL --join-token T [--dry-run] …
                                        install this machine as an edge under systemd
                                        (\`gatehouse edge install --help\`)
  either form:   [--origin-ca FILE]     (repeatable) also trust this CA when verifying origins
                                        of inspected HTTPS (private origins)

With --control, the policies come from control; listeners from --local, else the flags (default
DNS 127.0.0.1:10053 UDP+TCP, proxy 127.0.0.1:3128); a flag given overrides --local.
SIGINT/SIGTERM shut down gracefully.`;

function workerMode(v: string): WorkerMode {
  if (v !== "threads" && v !== "processes")
    throw new Error(`--worker-mode must be threads or processes, got ${JSON.stringify(v)}`);
  return v;
}

export function describeEdge(edge: Edge): string[] {
  return describeAddresses(edge.addresses);
}

function describeAddresses(a: EdgeAddresses): string[] {
  const lines: string[] = [];
  for (const x of a.dns.udp) lines.push(`  DNS over UDP    ${x}`);
  for (const x of a.dns.tcp) lines.push(`  DNS over TCP    ${x}`);
  for (const x of a.dns.dot) lines.push(`  DNS over TLS    ${x}`);
  for (const x of a.dns.doh) lines.push(`  DNS over HTTPS  https://${x}/dns-query`);
  for (const x of a.proxy.http) lines.push(`  HTTP proxy      ${x}`);
  if (a.metrics) lines.push(`  metrics         http://${a.metrics}/metrics`);
  return lines;
}

export async function edgeCommand(argv: readonly string[], io: Io): Promise<number> {
  if (argv[0] === "install")
    return (await import("./edge-install.ts")).edgeInstallCommand(argv.slice(1), io);
  const { values } = parseArgs({
    args: [...argv],
    options: {
      config: { type: "string", short: "c" },
      control: { type: "string" },
      local: { type: "string" },
      "join-token": { type: "string" },
      "data-dir": { type: "string" },
      name: { type: "string" },
      dns: { type: "string" },
      proxy: { type: "string" },
      metrics: { type: "string" },
      "public-name": { type: "string" },
      "max-list-items": { type: "string" },
      workers: { type: "string" },
      "worker-mode": { type: "string" },
      "heartbeat-interval": { type: "string" },
      "decommission-grace": { type: "string" },
      "trust-anchor": { type: "string" },
      "origin-ca": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || (values.config === undefined) === (values.control === undefined)) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    await trustOriginCaFiles(values["origin-ca"]);
  } catch (e) {
    io.err(`gatehouse edge: ${(e as Error).message}`);
    return 2;
  }
  // Operational logs are JSON lines on stderr; the banner (what listens where) stays plain text.
  const logger = createOpLogger({ write: io.err, component: "edge" });
  const log = lineSink(logger);

  if (values.local !== undefined && values.control === undefined) {
    io.err(
      "gatehouse edge: --local goes with --control (a --config file has its own edge section)",
    );
    return 2;
  }
  if (values["trust-anchor"] !== undefined && values.control !== undefined) {
    io.err(
      "gatehouse edge: --trust-anchor goes with --config (with --control the trust anchors are control's resolver.dnssec.trustAnchors)",
    );
    return 2;
  }
  const anchors =
    values["trust-anchor"] !== undefined
      ? await readTrustAnchorFile(values["trust-anchor"])
      : undefined;
  if (values.control !== undefined) {
    const file: EdgeLocalSettings = values.local
      ? await loadEdgeLocalFile(resolve(values.local))
      : {};
    const fileDns = file.dns?.udp || file.dns?.tcp || file.dns?.dot || file.dns?.doh;
    const dns = values.dns ?? (fileDns ? undefined : "127.0.0.1:10053");
    const publicNameGiven = values["public-name"] ?? process.env["GATEHOUSE_EDGE_PUBLIC_NAME"];
    const local: EdgeLocalSettings = {
      ...file,
      ...(dns ? { dns: { ...file.dns, udp: [dns], tcp: [dns] } } : {}),
      ...(values.proxy || !file.proxy?.http
        ? {
            proxy: { ...file.proxy, http: [values.proxy ?? "127.0.0.1:3128"] },
          }
        : {}),
      ...(values.metrics ? { metrics: values.metrics } : {}),
      ...(values["worker-mode"] ? { workerMode: workerMode(values["worker-mode"]) } : {}),
      ...(publicNameGiven ? { publicName: publicName(publicNameGiven) } : {}),
      ...(values["max-list-items"]
        ? {
            limits: {
              ...file.limits,
              maxListItems: positiveInt(values["max-list-items"], "--max-list-items"),
            },
          }
        : {}),
    };
    const joinToken = values["join-token"] ?? process.env["GATEHOUSE_JOIN_TOKEN"];
    const workers = values.workers ? positiveInt(values.workers, "--workers") : (file.workers ?? 1);
    const heartbeat = values["heartbeat-interval"]
      ? Number(values["heartbeat-interval"])
      : undefined;
    if (heartbeat !== undefined && !(heartbeat >= 0.05 && heartbeat <= 3600))
      throw new Error(
        `--heartbeat-interval must be seconds between 0.05 and 3600, got ${values["heartbeat-interval"]}`,
      );
    const grace = values["decommission-grace"];
    if (grace !== undefined && !(Number(grace) >= 0 && Number(grace) <= 86400))
      throw new Error(
        `--decommission-grace must be seconds between 0 and 86400, got ${JSON.stringify(grace)}`,
      );
    const syncOpts = {
      controlUrl: values.control,
      dataDir: resolve(values["data-dir"] ?? "gatehouse-data/edge"),
      local,
      log,
      logger,
      ...(joinToken ? { joinToken } : {}),
      ...((values.name ?? process.env["GATEHOUSE_EDGE_NAME"])
        ? { name: values.name ?? process.env["GATEHOUSE_EDGE_NAME"] }
        : {}),
      ...(heartbeat !== undefined ? { heartbeatIntervalMs: heartbeat * 1000 } : {}),
      ...(grace !== undefined ? { decommissionGraceMs: Number(grace) * 1000 } : {}),
    };
    try {
      if (workers > 1) {
        // The primary syncs and heartbeats; the workers serve (see synced-edge.ts).
        const cluster = await startSyncedEdgeWorkers({ ...syncOpts, workers });
        io.err(
          `gatehouse edge: following ${values.control} as ${cluster.sync.edgeId} with ${cluster.workers} workers`,
        );
        for (const l of describeAddresses(cluster.addresses)) io.err(l);
        return await serveUntilDone(cluster, log);
      }
      const synced = await startSyncedEdge(syncOpts);
      io.err(`gatehouse edge: following ${values.control} as ${synced.sync.edgeId}`);
      for (const l of describeEdge(synced.edge)) io.err(l);
      return await serveUntilDone(synced, log);
    } catch (e) {
      if (!(e instanceof EdgeDecommissionedError)) throw e;
      io.err(`gatehouse edge: ${e.message}`);
      return EXIT_DECOMMISSIONED;
    }
  }

  // The usage check above: without --control, --config is given.
  if (values.config === undefined) throw new Error("gatehouse edge: --config FILE is missing");
  const path = resolve(values.config);
  // The file's config, with --trust-anchor's anchors when given (on every reload too).
  const load = async () => {
    const c = await loadEdgeConfigFile(path);
    return anchors === undefined ? c : { ...c, resolver: withTrustAnchors(c.resolver, anchors) };
  };
  const config = await load();
  const reload = (apply: (b: ReturnType<typeof bundleOfEdgeConfig>) => Promise<unknown>) => () => {
    load()
      .then((c) => apply(bundleOfEdgeConfig(c)))
      .then(
        () => log(`gatehouse edge: reloaded ${path}`),
        (e: unknown) =>
          log(
            `gatehouse edge: reload refused, keeping the running config: ${(e as Error).message}`,
          ),
      );
  };
  // `edge.workers: N` runs N workers sharing the ports (SO_REUSEPORT), each with its own
  // compiled snapshot of the same config (threads: around one copy of the lists); the default
  // is one process.
  if ((config.edge?.workers ?? 1) > 1) {
    const handle = await startEdgeWorkers({
      config,
      ...(values["worker-mode"] ? { mode: workerMode(values["worker-mode"]) } : {}),
      log: lineSink(withComponent(logger, "workers")),
    });
    if (handle.mode === "cluster") {
      io.err(
        `gatehouse edge: serving config ${path} with ${handle.workers} workers (${handle.workerMode})`,
      );
      for (const l of describeAddresses(handle.addresses)) io.err(l);
      process.on(
        "SIGHUP",
        reload((b) => handle.apply(b)),
      );
      await onShutdown(() => handle.close(), log);
      return 0;
    }
    await handle.close();
  }
  const edge = await startEdge({ config, configPath: path, log, logger });
  io.err(`gatehouse edge: serving config ${path}`);
  for (const l of describeEdge(edge)) io.err(l);
  process.on(
    "SIGHUP",
    reload((b) => edge.apply(b)),
  );
  await onShutdown(() => edge.close(), log);
  return 0;
}

/**
 * The exit status of an edge that control decommissioned (sysexits EX_CONFIG): the shipped unit
 * lists it in RestartPreventExitStatus, so systemd does not restart it into a refusal loop.
 */
const EXIT_DECOMMISSIONED = 78;

/** Serve until SIGINT/SIGTERM (exit 0) or until a decommissioned edge's grace ends (78). */
async function serveUntilDone(
  running: { close(): Promise<void>; readonly decommissioned: Promise<void> },
  log: (line: string) => void,
): Promise<number> {
  const code = await Promise.race([
    onShutdown(() => running.close(), log).then(() => 0),
    running.decommissioned.then(() => EXIT_DECOMMISSIONED),
  ]);
  if (code === EXIT_DECOMMISSIONED) await running.close();
  return code;
}

/** A DNS name for --public-name (what `edge.publicName` accepts). */
function publicName(v: string): string {
  if (!/^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$/.test(v))
    throw new Error(
      `--public-name must be a DNS name such as dns.example.lan, got ${JSON.stringify(v)}`,
    );
  return v;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}
