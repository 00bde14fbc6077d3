// Do53 over TCP and DNS over TLS (RFC 7858) listeners: stream connections with framing,
// pipelining and bounded output (stream-connection.ts), connection slots per source and in
// total (net/connection-limiter.ts: a source that opens connections and never closes them uses
// up its own share only), and a graceful close that stops accepting, lets in-flight answers
// finish and then ends connections, bounded in time.

import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { DnsConnectionLimitSettings } from "@gatehouse/contract";
import { ConnectionLimiter } from "../../net/connection-limiter.ts";
import { splitHostPort } from "../../net/host-port.ts";
import { closeServer, listen } from "../../net/listen.ts";
import { tls } from "../../net/node-tls.ts";
import { type Deadlined, Sweep } from "../../net/sweep.ts";
import { dnsConnectionMetrics } from "../../telemetry/metrics.ts";
import type { DnsService } from "../dns-service.ts";
import {
  STREAM_DEFAULTS,
  type StreamCloseReason,
  type StreamConnection,
  type StreamLimits,
  serveStream,
} from "./stream-connection.ts";

/** Connection slots of a stream listener (TCP, DoT, DoH). */
export interface ConnectionSlotLimits {
  /** Client connections open at once per listener. */
  readonly maxConnections: number;
  /** Client connections open at once per source (IPv4 address, IPv6 /64) per listener. */
  readonly maxConnectionsPerSource: number;
}

export const CONNECTION_DEFAULTS: ConnectionSlotLimits = {
  maxConnections: 1000,
  maxConnectionsPerSource: 100,
};

/** What a stream listener has done and holds, for tests and diagnostics. */
export interface StreamListenerStats {
  readonly open: number;
  readonly queuedBytes: number;
  /** The most answer bytes any one connection has had queued at once. */
  readonly peakQueuedBytes: number;
  readonly refused: { per_source: number; total: number };
  readonly closed: Record<StreamCloseReason, number>;
}

export interface StreamListener {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  stats(): StreamListenerStats;
  /** Graceful: stop accepting, wait up to `graceMs` for in-flight answers, then close. */
  close(graceMs?: number): Promise<void>;
}

/** The listener options of `edge.dns.limits` (an absent key keeps its default). */
export function streamListenerOptions(s: DnsConnectionLimitSettings = {}): StreamListenerOptions {
  return {
    idleTimeoutMs: s.idleTimeoutMs,
    closeGraceMs: s.closeGraceMs,
    maxConnections: s.maxConnections,
    maxConnectionsPerSource: s.maxConnectionsPerSource,
    maxInFlight: s.maxInFlightPerConnection,
    maxQueuedBytes: s.maxQueuedBytes,
    drainTimeoutMs: s.drainTimeoutMs,
    messageTimeoutMs: s.messageTimeoutMs,
    dohMaxStreams: s.dohMaxStreams,
  };
}

export interface StreamListenerOptions
  extends Partial<StreamLimits>,
    Partial<ConnectionSlotLimits> {
  /** DoH: concurrent HTTP/2 streams per connection. */
  readonly dohMaxStreams?: number | undefined;
  /** DoT: PEM certificate and key. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Bind with SO_REUSEPORT (edge worker threads each own a listener on the same port). */
  readonly reusePort?: boolean;
}

