// startProxy: the edge's HTTP forward proxy listeners. Our own HTTP/1.1 connection loop
// (http1/server.ts, strict parser in http1/syntax.ts) reads request heads, with the framing
// checks a proxy needs on top (request-head.ts);
// every absolute-form request runs the HTTP pipeline, every CONNECT the tunnel pipeline
// (pipeline.ts); `GET /proxy.pac` serves the PAC file. Anything else sent in origin-form is not
// a proxy request and gets 400.

import { randomBytes } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import type { QueryLogRecord } from "@gatehouse/contract";
import type { Registry } from "prom-client";
import { splitHostPort } from "../net/host-port.ts";
import type { RequestLog } from "../telemetry/request-log.ts";
import { AddressGuard } from "./address-guard.ts";
import { AuthFailureLimiter } from "./auth-limiter.ts";
import type { ProxyQueryLog, ProxyResolver, ProxySnapshot } from "./edge-view.ts";
import { newExchange, nextRequestId, stripV4Mapped } from "./exchange.ts";
import type { ClientRequest, ClientResponse } from "./http1/message.ts";
import { type ClientFault, Http1Server } from "./http1/server.ts";
import { cutAfter } from "./http1/sweep.ts";
import { DEFAULT_LIMITS, type ProxyLimits, resolveLimits } from "./limits.ts";
import { isSafeAuthority, renderPac } from "./pac.ts";
import {
  createHttpPipeline,
  createTunnelPipeline,
  createUpgradePipeline,
  headCheckOf,
  type Pipeline,
  type PipelineDeps,
} from "./pipeline.ts";
import { createPolicyContexts } from "./policy-request.ts";
import { proxyConfigOf } from "./proxy-config.ts";
import { type DestroyReason, proxyMetrics } from "./proxy-metrics.ts";
import { checkRequestHead } from "./request-head.ts";
import { rawHead } from "./respond.ts";
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
const CLOSE = ["connection", "close"];
const NOT_PROXY_BODY = "400: not a proxy request (send absolute-form URLs, or GET /proxy.pac)\n";
const NOT_A_PROXY_REQUEST =
  rawHead(400, ["content-type", TEXT, ...CLOSE, "content-length", String(NOT_PROXY_BODY.length)]) +
  NOT_PROXY_BODY;

