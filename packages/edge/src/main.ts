// Starting an edge: compile the config, open the listeners, serve metrics; `apply` swaps in a
// new bundle (compiled off the hot path; refused whole on any error, the old one keeps serving);
// `close` stops accepting and drains connections within a bound.

import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleOfEdgeConfig, type ConfigBundle, type EdgeConfigFile } from "@gatehouse/contract";
import { DnsService } from "./dns/dns-service.ts";
import { listenDoh } from "./dns/server/doh-server.ts";
import { listenStream } from "./dns/server/tcp-server.ts";
import { listenUdp } from "./dns/server/udp-server.ts";
import { joinHostPort } from "./net/host-port.ts";
import { startProxy } from "./proxy/index.ts";
import type { Resolver } from "./resolver.ts";
import {
  type CompileOptions,
  ConfigRejectedError,
  compileSnapshot,
  type EdgeSnapshot,
} from "./snapshot.ts";
import { edgeRegistry, type MetricsServer, serveMetrics } from "./telemetry/metrics.ts";
import { QueryLog } from "./telemetry/query-log.ts";
import { loadTlsMaterial, type TlsMaterial } from "./tls-material.ts";

export interface EdgeAddresses {
  dns: { udp: string[]; tcp: string[]; dot: string[]; doh: string[] };
  proxy: { http: string[] };
  metrics?: string;
}

export interface Edge {
  /** The snapshot queries and requests are judged by right now. */
  readonly snapshot: EdgeSnapshot;
  /** Actual bound addresses ("host:port"), for tests that listen on port 0. */
  readonly addresses: EdgeAddresses;
  readonly queryLog: QueryLog;
  readonly resolver: Resolver;
  readonly dns: DnsService;
  /** Where the generated DoT/DoH certificate lives, when one was generated or reused. */
  readonly tlsCertFile?: string;
  /** Compile and swap in a bundle; throws ConfigRejectedError and keeps the old one on failure. */
  apply(bundle: ConfigBundle): Promise<EdgeSnapshot>;
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
  /** Bind UDP with SO_REUSEPORT so several worker processes share the port (workers.ts). */
  reusePort?: boolean;
}

/** A listener of any kind, as far as shutdown is concerned. */
interface Closable {
  close(graceMs?: number): Promise<void>;
}

export async function startEdge(opts: StartEdgeOptions): Promise<Edge> {
  const cfg = opts.config;
  const local = cfg.edge ?? {};
  const log = opts.log ?? ((l: string) => console.error(l));
  const compileOpts: CompileOptions = {
    ...(local.limits?.maxListItems !== undefined
      ? { maxListItems: local.limits.maxListItems }
      : {}),
  };
  let snapshot = compileSnapshot(bundleOfEdgeConfig(cfg), compileOpts);
  const queryLog = new QueryLog(opts.queryLogCapacity);
  const dns = new DnsService(snapshot, { log: queryLog });
  const closers: Closable[] = [];
  const addresses: EdgeAddresses = {
    dns: { udp: [], tcp: [], dot: [], doh: [] },
    proxy: { http: [] },
  };
  let tls: TlsMaterial | undefined;

  try {
    const l = local.dns ?? {};
    for (const a of l.udp ?? []) {
      const u = await listenUdp(dns, a, { reusePort: opts.reusePort === true });
      closers.push(u);
      addresses.dns.udp.push(joinHostPort(u.host, u.port));
    }
    for (const a of l.tcp ?? []) {
      const t = await listenStream(dns, a);
      closers.push(t);
      addresses.dns.tcp.push(joinHostPort(t.host, t.port));
    }
    if ((l.dot?.length ?? 0) > 0 || (l.doh?.length ?? 0) > 0) {
      tls = await loadTlsMaterial({
        ...(local.tls ? { tls: local.tls } : {}),
        dataDir: local.dataDir ?? join(tmpdir(), "gatehouse-edge"),
        log,
      });
    }
    for (const a of l.dot ?? []) {
      const t = await listenStream(dns, a, { tls: tls! });
      closers.push(t);
      addresses.dns.dot.push(joinHostPort(t.host, t.port));
    }
    for (const a of l.doh ?? []) {
      const d = await listenDoh(dns, a, tls!);
      closers.push(d);
      addresses.dns.doh.push(joinHostPort(d.host, d.port));
    }

    // HTTP proxy: names resolve through `dns`, so DNS policy applies to proxied traffic.
    if ((local.proxy?.http?.length ?? 0) > 0) {
      const proxy = await startProxy({
        listen: local.proxy!.http!,
        getSnapshot: () => snapshot,
        resolver: dns,
        log: queryLog,
        registry: edgeRegistry(),
      });
      closers.push(proxy);
      for (const a of proxy.addresses) addresses.proxy.http.push(joinHostPort(a.address, a.port));
    }

    let metrics: MetricsServer | undefined;
    if (local.metrics) {
      metrics = await serveMetrics(local.metrics);
      closers.push(metrics);
      addresses.metrics = joinHostPort(metrics.address.address, metrics.address.port);
    }
  } catch (e) {
    await Promise.allSettled(closers.map((c) => c.close(0)));
    throw e;
  }

  let closed = false;
  const edge: Edge = {
    get snapshot() {
      return snapshot;
    },
    addresses,
    queryLog,
    resolver: dns,
    dns,
    ...(tls ? { tlsCertFile: tls.certFile } : {}),
    async apply(bundle: ConfigBundle): Promise<EdgeSnapshot> {
      // Yield first so a burst of queries already queued is answered before the compile.
      await new Promise((r) => setImmediate(r));
      let next: EdgeSnapshot;
      let rt: ReturnType<DnsService["prepare"]>;
      try {
        next = compileSnapshot(bundle, compileOpts);
        rt = dns.prepare(next);
      } catch (e) {
        if (e instanceof ConfigRejectedError) throw e;
        throw new ConfigRejectedError([{ path: "/resolver", message: (e as Error).message }], {
          cause: e,
        });
      }
      snapshot = next;
      dns.activate(rt);
      return next;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.allSettled(closers.map((c) => c.close(2000)));
    },
  };
  return edge;
}
