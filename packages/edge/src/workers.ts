// One edge worker per core, sharing the listeners: threads of this process (mode "threads",
// the default) or processes (mode "processes"). Each worker compiles the config itself
// (compiled filters are closures and cannot cross a thread or process boundary), except the
// domain lists when they are threads: the main thread checks each bundle and builds its lists
// once, into SharedArrayBuffers (snapshot.ts compileSharedLists), and posts them with the
// bundle, so every thread answers from one copy of the names; processes each build their own
// (N workers, N copies), which buys a crash that ends one worker, not the whole edge.
// Each worker owns its own UDP socket on the shared port with SO_REUSEPORT (Node ≥ 23 `dgram`
// `reusePort`), so the kernel spreads datagrams across the workers without a hop through the
// primary; the proxy's listener likewise. TCP, DoT and DoH listeners use cluster's shared
// handles (processes) or SO_REUSEPORT too (threads, which boot one worker first so that any
// port 0 is bound once, then the others on its addresses). Each worker keeps its own cache and
// query-log ring; /metrics is served by the primary (the main thread), which asks every worker
// for its metrics and sums them (with its own, e.g. sync gauges). Workers run worker-entry.ts
// and receive the config over IPC (threads: their parent port), so the primary's own command
// line is never re-executed. An edge following control (gatehouse edge --control
// --workers N) keeps sync and heartbeats in the primary and drives the workers over IPC: apply,
// drain/resume, and metrics (summed across workers for the heartbeat). Each such worker ships
// its own query log with its own spool, with the credential the primary hands it. A worker that
// dies is replaced (after 0.5 s, doubling to 30 s while it keeps dying within a minute of
// starting) and starts in the others' state — the last bundle applied (compiled before its
// listeners open, so it never answers under the file's config), the credential, drained — on
// the addresses the others are bound to; what changed while it started is applied after.
// Processes: a bundle from control reaches the workers as a file, not over IPC: the primary
// writes the body it received (applyBody) into `bundleDir`, and each worker reads it and parses
// it as the sync client does (a parser thread, domain lists compiled from their joined text in
// slices), so no worker deserializes millions of names in one block and the primary keeps no
// bundle object for replacements, only the file's path. Threads: the main thread builds the
// lists from what its sync client parsed (applyParsed), and a replacement thread is handed the
// lists every thread holds.

import type { Cluster } from "node:cluster";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import type { EventEmitter } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import type { Server as HttpServer } from "node:http";
import { isIPv6 } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { ConfigBundle, EdgeConfigFile } from "@gatehouse/contract";
import { bundleOfEdgeConfig } from "@gatehouse/contract/edge-checks";
import type { SharedLists } from "./lists/list-set.ts";
import { compileOptionsOf, type Edge, type EdgeAddresses, oneAtATime, startEdge } from "./main.ts";
import { releaseMemorySoon } from "./memory-release.ts";
import { joinHostPort, splitHostPort } from "./net/host-port.ts";
import { listen } from "./net/listen.ts";
import { http } from "./net/node-http.ts";
import { DEFAULT_LIMITS } from "./proxy/limits.ts";
import { type CompileOptions, compileSharedLists, type SharedCompile } from "./snapshot.ts";
import { writeFileAtomic } from "./sync/atomic-file.ts";
import { type PackedLists, parseBundleBody } from "./sync/bundle-parse.ts";
import { edgeRegistry } from "./telemetry/metrics.ts";
import {
  aggregatorRegistry,
  type PrometheusContentType,
  type Registry,
} from "./telemetry/prom-client.ts";
import { TICKET_KEY_BYTES, TICKET_KEY_ROTATION_MS } from "./tls/leaf-minter.ts";

/** Worker threads sharing one copy of the lists, or processes each holding its own. */
export type WorkerMode = "threads" | "processes";