/** An empty answer that ends the connection (a head we would not parse, a slow client, …). */
function closingAnswer(status: number): string {
  return rawHead(status, [...CLOSE, "content-length", "0"]);
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
  const pool = createUpstreamPool(limits, metrics);
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
    log: opts.log,
    // A per-process pseudonym: a request carrying it in Via has been through us already.
    viaToken: `gatehouse-${randomBytes(4).toString("hex")}`,
    ...(opts.edgeId === undefined ? {} : { edgeId: opts.edgeId }),
    ...(opts.requestLog === undefined ? {} : { requestLog: opts.requestLog }),
  };
  const headCheck = headCheckOf(deps);
  const httpPipeline = createHttpPipeline(deps);
  const tunnelPipeline = createTunnelPipeline(deps);
  const upgradePipeline = createUpgradePipeline(deps);
  const handedOver = new Set<Socket>();

  function onRequest(req: ClientRequest, res: ClientResponse): void {
    if (req.url.startsWith("/")) {
      servePac(req, res);
      return;
    }
    try {
      const ex = newExchange(opts.getSnapshot(), "http", req, res, req.socket);
      ex.expectContinue = req.expectContinue;
      void httpPipeline.run(ex);
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

  function servePac(req: ClientRequest, res: ClientResponse): void {
    const path = req.url.split("?", 1)[0];
    const snapshot = opts.getSnapshot();
    // Same framing checks as proxied requests: this connection may carry more requests.
    const problem = checkRequestHead(req, headCheck);
    if (problem !== undefined) {
      plain(res, problem.status, `${problem.status}: ${problem.detail}\n`);
      return;
    }
    if (path !== "/proxy.pac" || (req.method !== "GET" && req.method !== "HEAD")) {
      plain(res, 400, NOT_PROXY_BODY);
      return;
    }
    const client = stripV4Mapped(req.socket.remoteAddress ?? "");
    const location = snapshot.locations.bySource(client);
    if (location === undefined && !proxyConfigOf(snapshot).allowUnknownClients) {
      plain(res, 403, "403: this client is not in any location of the gateway\n");
      return;
    }
    // The proxy address is the one the client reached us on (its Host), if it is a plain
    // authority; otherwise the local socket address.
    const host = req.header("host");
    const local = req.socket.localAddress ?? "127.0.0.1";
    const authority =
      host !== undefined && isSafeAuthority(host)
        ? host
        : `${local.includes(":") ? `[${local}]` : local}:${req.socket.localPort}`;
    const cfg = proxyConfigOf(snapshot);
    let body = cfg.pacByAuthority.get(authority);
    if (body === undefined) {
      body = renderPac(cfg.bypassDomains, authority);
      if (cfg.pacByAuthority.size >= 64) cfg.pacByAuthority.clear();
      cfg.pacByAuthority.set(authority, body);
    }
    res.respond(
      200,
      [
        "content-type",
        "application/x-ns-proxy-autoconfig",
        "cache-control",
        "max-age=300",
        "content-length",
        String(Buffer.byteLength(body)),
      ],
      req.method === "HEAD" ? undefined : body,
    );
  }

  /** Run a pipeline on a socket the connection loop handed over (CONNECT, upgrade). */
  function runRaw(
    pipeline: Pipeline,
    transport: "http" | "connect",
    req: ClientRequest,
    socket: Socket,
    head: Buffer,
  ): void {
    // The connection loop no longer tracks it: close() cuts it through this set.
    handedOver.add(socket);
    socket.once("close", () => handedOver.delete(socket));
    try {
      const ex = newExchange(opts.getSnapshot(), transport, req, undefined, socket);
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
    socket.on("error", () => socket.destroy());
    runRaw(tunnelPipeline, "connect", req, socket, head);
  }

  // `Connection: upgrade` + `Upgrade` (WebSocket): the loop stops parsing the connection and
  // hands over the socket with whatever followed the head.
  function onUpgrade(req: ClientRequest, socket: Socket, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    if (req.url.startsWith("/")) {
      metrics.error("bad_target");
      socket.end(NOT_A_PROXY_REQUEST);
      cutAfter(socket, limits.closeGraceMs, cut);
      return;
    }
    runRaw(upgradePipeline, "http", req, socket, head);
  }

  function onFault(fault: ClientFault, socket: Socket, answerable: boolean): void {
    metrics.error(fault.cause);
    const rec: QueryLogRecord = {
      ts: Date.now(),
      kind: "http",
      id: nextRequestId(),
      client: stripV4Mapped(socket.remoteAddress ?? ""),
      action: "refused",
      transport: "http",
      durationMs: 0,
      status: fault.status,
      reason: fault.cause,
    };
    opts.log.push(rec);
    opts.requestLog?.record(rec);
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
  try {
    for (const spec of opts.listen) {
      const { host, port } = splitHostPort(spec);
      const http = new Http1Server(serverLimits, {
        request: onRequest,
        connect: onConnect,
        upgrade: onUpgrade,
        fault: onFault,
        connection(socket) {
          metrics.activeConnections.inc();
          socket.once("close", () => metrics.activeConnections.dec());
        },
        refused: (reason) => metrics.connectionRefused(reason),
        cut,
      });
      servers.push(http);
      await new Promise<void>((resolve, reject) => {
        http.server.once("error", reject);
        http.server.listen({ host, port, reusePort: opts.reusePort === true }, () => {
          http.server.off("error", reject);
          resolve();
        });
      });
      const a = http.server.address() as AddressInfo;
      addresses.push(a);
      guard.addOwnEndpoint(a.address, a.port);
    }
  } catch (e) {
    await Promise.all(servers.map((s) => (s.server.listening ? s.stop() : undefined)));
    for (const s of servers) s.destroyAll();
    pool.destroy();
    throw e;
  }

  return {
    addresses,
    async close(graceMs = 0) {
      const closed = Promise.all(servers.map((s) => s.stop()));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([closed, grace]);
      clearTimeout(timer);
      // Whatever is still open after the grace: requests, tunnels, upgraded connections.
      for (const s of servers) s.destroyAll();
      for (const socket of handedOver) socket.destroy();
      await closed;
      pool.destroy();
    },
  };
}
