// startProxy: the edge's HTTP forward proxy listeners. Our own HTTP/1.1 connection loop
// (http1/server.ts, strict parser in http1/syntax.ts) reads request heads, with the framing
// checks a proxy needs on top (request-head.ts). Every absolute-form request runs the HTTP
// pipeline, every CONNECT the tunnel pipeline, every upgrade request the upgrade pipeline, and
// every request in origin-form the PAC pipeline (`GET /proxy.pac`; anything else there is not a
// proxy request and gets 400). The pipelines are written down in pipeline.ts.

import { randomBytes } from "node:crypto";
import type { ServerHttp2Session } from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { SecureContext, TLSSocket } from "node:tls";
import { splitHostPort } from "../net/host-port.ts";
import { listen } from "../net/listen.ts";
import { tls } from "../net/node-tls.ts";
import { cutAfter, Sweep } from "../net/sweep.ts";
import type { Registry } from "../telemetry/prom-client.ts";
import { subscribeProxyQueryLog } from "../telemetry/query-log.ts";
import { type RequestLog, subscribeProxyRequestLog } from "../telemetry/request-log.ts";
import type { LeafMinter } from "../tls/leaf-minter.ts";
import { OriginProbe } from "../tls/origin-probe.ts";
import { originTrustOf } from "../tls/origin-trust.ts";
import { AddressGuard } from "./address-guard.ts";
import { AuthFailureLimiter } from "./auth-limiter.ts";
import type { ProxyQueryLog, ProxyResolver, ProxySnapshot } from "./edge-view.ts";
import { type Exchange, type Inspection, newExchange } from "./exchange.ts";
import { serveH2 } from "./h2/client-session.ts";
import type { ClientRequest, ClientResponse } from "./http1/message.ts";
import { type ClientFault, Http1Server } from "./http1/server.ts";
import { DEFAULT_LIMITS, type ProxyLimits, resolveLimits } from "./limits.ts";
import {
  createHttpPipeline,
  createPacPipeline,
  createTunnelPipeline,
  createUpgradePipeline,
  type Pipeline,
  type PipelineDeps,
} from "./pipeline.ts";
import {
  type DestroyReason,
  inspectionMetrics,
  proxyMetrics,
  subscribeInspectionMetrics,
  subscribeProxyMetrics,
} from "./proxy-metrics.ts";
import { type Handshake, handshakeSlots } from "./stages/inspect-tls.ts";
import { createPolicyContexts } from "./stages/policy-request.ts";
import { recordFault } from "./stages/record.ts";
import { rawHead } from "./stages/respond.ts";
import { createUpstreamPool } from "./upstream-pool.ts";

export { AddressGuard } from "./address-guard.ts";
export { parseClientHello } from "./client-hello.ts";
export { DEFAULT_LIMITS, type ProxyLimits };

export interface StartProxyOptions {
  /** "host:port" per listener; port 0 picks a free one. Loopback unless configured otherwise. */
  readonly listen: readonly string[];
  readonly getSnapshot: () => ProxySnapshot;
  readonly resolver: ProxyResolver;
  readonly log: ProxyQueryLog;
  readonly registry: Registry;
  readonly limits?: Partial<ProxyLimits>;
  readonly edgeId?: string;
  /** Let several processes listen on the same port (SO_REUSEPORT): one proxy per core. */
  readonly reusePort?: boolean;
  /** Operational line per finished request (telemetry/request-log.ts); none when absent. */
  readonly requestLog?: RequestLog;
  /**
   * Leaf certificates for TLS inspection (the edge's intermediate signs them). Absent, or
   * without an intermediate yet: CONNECTs are tunnelled whatever the location says.
   */
  readonly minter?: LeafMinter;
}

export interface RunningProxy {
  readonly addresses: AddressInfo[];
  /**
   * Stop accepting, close idle keep-alive connections, give tunnels and upgraded connections
   * (and requests in flight) up to `graceMs` to finish, then cut what is left.
   */
  close(graceMs?: number): Promise<void>;
}