export interface StartWorkersOptions {
  config: EdgeConfigFile;
  /** Threads or processes; default the config's edge.workerMode, else "threads". */
  mode?: WorkerMode;
  log?: (line: string) => void;
  /** Called once every worker listens (in the primary, or in the single process). */
  onReady?: (addresses: EdgeAddresses) => void;
  /**
   * Cluster mode only: each worker ships its query log to this control, spooling in
   * `<spoolRoot>/worker-<i>` (stable across restarts with the same worker count), once
   * setCredential() gave it the edge credential.
   */
  shipLogs?: { controlUrl: string; spoolRoot: string };
  /**
   * Where applyBody() writes the bundle the workers read (`workers-bundle.<n>.json`, 0600);
   * default a new directory under the system's temporary directory.
   */
  bundleDir?: string;
  /** Heap limit (MiB) of each worker's bundle parser thread (edge.limits.bundleParseMemoryMb). */
  parseMemoryMb?: number;
}

/** What a worker answers to a request (see worker-entry.ts). */
export interface WorkerReply {
  type: "done";
  id: number;
  error?: string;
  value?: unknown;
}

export type WorkersHandle =
  | { readonly mode: "single"; readonly edge: Edge; close(): Promise<void> }
  | {
      readonly mode: "cluster";
      /** What the workers are. */
      readonly workerMode: WorkerMode;
      readonly workers: number;
      readonly addresses: EdgeAddresses;
      /** Apply a bundle in every worker; rejects (naming the failure) if any worker refused it. */
      apply(bundle: ConfigBundle): Promise<void>;
      /**
       * apply() for a bundle given as its JSON (as control sent it, carrying its hash): written
       * to a file each worker reads, parses off its event loop and checks against the hash.
       */
      applyBody(body: Uint8Array): Promise<void>;
      /**
       * applyBody() for a body the caller already parsed and hash-checked (the sync client),
       * kept in `file`: threads use the parsed bundle and its packed lists (consumed), and never
       * read the file; processes apply the file's bytes.
       */
      applyParsed(bundle: ConfigBundle, packed: PackedLists, file: string): Promise<void>;
      /** Edge.drain() in every worker, then each flushes its query log. */
      drain(): Promise<void>;
      /** Edge.resume() in every worker. */
      resume(): Promise<void>;
      /** Every worker's metrics and the primary's, summed (counters, histograms). */
      metrics(): Promise<Registry>;
      /** Hand the edge credential to the workers' log shippers (shipLogs). */
      setCredential(credential: string): Promise<void>;
      /**
       * The intermediate CA every worker's proxy mints inspected leaves with (the primary's
       * sync client got it signed), or undefined to stop inspecting.
       */
      setIssuer(issuer: WireIssuer | undefined): Promise<void>;
      /**
       * New session-ticket keys for every worker's inspected TLS (done every
       * TICKET_KEY_ROTATION_MS by itself): one set for all workers, so a ticket one issued
       * resumes on any other; tickets issued before no longer resume.
       */
      rotateTicketKeys(): Promise<void>;
      /**
       * Stop worker `slot` at once, as a crash would (a process: SIGKILL; a thread:
       * terminate()); it is replaced like any worker that died.
       */
      kill(slot: number): void;
      /**
       * Threads: the domain lists every thread reads now (one copy, in shared memory);
       * undefined for processes.
       */
      sharedLists(): SharedLists | undefined;
      close(): Promise<void>;
    };

/** An intermediate CA as it crosses to a worker (IPC to our own child: the key as PEM). */
export interface WireIssuer {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
}

/** SO_REUSEPORT sockets bound to port 0 would each get their own port: pick one up front. */
async function fixUdpPorts(addrs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of addrs) {
    const { host, port } = splitHostPort(a);
    if (port !== 0) {
      out.push(a);
      continue;
    }
    const s = createSocket(isIPv6(host) ? "udp6" : "udp4");
    const p = await new Promise<number>((resolve, reject) => {
      s.once("error", reject);
      s.bind(0, host, () => resolve(s.address().port));
    });
    await new Promise<void>((r) => s.close(() => r()));
    out.push(joinHostPort(host, p));
  }
  return out;
}

