// Starting an edge: compile the config, open the listeners, serve metrics; `apply` swaps in a
// new bundle (compiled off the hot path; refused whole on any error, the old one keeps serving);
// `close` stops accepting and drains connections within a bound; `drain` does the same but keeps
// the process (metrics, config) alive, and `resume` reopens the listeners on the same addresses.

import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigBundle, EdgeConfigFile } from "@gatehouse/contract";
import { bundleOfEdgeConfig } from "@gatehouse/contract/edge-checks";
import { DnsService } from "./dns/dns-service.ts";
import { listenStream, streamListenerOptions } from "./dns/server/tcp-server.ts";
import { listenUdp } from "./dns/server/udp-server.ts";
import type { SharedLists } from "./lists/list-set.ts";
import { memoryReleaseStats, releaseMemorySoon, watchMemory } from "./memory-release.ts";
import { joinHostPort } from "./net/host-port.ts";
import type { Resolver } from "./resolver.ts";
import {
  type CompileOptions,
  ConfigRejectedError,
  compileSnapshot,
  compileSnapshotSliced,
  type EdgeSnapshot,
} from "./snapshot.ts";
import type { PackedLists } from "./sync/bundle-parse.ts";
import {
  edgeRegistry,
  type MetricsServer,
  serveMetrics,
  trackMemoryRelease,
  trackQueryLogDrops,
} from "./telemetry/metrics.ts";
import { type OpLogger, withComponent } from "./telemetry/op-log.ts";
import { QueryLog } from "./telemetry/query-log.ts";
import { RequestLog } from "./telemetry/request-log.ts";
import { LeafMinter } from "./tls/leaf-minter.ts";
import { loadTlsMaterial, type TlsMaterial } from "./tls-material.ts";

export interface EdgeAddresses {
  dns: { udp: string[]; tcp: string[]; dot: string[]; doh: string[] };
  proxy: { http: string[] };
  metrics?: string;
}

export interface Edge {
  /** The snapshot queries and requests are judged by right now. */
  readonly snapshot: EdgeSnapshot;
  /** What this edge's query-log records carry as `edgeId`: `edge.name`, else the host name. */
  readonly edgeId: string;
  /** Actual bound addresses ("host:port"), for tests that listen on port 0. */
  readonly addresses: EdgeAddresses;
  readonly queryLog: QueryLog;
  readonly resolver: Resolver;
  readonly dns: DnsService;
  /** Where the generated DoT/DoH certificate lives, when one was generated or reused. */
  readonly tlsCertFile?: string;
  /** The certificate (PEM) the DoT and DoH listeners present now; none without either. */
  readonly tlsCertificate: string | undefined;
  /**
   * Present this certificate on the DoT and DoH listeners from now on (a renewal): new
   * connections get it, open ones keep theirs; a resume() reopens with it.
   */
  setCertificate(cert: string, key: string): void;
  /**
   * Leaf certificates for TLS inspection; it mints only once given an intermediate CA
   * (tls/edge-intermediate.ts, or setIssuer directly).
   */
  readonly minter: LeafMinter;
  /**
   * Compile and swap in a bundle; throws ConfigRejectedError and keeps the old one on failure.
   * `packed`: lists whose items are "\n"-joined text (sync/bundle-parse.ts), read as such.
   */
  apply(bundle: ConfigBundle, packed?: PackedLists): Promise<EdgeSnapshot>;
  /** apply() with the bundle's domain lists built by another thread (worker threads). */
  applyPrebuilt(bundle: ConfigBundle, lists: SharedLists): Promise<EdgeSnapshot>;
  /** True between drain() and a successful resume(). */
  readonly draining: boolean;
  /**
   * Maintenance: close the DNS and proxy listeners (clients and load balancers move to another
   * edge), letting in-flight work finish within a bound. Metrics keep serving and apply() keeps
   * working. Idempotent.
   */
  drain(): Promise<void>;
  /** Reopen the listeners on the addresses they had (the bound ports, not port 0). Idempotent. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export interface StartEdgeOptions {
  config: EdgeConfigFile;
  /** For messages and for resolving relative paths (already resolved by loadEdgeConfigFile). */
  configPath?: string;
  /** Query-log ring capacity; default 65,536. */
  queryLogCapacity?: number;
  /** Progress lines (cert path, listeners); default stderr. */
  log?: (line: string) => void;
  /**
   * Operational logger: the DNS and proxy data planes log failures, refusals and (at debug)
   * every request under components `dns` and `proxy` (telemetry/request-log.ts). Without it
   * they write none.
   */
  logger?: OpLogger;
  /** Bind UDP and the proxy with SO_REUSEPORT so worker processes share the ports (workers.ts). */
  reusePort?: boolean;
  /**
   * With reusePort: bind DNS over TCP, DoT and DoH with SO_REUSEPORT too (worker threads have
   * no cluster primary to share those listeners through).
   */
  reuseStreamPorts?: boolean;
  /** Domain lists of `config` another thread built (worker threads, compileSharedLists). */
  prebuilt?: SharedLists;
  /**
   * Start drained: open no listener until resume(), which opens the configured addresses (they
   * must be bound ports, not port 0). A replacement worker joins drained workers this way.
   */
  drained?: boolean;
  /** Lists of `config` whose items are "\n"-joined text (sync/bundle-parse.ts). */
  packed?: PackedLists;
}