const TEXT = "text/plain; charset=utf-8";
/** After close(), how long this proxy's sinks keep listening for the last exchanges' events. */
const EVENTS_LINGER_MS = 1000;
const CLOSE = ["connection", "close"];
/** What the decrypted side of an inspected connection offers, in our order: h2, http/1.1 (in
 * ALPN's wire form, so no socket converts the list again). */
const SERVER_ALPN = Buffer.from("\x02h2\x08http/1.1", "latin1");

/** An empty answer that ends the connection (a head we would not parse, a slow client, …). */
function closingAnswer(status: number): string {
  return rawHead(status, [...CLOSE, "content-length", "0"]);
}

/** An error on a socket of ours closes it (one listener for every socket: no closure each). */
function destroyOnError(this: Socket): void {
  this.destroy();
}

/** The TLS server side over a CONNECT's socket, on `secureContext` (handshake not yet done). */
function serverSide(ex: Exchange, secureContext: SecureContext): TLSSocket {
  // The ClientHello the peek read goes back in front of the socket's next bytes.
  if (ex.firstFlight !== undefined && ex.firstFlight.length > 0) ex.socket.unshift(ex.firstFlight);
  ex.firstFlight = undefined;
  const socket = new (tls().TLSSocket)(ex.socket, {
    isServer: true,
    secureContext,
    ALPNProtocols: SERVER_ALPN,
  });
  socket.on("error", destroyOnError);
  return socket;
}