/**
 * Each worker counts failed proxy logins on its own (no round trip per attempt), and the kernel
 * spreads a client's connections over the workers: so each one allows its share of the limit,
 * and a client guessing across all of them gets about the configured number, not N times it.
 */
export function shareAuthFailureLimit(
  edge: NonNullable<EdgeConfigFile["edge"]>,
  workers: number,
): NonNullable<EdgeConfigFile["edge"]> {
  const limits = edge.proxy?.limits;
  const total = limits?.authFailureLimit ?? DEFAULT_LIMITS.authFailureLimit;
  return {
    ...edge,
    proxy: {
      ...edge.proxy,
      limits: { ...limits, authFailureLimit: Math.max(1, Math.ceil(total / workers)) },
    },
  };
}

/**
 * What the workers run: a bundle sent over IPC, the file applyBody wrote, or (threads) the
 * bundle whose lists the main thread built.
 */
type BundleSource =
  | { readonly bundle: ConfigBundle }
  | { readonly file: string }
  | { readonly shared: SharedCompile };

/** A worker as the primary drives it: a cluster worker, or a thread made to look like one. */
interface Peer extends EventEmitter {
  send(m: object): unknown;
  isDead(): boolean;
  /** A process: this signal (default SIGTERM); a thread: terminate(). */
  kill(signal?: string): void;
}

const ENTRY = new URL("./worker-entry.ts", import.meta.url);

/** A worker thread running worker-entry.ts, with a cluster worker's send/isDead/kill. */
function threadPeer(log?: (line: string) => void): Peer {
  const w = new Worker(ENTRY);
  let dead = false;
  w.once("exit", () => {
    dead = true;
  });
  // An exception the thread did not catch ends it ("exit" follows, and it is replaced); left
  // unheard it would be thrown here, in the main thread.
  w.on("error", (e: Error) => log?.(`edge worker thread failed: ${e.stack ?? e.message}`));
  return Object.assign(w, {
    send: (m: object) => w.postMessage(m),
    isDead: () => dead,
    kill: () => void w.terminate(),
  });
}

const BUNDLE_FILE = /^workers-bundle\.\d+\.json$/;

/**
 * A body this large applied (or lists this large built) is followed by a full collection and
 * malloc_trim in the primary (memory-release.ts releaseMemorySoon).
 */
const COLLECT_AFTER_BYTES = 8 * 1024 * 1024;

/**
 * Threads: a bundle's domain lists built once, here, into shared memory. What they were built
 * from (a list file's bytes, the packed items, the build's own arrays) is garbage outside the JS
 * heap once they are copied there, which V8 would keep until some later full collection: this
 * thread, idle between bundles, would hold a second copy of every list.
 */
async function buildShared(
  bundle: ConfigBundle,
  opts: CompileOptions,
  packed?: PackedLists,
): Promise<SharedCompile> {
  const shared = await compileSharedLists(bundle, opts, packed);
  if (shared.bytes >= COLLECT_AFTER_BYTES) releaseMemorySoon();
  return shared;
}

/** node:cluster, loaded only where workers are processes (or to ask whether this is one). */
function nodeCluster(): Cluster {
  return process.getBuiltinModule("node:cluster") as unknown as Cluster;
}