/** A listener of any kind, as far as shutdown is concerned. */
interface Closable {
  close(graceMs?: number): Promise<void>;
}

/** A swap whose old and new lists hold this many bytes is followed by a full collection and a trim. */
const COLLECT_AFTER_SWAP_BYTES = 8 * 1024 * 1024;

/** How long closing listeners waits for in-flight queries and requests. */
const CLOSE_GRACE_MS = 2000;

/** How an edge with these local settings compiles a bundle. */
export function compileOptionsOf(local: NonNullable<EdgeConfigFile["edge"]>): CompileOptions {
  return local.limits?.maxListItems !== undefined
    ? { maxListItems: local.limits.maxListItems }
    : {};
}

export async function startEdge(opts: StartEdgeOptions): Promise<Edge> {
  const cfg = opts.config;
  const local = cfg.edge ?? {};
  // The closures below read these, never `opts`: it holds the config the edge started from and
  // its lists (inline items, packed bytes, another thread's shared lists), which must not live
  // past the first swap.
  const reusePort = opts.reusePort === true;
  const log = opts.log ?? ((l: string) => console.error(l));
  const compileOpts = compileOptionsOf(local);
  let snapshot = compileSnapshot(
    bundleOfEdgeConfig(cfg),
    opts.prebuilt ? { ...compileOpts, prebuilt: opts.prebuilt } : compileOpts,
    opts.packed,
  );
  const queryLog = new QueryLog(opts.queryLogCapacity, local.limits?.queryLogMaxBytes);
  const minter = new LeafMinter({ registry: edgeRegistry() });
  const edgeId = local.name ?? (hostname().slice(0, 128) || "edge");
  const untrackQueryLog = trackQueryLogDrops(queryLog);
  const dnsLog = opts.logger ? new RequestLog(withComponent(opts.logger, "dns")) : undefined;
  const proxyLog = opts.logger ? new RequestLog(withComponent(opts.logger, "proxy")) : undefined;
  const dns = new DnsService(snapshot, {
    log: queryLog,
    edgeId,
    ...(local.dns?.nsid ? { nsid: local.dns.nsid } : {}),
    ...(dnsLog
      ? {
          requestLog: dnsLog,
          onError: (e: unknown) => dnsLog.error("DNS query failed internally", e),
        }
      : {}),
  });
  let listeners: Closable[] = [];
  let metrics: MetricsServer | undefined;
  const addresses: EdgeAddresses = {
    dns: { udp: [], tcp: [], dot: [], doh: [] },
    proxy: { http: [] },
  };
  let tls: TlsMaterial | undefined;
  /** The DoT and DoH servers open now (a renewed certificate goes to them). */
  let secureServers: { setSecureContext(o: { cert: string; key: string }): void }[] = [];
  // TCP, DoT and DoH connection limits and timeouts (edge.dns.limits).
  const streamLimits = {
    ...streamListenerOptions(local.dns?.limits),
    ...(reusePort && opts.reuseStreamPorts ? { reusePort: true } : {}),
  };

  /** Open the DNS and proxy listeners on `want`; fills `got` with the bound addresses. */
  const openListeners = async (
    want: { dns: EdgeAddresses["dns"]; proxy: string[] },
    got: EdgeAddresses,
  ): Promise<Closable[]> => {
    const opened: Closable[] = [];
    const secure: typeof secureServers = [];
    try {
      for (const a of want.dns.udp) {
        const u = await listenUdp(dns, a, { reusePort });
        opened.push(u);
        got.dns.udp.push(joinHostPort(u.host, u.port));
      }
      for (const a of want.dns.tcp) {
        const t = await listenStream(dns, a, streamLimits);
        opened.push(t);
        got.dns.tcp.push(joinHostPort(t.host, t.port));
      }
      if (want.dns.dot.length > 0 || want.dns.doh.length > 0) {
        tls ??= await loadTlsMaterial({
          ...(local.tls ? { tls: local.tls } : {}),
          dataDir: local.dataDir ?? join(tmpdir(), "gatehouse-edge"),
          log,
        });
        const material = tls;
        for (const a of want.dns.dot) {
          const t = await listenStream(dns, a, { ...streamLimits, tls: material });
          opened.push(t);
          secure.push(t.server as unknown as (typeof secure)[number]);
          got.dns.dot.push(joinHostPort(t.host, t.port));
        }
        for (const a of want.dns.doh) {
          const { listenDoh } = await import("./dns/server/doh-server.ts");
          const d = await listenDoh(dns, a, material, streamLimits);
          opened.push(d);
          secure.push(d.server);
          got.dns.doh.push(joinHostPort(d.host, d.port));
        }
      }
      // HTTP proxy: names resolve through `dns`, so DNS policy applies to proxied traffic.
      if (want.proxy.length > 0) {
        const { startProxy } = await import("./proxy/index.ts");
        const proxy = await startProxy({
          listen: want.proxy,
          getSnapshot: () => snapshot,
          resolver: dns,
          log: queryLog,
          edgeId,
          registry: edgeRegistry(),
          ...(local.proxy?.limits ? { limits: local.proxy.limits } : {}),
          ...(proxyLog ? { requestLog: proxyLog } : {}),
          minter,
          // Worker processes: each binds its own SO_REUSEPORT socket (node makes a reusePort
          // listen exclusive in a cluster worker), so the kernel spreads connections across
          // them instead of the primary accepting and handing each one over.
          reusePort,
        });
        opened.push(proxy);
        for (const a of proxy.addresses) got.proxy.http.push(joinHostPort(a.address, a.port));
      }
      secureServers = secure;
      return opened;
    } catch (e) {
      await Promise.allSettled(opened.map((c) => c.close(0)));
      throw e;
    }
  };

  try {
    const l = local.dns ?? {};
    const want = {
      dns: { udp: l.udp ?? [], tcp: l.tcp ?? [], dot: l.dot ?? [], doh: l.doh ?? [] },
      proxy: local.proxy?.http ?? [],
    };
    if (opts.drained) {
      addresses.dns = {
        udp: [...want.dns.udp],
        tcp: [...want.dns.tcp],
        dot: [...want.dns.dot],
        doh: [...want.dns.doh],
      };
      addresses.proxy.http = [...want.proxy];
    } else listeners = await openListeners(want, addresses);
    if (local.metrics) {
      metrics = await serveMetrics(local.metrics);
      addresses.metrics = joinHostPort(metrics.address.address, metrics.address.port);
    }
  } catch (e) {
    await Promise.allSettled(listeners.map((c) => c.close(0)));
    dns.close();
    untrackQueryLog();
    throw e;
  }

  // Memory back to the system once a burst is over (memory-release.ts).
  trackMemoryRelease(memoryReleaseStats);
  const unwatchMemory = watchMemory();
  // The start's compile read large lists (a list file's bytes, parsed rule lines): garbage
  // outside the JS heap and in it, which nothing would collect soon on an edge at rest.
  if (snapshot.lists.byteLength >= COLLECT_AFTER_SWAP_BYTES) releaseMemorySoon();
  let closed = false;
  let draining = opts.drained === true;
  // drain/resume/close run one at a time, so a resume cannot race a drain still closing.
  const serially = oneAtATime();
  // So do applies: a compile in slices must not let an older bundle that finishes later
  // replace a newer one.
  const applies = oneAtATime();
  /** Compile in slices (snapshot.ts), so queries keep being answered; then swap. */
  const applyNow = async (
    bundle: ConfigBundle,
    packed?: PackedLists,
    prebuilt?: SharedLists,
  ): Promise<EdgeSnapshot> => {
    let next: EdgeSnapshot;
    let rt: ReturnType<DnsService["prepare"]>;
    try {
      next = await compileSnapshotSliced(
        bundle,
        prebuilt ? { ...compileOpts, prebuilt } : compileOpts,
        packed,
      );
      rt = dns.prepare(next);
    } catch (e) {
      if (e instanceof ConfigRejectedError) throw e;
      throw new ConfigRejectedError([{ path: "/resolver", message: (e as Error).message }], {
        cause: e,
      });
    }
    const dropped = snapshot.lists.byteLength;
    snapshot = next;
    dns.activate(rt);
    // The old lists' buffers, and the body and packed items the apply came with, are garbage
    // outside the JS heap, which V8 would keep until some later full collection; the malloc
    // heap the poll's socket reads grew stays resident until a trim (memory-release.ts).
    if (dropped + next.lists.byteLength >= COLLECT_AFTER_SWAP_BYTES) releaseMemorySoon();
    return next;
  };

  const edge: Edge = {
    get snapshot() {
      return snapshot;
    },
    edgeId,
    addresses,
    queryLog,
    resolver: dns,
    dns,
    ...(tls ? { tlsCertFile: tls.certFile } : {}),
    get tlsCertificate() {
      return tls?.cert;
    },
    minter,
    setCertificate: (cert: string, key: string) => {
      if (tls) tls = { ...tls, cert, key };
      for (const srv of secureServers) srv.setSecureContext({ cert, key });
    },
    apply: (bundle: ConfigBundle, packed?: PackedLists) => applies(() => applyNow(bundle, packed)),
    applyPrebuilt: (bundle: ConfigBundle, lists: SharedLists) =>
      applies(() => applyNow(bundle, undefined, lists)),
    get draining() {
      return draining;
    },
    drain: () =>
      serially(async () => {
        if (draining || closed) return;
        draining = true;
        const open = listeners;
        listeners = [];
        await Promise.allSettled(open.map((c) => c.close(CLOSE_GRACE_MS)));
      }),
    resume: () =>
      serially(async () => {
        if (!draining || closed) return;
        // The bound addresses, so clients and load balancers find the edge where it was.
        const got: EdgeAddresses = {
          dns: { udp: [], tcp: [], dot: [], doh: [] },
          proxy: { http: [] },
        };
        listeners = await openListeners({ dns: addresses.dns, proxy: addresses.proxy.http }, got);
        draining = false;
      }),
    close: () =>
      serially(async () => {
        if (closed) return;
        closed = true;
        const open = metrics ? [...listeners, metrics] : listeners;
        listeners = [];
        await Promise.allSettled(open.map((c) => c.close(CLOSE_GRACE_MS)));
        dns.close();
        untrackQueryLog();
        unwatchMemory();
      }),
  };
  return edge;
}

/** Run async steps one at a time, in the order they were asked for. */
export function oneAtATime(): <T>(step: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (step) => {
    const next = tail.then(step);
    tail = next.catch(() => {});
    return next;
  };
}