export async function startProxy(opts: StartProxyOptions): Promise<RunningProxy> {
  const limits = resolveLimits(opts.limits);
  const metrics = proxyMetrics(opts.registry);
  const guard = new AddressGuard();
  metrics.ownAddresses.set(guard.ownAddressCount);
  if (guard.interfacesError !== undefined) {
    // The edge keeps serving: every special-purpose range and our own endpoints stay refused.
    const what =
      "proxy: cannot list this machine's interface addresses, so its own public addresses are " +
      "not refused as own_address (a sandbox without AF_NETLINK? the systemd unit allows it)";
    if (opts.requestLog) opts.requestLog.error(what, guard.interfacesError);
    else console.error(`${what}: ${guard.interfacesError.message}`);
  }
  const serverLimits = {
    maxHeadBytes: limits.maxHeaderBytes,
    maxHeaderCount: limits.maxHeaderCount,
    headersTimeoutMs: limits.headersTimeoutMs,
    requestTimeoutMs: limits.requestTimeoutMs,
    idleTimeoutMs: limits.idleTimeoutMs,
    maxConnections: limits.maxConnections,
    maxConnectionsPerSource: limits.maxConnectionsPerSource,
    closeGraceMs: limits.closeGraceMs,
  };
  const pool = createUpstreamPool(limits, metrics);
  // What the record stage publishes (telemetry/events.ts), this proxy's sinks take.
  const origin = {};
  const tlsMetrics = inspectionMetrics(opts.registry);
  const unsubscribe = [
    subscribeProxyMetrics(metrics, origin),
    subscribeProxyQueryLog(opts.log, origin),
  ];
  if (opts.minter !== undefined) unsubscribe.push(subscribeInspectionMetrics(tlsMetrics, origin));
  if (opts.requestLog) unsubscribe.push(subscribeProxyRequestLog(opts.requestLog, origin));
  const stopEvents = () => {
    for (const u of unsubscribe.splice(0)) u();
  };
  const deps: PipelineDeps = {
    limits,
    resolver: opts.resolver,
    guard,
    authLimiter: new AuthFailureLimiter({
      maxFailures: limits.authFailureLimit,
      windowMs: limits.authFailureWindowMs,
    }),
    pool,
    contexts: createPolicyContexts(),
    metrics,
    origin,
    // A per-process pseudonym: a request carrying it in Via has been through us already.
    viaToken: `gatehouse-${randomBytes(4).toString("hex")}`,
    ...(opts.edgeId === undefined ? {} : { edgeId: opts.edgeId }),
  };
  // The decrypted sides of inspected CONNECTs: requests read by the same HTTP/1.1 engine (not
  // listening itself), run through the same HTTP pipeline.
  const inspections = new WeakMap<Socket, Inspection>();
  const inner = new Http1Server(serverLimits, {
    request: (req, res) => onRequest(req, res, inspections.get(req.socket)),
    // CONNECT inside a decrypted session is nonsense: refused, and the session closes.
    connect: (_req, socket) => socket.end(closingAnswer(405)),
    // WebSocket over an inspected connection (wss): the upgrade pipeline, as for ws://, with TLS
    // toward the origin; the decrypted socket is the relay's once the origin answers 101.
    upgrade: (req, socket, head) => {
      const inspection = inspections.get(socket);
      if (inspection === undefined) socket.destroy();
      else runRaw(upgradePipeline, "http", req, socket, head, inspection);
    },
    fault: (fault, socket, answerable) => onFault(fault, socket, answerable),
    cut: (reason) => cut(reason),
  });
  const handshakes = handshakeSlots(limits.maxConcurrentTlsHandshakes);
  const handshakeSweep = new Sweep<Handshake>(limits.tlsHandshakeTimeoutMs);
  // The decrypted sides that chose h2 (ALPN): streams run the same HTTP pipeline.
  const h2Sessions = new Set<ServerHttp2Session>();
  const h2Limits = {
    maxHeaderBytes: limits.maxHeaderBytes,
    maxHeaderCount: limits.maxHeaderCount,
    idleTimeoutMs: limits.idleTimeoutMs,
    closeGraceMs: limits.closeGraceMs,
  };
  if (opts.minter !== undefined) {
    const minter = opts.minter;
    const probe = new OriginProbe({
      timeoutMs: limits.connectTimeoutMs,
      onResult: (result, verdict) =>
        tlsMetrics.originProbes.inc({ result, verdict: verdict === "valid" ? "valid" : "invalid" }),
    });
    deps.inspector = {
      originVerdict: (ex) =>
        probe.verdict({
          ip: ex.peerIp,
          port: ex.port,
          servername: ex.hostFamily === 0 ? (ex.sni ?? ex.host) : undefined,
          trust: originTrustOf(ex.snapshot),
        }),
      handshakes,
      handshakeTimeoutMs: limits.tlsHandshakeTimeoutMs,
      handshakeSweep,
      handshakeResult: (result) => tlsMetrics.handshakes.inc({ result }),
      accept(ex, name) {
        const ctx = minter.cachedContext(name);
        if (ctx !== undefined) return serverSide(ex, ctx);
        return minter.secureContext(name).then((c) => serverSide(ex, c));
      },
      serve(socket, inspection) {
        inspections.set(socket, inspection);
        if (socket.alpnProtocol === "h2") {
          const onStream = (req: ClientRequest, res: ClientResponse) =>
            onRequest(req, res, inspection);
          return serveH2(socket, h2Limits, onStream, h2Sessions, () => cut("close_grace"));
        }
        return new Promise<void>((resolve) => {
          socket.on("close", () => resolve());
          inner.adopt(socket);
        });
      },
    };
  }
  const httpPipeline = createHttpPipeline(deps);
  const tunnelPipeline = createTunnelPipeline(deps);
  const upgradePipeline = createUpgradePipeline(deps);
  const pacPipeline = createPacPipeline(deps);
  const handedOver = new Set<Socket>();
  /** A handed-over socket's "close" listener (one function for all of them). */
  function forgetHandedOver(this: Socket): void {
    handedOver.delete(this);
  }

  /** A request read from a listener, or from the decrypted side of an inspected CONNECT. */
  function onRequest(req: ClientRequest, res: ClientResponse, inspection?: Inspection): void {
    try {
      const ex = newExchange(opts.getSnapshot(), "http", req, res, req.socket);
      ex.inspection = inspection;
      if (inspection === undefined && req.url.startsWith("/")) {
        pacPipeline.start(ex);
        return;
      }
      ex.expectContinue = req.expectContinue;
      httpPipeline.start(ex);
    } catch (e) {
      opts.requestLog?.error("proxy request could not start", e);
      // No snapshot (or none we can read): never crash the listener, never forward blindly.
      metrics.error("internal");
      plain(res, 500, "500: proxy not ready\n");
    }
  }

  function plain(res: ClientResponse, status: number, body: string): void {
    const length = String(Buffer.byteLength(body));
    res.respond(status, ["content-type", TEXT, ...CLOSE, "content-length", length], body);
  }

  /** Run a pipeline on a socket the connection loop handed over (CONNECT, upgrade). */
  function runRaw(
    pipeline: Pipeline,
    transport: "http" | "connect",
    req: ClientRequest,
    socket: Socket,
    head: Buffer,
    inspection?: Inspection,
  ): void {
    // The connection loop no longer tracks it: close() cuts it through this set.
    handedOver.add(socket);
    socket.on("close", forgetHandedOver);
    try {
      const ex = newExchange(opts.getSnapshot(), transport, req, undefined, socket);
      ex.inspection = inspection;
      if (head.length > 0) ex.firstFlight = head;
      // Refused, answered or relayed: a client that does not close after us loses the socket.
      void pipeline.run(ex).then(() => cutAfter(socket, limits.closeGraceMs, cut));
    } catch (e) {
      opts.requestLog?.error("proxy connection could not start", e);
      metrics.error("internal");
      socket.end(closingAnswer(500));
      cutAfter(socket, limits.closeGraceMs, cut);
    }
  }

  const cut = (reason: DestroyReason = "close_grace") => metrics.connectionDestroyed(reason);

  function onConnect(req: ClientRequest, socket: Socket, head: Buffer): void {
    socket.on("error", destroyOnError);
    runRaw(tunnelPipeline, "connect", req, socket, head);
  }

  // `Connection: upgrade` + `Upgrade` (WebSocket): the loop stops parsing the connection and
  // hands over the socket with whatever followed the head (one in origin-form is refused by
  // parse-target like any request that is not a proxy request).
  function onUpgrade(req: ClientRequest, socket: Socket, head: Buffer): void {
    socket.on("error", destroyOnError);
    runRaw(upgradePipeline, "http", req, socket, head);
  }

  function onFault(fault: ClientFault, socket: Socket, answerable: boolean): void {
    recordFault(deps, fault, socket);
    if (!socket.writable) socket.destroy();
    else if (answerable) socket.end(closingAnswer(fault.status));
    else socket.end();
  }

  const servers: Http1Server[] = [];
  const addresses: AddressInfo[] = [];
  metrics.watchClientQueue(() => {
    let n = 0;
    for (const s of servers) n += s.queuedBytes();
    for (const s of handedOver) n += s.writableLength;
    return n;
  });
  try {
    for (const spec of opts.listen) {
      const { host, port } = splitHostPort(spec);
      const http = new Http1Server(serverLimits, {
        request: onRequest,
        connect: onConnect,
        upgrade: onUpgrade,
        fault: onFault,
        connection: () => metrics.activeConnections.inc(),
        closed: () => metrics.activeConnections.dec(),
        refused: (reason) => metrics.connectionRefused(reason),
        cut,
      });
      servers.push(http);
      const a = await listen(http.server, { host, port, reusePort: opts.reusePort === true });
      addresses.push(a);
      guard.addOwnEndpoint(a.address, a.port);
    }
  } catch (e) {
    await Promise.all(servers.map((s) => (s.server.listening ? s.stop() : undefined)));
    for (const s of servers) s.destroyAll();
    pool.destroy();
    handshakeSweep.stop();
    stopEvents();
    throw e;
  }

  return {
    addresses,
    async close(graceMs = 0) {
      const closed = Promise.all(servers.map((s) => s.stop()));
      // h2 clients are told with GOAWAY: no new streams, those in flight finish.
      for (const s of h2Sessions) s.close();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([closed, grace]);
      clearTimeout(timer);
      // Whatever is still open after the grace: requests, tunnels, upgraded connections.
      for (const s of servers) s.destroyAll();
      inner.destroyAll();
      for (const s of h2Sessions) s.destroy();
      for (const socket of handedOver) socket.destroy();
      await closed;
      pool.destroy();
      handshakeSweep.stop();
      // The exchanges cut above still record (their pipelines finish on the sockets' close):
      // their events reach the sinks before these let go.
      setTimeout(stopEvents, EVENTS_LINGER_MS).unref();
    },
  };
}