export async function startEdgeWorkers(opts: StartWorkersOptions): Promise<WorkersHandle> {
  const n = opts.config.edge?.workers ?? availableParallelism();
  const mode: WorkerMode = opts.mode ?? opts.config.edge?.workerMode ?? "threads";
  if (n <= 1 || !nodeCluster().isPrimary) {
    const edge = await startEdge({ config: opts.config, ...(opts.log ? { log: opts.log } : {}) });
    opts.onReady?.(edge.addresses);
    return { mode: "single", edge, close: () => edge.close() };
  }
  const udp = await fixUdpPorts(opts.config.edge?.dns?.udp ?? []);
  const edgeLocal = opts.config.edge ?? {};
  const config: EdgeConfigFile = {
    ...opts.config,
    edge: shareAuthFailureLimit({ ...edgeLocal, dns: { ...edgeLocal.dns, udp } }, n),
  };
  const threads = mode === "threads";
  const compileOpts = compileOptionsOf(config.edge ?? {});
  const cluster = threads ? undefined : nodeCluster();
  cluster?.setupPrimary({ exec: ENTRY.pathname, silent: false });
  const fork = (): Peer => (cluster ? cluster.fork() : threadPeer(opts.log));
  // Threads: the lists of the file's config, built once for all of them.
  const initial: SharedCompile | undefined = threads
    ? await buildShared(bundleOfEdgeConfig(config), compileOpts)
    : undefined;
  const workers: Peer[] = [];
  /** Threads boot one first (it binds any port 0), then the rest on its addresses. */
  const forkAll = () => {
    for (let i = workers.length; i < n; i++) workers.push(fork());
  };
  if (threads) workers.push(fork());
  else forkAll();
  /** Slots whose worker has started and caught up with `current` (requests go only to these). */
  const live = new Array<boolean>(n).fill(false);
  /** What every worker runs now, for a replacement to catch up with. */
  const current: {
    bundle?: BundleSource;
    credential?: string;
    issuer?: WireIssuer | null;
    /** Session-ticket keys (hex) of every worker's inspected TLS. */
    ticketKeys: string;
    drained: boolean;
  } = {
    ...(initial ? { bundle: { shared: initial } } : {}),
    ticketKeys: randomBytes(TICKET_KEY_BYTES).toString("hex"),
    drained: false,
  };
  let closing = false;
  let seq = 0;
  /** The addresses every worker bound (known once the first boot finished). */
  let bound: EdgeAddresses | undefined;
  /** Send a request to one worker; its reply, or an error if it died first. */
  const ask = (w: (typeof workers)[number], msg: Record<string, unknown>) =>
    new Promise<WorkerReply>((resolve) => {
      const id = ++seq;
      if (w.isDead()) return resolve({ type: "done", id, error: "edge worker is not running" });
      const onMessage = (m: Partial<WorkerReply>) => {
        if (m.type !== "done" || m.id !== id) return;
        cleanup();
        resolve(m as WorkerReply);
      };
      const onExit = (code: number | null) => {
        cleanup();
        resolve({ type: "done", id, error: `edge worker exited with ${code}` });
      };
      const cleanup = () => {
        w.off("message", onMessage);
        w.off("exit", onExit);
      };
      w.on("message", onMessage);
      w.once("exit", onExit);
      w.send({ ...msg, id });
    });
  /** The same request to every running worker; rejects with the first failure. */
  const everyWorker = async (msg: Record<string, unknown>): Promise<unknown[]> => {
    const replies = await Promise.all(workers.filter((_, i) => live[i]).map((w) => ask(w, msg)));
    // Each worker compiles on its own; the same bundle fails the same way everywhere.
    const failed = replies.find((r) => r.error !== undefined);
    if (failed) throw new Error(failed.error);
    return replies.map((r) => r.value);
  };
  /**
   * What a worker starts from: the bundle every worker runs now (the file's until one was
   * applied) and the edge section, on the bound addresses once known; `current` as of now.
   */
  const startState = () => {
    // The primary serves /metrics for all of them (below).
    const { metrics: _m, ...local } = config.edge ?? {};
    const edge: NonNullable<EdgeConfigFile["edge"]> = bound
      ? {
          ...local,
          dns: { ...local.dns, ...bound.dns },
          ...(bound.proxy.http.length > 0
            ? { proxy: { ...local.proxy, http: bound.proxy.http } }
            : {}),
        }
      : local;
    const b = current.bundle;
    const base = b && "bundle" in b ? b.bundle : b && "shared" in b ? b.shared.bundle : config;
    return {
      config: { ...base, edge } satisfies EdgeConfigFile,
      ...(b && "file" in b ? { bundleFile: b.file } : {}),
      ...(b && "shared" in b ? { lists: b.shared.lists } : {}),
      seen: { ...current },
    };
  };
  /** Start slot i's worker: send it the config, resolve with its addresses once it listens. */
  const boot = (i: number, restart = false, state = startState()) =>
    new Promise<EdgeAddresses>((resolve, reject) => {
      const w = workers[i];
      if (w === undefined) return reject(new Error(`no edge worker in slot ${i}`));
      const ship = opts.shipLogs
        ? {
            controlUrl: opts.shipLogs.controlUrl,
            spoolDir: join(opts.shipLogs.spoolRoot, `worker-${i}`),
          }
        : undefined;
      let ready = false;
      w.on("online", () =>
        w.send({
          type: "config",
          config: state.config,
          ...(state.bundleFile !== undefined ? { bundleFile: state.bundleFile, ...memory } : {}),
          ...(state.lists ? { lists: state.lists } : {}),
          ...(ship ? { ship } : {}),
          ...(state.seen.credential !== undefined ? { credential: state.seen.credential } : {}),
          ...(state.seen.issuer ? { issuer: state.seen.issuer } : {}),
          ticketKeys: state.seen.ticketKeys,
          ...(state.seen.drained ? { drained: true } : {}),
        }),
      );
      w.on(
        "message",
        (m: { type?: string; addresses?: EdgeAddresses; error?: string; line?: string }) => {
          if (m.type === "log" && m.line) opts.log?.(m.line);
          else if (m.type === "ready") {
            ready = true;
            if (m.addresses) resolve(m.addresses);
            else reject(new Error(`edge worker ${i} reported ready without its addresses`));
          } else if (m.type === "failed") reject(new Error(m.error));
        },
      );
      w.on("exit", (code, signal) => {
        live[i] = false;
        if (!ready) reject(new Error(`edge worker exited with ${code} during start`));
        // A worker that was serving is replaced, and so is a replacement that failed to start.
        if (!closing && (ready || restart)) replace(i, signal ?? code);
      });
    });
  const backoff = new Array<{ delayMs: number; startedAt: number }>(n);
  /** A worker died: fork its replacement, bring it to `current`, then let requests reach it. */
  const replace = (i: number, why: string | number | null) => {
    const prev = backoff[i];
    const delayMs =
      prev && Date.now() - prev.startedAt < 60_000 ? Math.min(prev.delayMs * 2, 30_000) : 500;
    opts.log?.(`edge worker ${i} exited (${why}); restarting it in ${delayMs} ms`);
    setTimeout(async () => {
      if (closing) return;
      backoff[i] = { delayMs, startedAt: Date.now() };
      const w = fork();
      workers[i] = w;
      try {
        // It starts in the current state; only what changed while it started is sent after.
        const state = startState();
        await boot(i, true, state);
        const check = (r: WorkerReply) => {
          if (r.error !== undefined) throw new Error(r.error);
        };
        // Requests sent meanwhile skipped this slot: repeat until nothing changed under us.
        let seen = state.seen;
        while (
          seen.bundle !== current.bundle ||
          seen.credential !== current.credential ||
          seen.issuer !== current.issuer ||
          seen.ticketKeys !== current.ticketKeys ||
          seen.drained !== current.drained
        ) {
          const was = seen;
          seen = { ...current };
          if (seen.bundle !== was.bundle && seen.bundle)
            check(await ask(w, applyRequest(seen.bundle)));
          if (seen.credential !== was.credential && seen.credential !== undefined)
            check(await ask(w, { type: "credential", credential: seen.credential }));
          if (seen.issuer !== was.issuer)
            check(await ask(w, { type: "issuer", issuer: seen.issuer ?? null }));
          if (seen.ticketKeys !== was.ticketKeys)
            check(await ask(w, { type: "ticket-keys", ticketKeys: seen.ticketKeys }));
          if (seen.drained !== was.drained)
            check(await ask(w, { type: seen.drained ? "drain" : "resume" }));
        }
        live[i] = true;
        opts.log?.(`edge worker ${i} restarted`);
      } catch (e) {
        // Its exit schedules the next attempt.
        opts.log?.(`edge worker ${i}: restart failed: ${(e as Error).message}`);
        if (!w.isDead()) w.kill();
      }
    }, delayMs).unref();
  };
  const memory = opts.parseMemoryMb !== undefined ? { parseMemoryMb: opts.parseMemoryMb } : {};
  /** The request that makes a worker apply `b`. */
  const applyRequest = (b: BundleSource): Record<string, unknown> =>
    "file" in b
      ? { type: "apply-file", file: b.file, ...memory }
      : "shared" in b
        ? { type: "apply", bundle: b.shared.bundle, lists: b.shared.lists }
        : { type: "apply", bundle: b.bundle };
  let bundleDir: string | undefined = opts.bundleDir;
  let fileSeq = 0;
  /** Files applyBody wrote; the newest is `current`'s, one before it kept for a replacement booting. */
  const files: string[] = [];
  if (bundleDir) {
    // Left by an edge that did not close: not anyone's current bundle.
    for (const f of await readdir(bundleDir).catch(() => []))
      if (BUNDLE_FILE.test(f)) await rm(join(bundleDir, f), { force: true });
  }
  /** Record `b` as what every worker runs and ask them all; undone if any refuses. */
  const applyEverywhere = async (b: BundleSource): Promise<void> => {
    // Recorded first so a worker catching up meanwhile takes it too.
    const before = current.bundle;
    current.bundle = b;
    try {
      await everyWorker(applyRequest(b));
    } catch (e) {
      if (current.bundle === b) current.bundle = before;
      throw e;
    }
  };
  const bootAll = async (): Promise<EdgeAddresses> => {
    if (threads) {
      bound = await boot(0);
      forkAll();
      await Promise.all(workers.slice(1).map((_, i) => boot(i + 1)));
      return bound;
    }
    // Every worker binds the same addresses; the first one's stand for all.
    const [first] = await Promise.all(workers.map((_, i) => boot(i)));
    if (first === undefined) throw new Error("no edge workers to start");
    bound = first;
    return first;
  };
  const addresses = await bootAll()
    .then((a) => {
      live.fill(true);
      return a;
    })
    .catch(async (e: unknown) => {
      closing = true;
      for (const w of workers) w.kill();
      throw e;
    });
  const metrics = async (): Promise<Registry> =>
    aggregatorRegistry().aggregate<PrometheusContentType>([
      await edgeRegistry().getMetricsAsJSON(),
      ...((await everyWorker({ type: "metrics" })) as object[]),
    ]);
  let metricsServer: HttpServer | undefined;
  if (config.edge?.metrics) {
    try {
      const server = http().createServer((req, res) => {
        if (req.method !== "GET" || (req.url !== "/metrics" && !req.url?.startsWith("/metrics?")))
          return void res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
        metrics()
          .then((r) => r.metrics())
          .then(
            (text) => res.writeHead(200, { "content-type": edgeRegistry().contentType }).end(text),
            (e: unknown) =>
              res
                .writeHead(500, { "content-type": "text/plain" })
                .end(`metrics failed: ${(e as Error).message}\n`),
          );
      });
      const { host, port } = splitHostPort(config.edge.metrics);
      const a = await listen(server, { port, host });
      metricsServer = server;
      addresses.metrics = joinHostPort(a.address, a.port);
    } catch (e) {
      closing = true;
      for (const w of workers) w.kill();
      throw e;
    }
  }
  // Inspected TLS: one set of session-ticket keys for all workers (a client's next connection
  // may reach another worker), replaced every hour; a worker that starts later gets the keys
  // of the moment with its config (startState), or catches up (replace).
  const rotateTicketKeys = async (): Promise<void> => {
    current.ticketKeys = randomBytes(TICKET_KEY_BYTES).toString("hex");
    await everyWorker({ type: "ticket-keys", ticketKeys: current.ticketKeys });
  };
  const ticketKeyTimer = setInterval(() => {
    rotateTicketKeys().catch((e: Error) =>
      opts.log?.(`edge workers: session-ticket keys not replaced: ${e.message}`),
    );
  }, TICKET_KEY_ROTATION_MS).unref();
  // Threads: bundles are built here one at a time, so an older one that took longer to build
  // never replaces a newer one.
  const inOrder = oneAtATime();
  /**
   * Threads: check the bundle and build its lists here, once (consuming `packed`), then every
   * thread applies it with them.
   */
  const applyShared = (bundle: ConfigBundle, packed?: PackedLists) =>
    inOrder(async () => {
      await applyEverywhere({ shared: await buildShared(bundle, compileOpts, packed) });
    });
  const applyParsed = async (bundle: ConfigBundle, packed: PackedLists, bodyBytes: number) => {
    await applyShared(bundle, packed);
    // The body, the packed items and the lists' build buffers are garbage outside the JS heap.
    if (bodyBytes >= COLLECT_AFTER_BYTES) releaseMemorySoon();
  };
  const applyBody = async (body: Uint8Array): Promise<void> => {
    if (threads) {
      const parsed = await parseBundleBody(body, {
        ...(memory.parseMemoryMb !== undefined ? { memoryMb: memory.parseMemoryMb } : {}),
      });
      if (!parsed.hashOk) throw new Error("the bundle's hash does not match its content");
      return applyParsed(parsed.bundle, parsed.packed, body.byteLength);
    }
    bundleDir ??= await mkdtemp(join(tmpdir(), "gatehouse-workers-"));
    const file = join(bundleDir, `workers-bundle.${++fileSeq}.json`);
    await writeFileAtomic(file, body, 0o600);
    try {
      await applyEverywhere({ file });
    } catch (e) {
      await rm(file, { force: true });
      throw e;
    }
    files.push(file);
    // The one before stays until the next apply: a replacement may be reading it.
    for (const old of files.splice(0, Math.max(0, files.length - 2)))
      await rm(old, { force: true });
    // The primary's own copy of a large body (and what its sync client parsed from it) is
    // garbage outside the JS heap now, which V8 would otherwise keep for a long time.
    if (body.byteLength >= COLLECT_AFTER_BYTES) releaseMemorySoon();
  };
  opts.onReady?.(addresses);
  return {
    mode: "cluster",
    workerMode: mode,
    workers: n,
    addresses,
    apply: (bundle: ConfigBundle) => (threads ? applyShared(bundle) : applyEverywhere({ bundle })),
    applyBody,
    applyParsed: async (bundle: ConfigBundle, packed: PackedLists, file: string) =>
      threads
        ? applyParsed(bundle, packed, (await stat(file)).size)
        : applyBody(await readFile(file)),
    drain: async () => {
      current.drained = true;
      await everyWorker({ type: "drain" });
    },
    resume: async () => {
      current.drained = false;
      await everyWorker({ type: "resume" });
    },
    metrics,
    setCredential: async (credential: string) => {
      current.credential = credential;
      await everyWorker({ type: "credential", credential });
    },
    setIssuer: async (issuer: WireIssuer | undefined) => {
      current.issuer = issuer ?? null;
      await everyWorker({ type: "issuer", issuer: issuer ?? null });
    },
    rotateTicketKeys,
    kill: (slot: number) => {
      const w = workers[slot];
      if (w && !w.isDead()) w.kill("SIGKILL");
    },
    sharedLists: () => {
      const b = current.bundle;
      return b && "shared" in b ? b.shared.lists : undefined;
    },
    close: async () => {
      closing = true;
      clearInterval(ticketKeyTimer);
      await Promise.all(files.map((f) => rm(f, { force: true })));
      if (metricsServer) {
        const s = metricsServer;
        await new Promise<void>((r) => {
          s.close(() => r());
          s.closeAllConnections();
        });
      }
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((r) => {
              if (w.isDead()) return r();
              w.once("exit", () => r());
              w.send({ type: "close" });
              // Bounded: a worker that does not finish draining is stopped.
              setTimeout(() => w.kill(), 5000).unref();
            }),
        ),
      );
    },
  };
}