export async function listenStream(
  service: DnsService,
  addr: string,
  opts: StreamListenerOptions = {},
): Promise<StreamListener> {
  const { host, port } = splitHostPort(addr);
  const limits: StreamLimits = {
    idleTimeoutMs: opts.idleTimeoutMs ?? STREAM_DEFAULTS.idleTimeoutMs,
    maxInFlight: opts.maxInFlight ?? STREAM_DEFAULTS.maxInFlight,
    maxQueuedBytes: opts.maxQueuedBytes ?? STREAM_DEFAULTS.maxQueuedBytes,
    drainTimeoutMs: opts.drainTimeoutMs ?? STREAM_DEFAULTS.drainTimeoutMs,
    closeGraceMs: opts.closeGraceMs ?? STREAM_DEFAULTS.closeGraceMs,
    messageTimeoutMs: opts.messageTimeoutMs ?? STREAM_DEFAULTS.messageTimeoutMs,
  };
  const transport = opts.tls ? "dot" : "tcp";
  const slots = new ConnectionLimiter({
    total: opts.maxConnections ?? CONNECTION_DEFAULTS.maxConnections,
    perSource: opts.maxConnectionsPerSource ?? CONNECTION_DEFAULTS.maxConnectionsPerSource,
  });
  const metrics = dnsConnectionMetrics();
  const closedCount = metrics.closed;
  const refusedCount = metrics.refused;
  const stats = {
    peakQueuedBytes: 0,
    refused: { per_source: 0, total: 0 },
    closed: { idle: 0, backpressure: 0, linger: 0, malformed: 0, slow: 0 },
  };
  const conns = new Map<Socket, StreamConnection>();
  // One interval per listener checks every connection's message deadline.
  const sweep = new Sweep<Deadlined>(limits.messageTimeoutMs);
  let closing = false;

  /** A slot for the raw TCP connection, before any TLS work; false: refused and destroyed. */
  const admit = (raw: Socket): boolean => {
    const refused = slots.admit(raw);
    if (refused === undefined) return true;
    stats.refused[refused]++;
    refusedCount.labels(transport, refused).inc();
    raw.destroy();
    return false;
  };
  const onClose = (reason: StreamCloseReason) => {
    stats.closed[reason]++;
    closedCount.labels(transport, reason).inc();
  };
  const serve = (sock: Socket, serverName?: string) => {
    const conn = serveStream(service, sock, transport, limits, {
      onClose,
      sweep,
      ...(serverName ? { serverName } : {}),
    });
    conns.set(sock, conn);
    sock.on("close", () => {
      conns.delete(sock);
      if (conn.peakQueuedBytes() > stats.peakQueuedBytes)
        stats.peakQueuedBytes = conn.peakQueuedBytes();
    });
    if (closing) conn.shutdown();
  };
  // allowHalfOpen: a client's FIN after its queries still gets the answers (RFC 7766 §6.2.4);
  // the connection ends its side itself (stream-connection.ts).
  const server: Server = opts.tls
    ? tls().createServer(
        {
          cert: opts.tls.cert,
          key: opts.tls.key,
          ALPNProtocols: ["dot"],
          allowHalfOpen: true,
          // A handshake that stalls holds a slot: bounded like silence on an open connection.
          handshakeTimeout: limits.idleTimeoutMs,
        },
        (s: TLSSocket) => serve(s, typeof s.servername === "string" ? s.servername : undefined),
      )
    : createTcpServer({ allowHalfOpen: true }, (s) => {
        if (admit(s)) serve(s);
      });
  if (opts.tls) {
    // The raw connection takes its slot before the handshake costs anything.
    server.on("connection", admit);
    server.on("tlsClientError", (e: Error, s: Socket) => {
      // Node's handshake timeout is a deadline from the connection, not reset by each byte.
      if ((e as NodeJS.ErrnoException).code === "ERR_TLS_HANDSHAKE_TIMEOUT") onClose("slow");
      s.destroy();
    });
  }
  server.on("error", () => {});
  const a = await listen(server, { port, host, reusePort: opts.reusePort === true });
  const queuedBytes = () => {
    let n = 0;
    for (const c of conns.values()) n += c.queuedBytes();
    return n;
  };
  const untrack = metrics.track(transport, () => ({
    open: conns.size,
    queuedBytes: queuedBytes(),
  }));
  return {
    server,
    host: a.address,
    port: a.port,
    stats: () => {
      let peak = stats.peakQueuedBytes;
      for (const c of conns.values()) if (c.peakQueuedBytes() > peak) peak = c.peakQueuedBytes();
      return {
        open: conns.size,
        queuedBytes: queuedBytes(),
        peakQueuedBytes: peak,
        refused: { ...stats.refused },
        closed: { ...stats.closed },
      };
    },
    close: async (graceMs = 2000) => {
      closing = true;
      await closeServer(
        server,
        graceMs,
        () => {
          for (const c of conns.values()) c.shutdown();
        },
        () => {
          for (const sock of conns.keys()) sock.destroy();
        },
      );
      sweep.stop();
      untrack();
    },
  };
}
