// startProxy: the edge's HTTP forward proxy listeners. node:http's strict parser (llhttp, no
// lenient flags) reads request heads, with our own framing checks on top (request-head.ts);
// every absolute-form request runs the HTTP pipeline, every CONNECT the tunnel pipeline
// (pipeline.ts); `GET /proxy.pac` serves the PAC file. Anything else sent in origin-form is not
// a proxy request and gets 400.

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { QueryLogRecord } from "@gatehouse/contract";
import type { Registry } from "prom-client";
import { splitHostPort } from "../net/host-port.ts";
import type { RequestLog } from "../telemetry/request-log.ts";
import { AddressGuard } from "./address-guard.ts";
import { AuthFailureLimiter } from "./auth-limiter.ts";
import type { ProxyQueryLog, ProxyResolver, ProxySnapshot } from "./edge-view.ts";
import { isClosing, markClosing, newExchange, nextRequestId, stripV4Mapped } from "./exchange.ts";
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
import { proxyMetrics } from "./proxy-metrics.ts";
import { checkRequestHead } from "./request-head.ts";
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

const BAD_REQUEST = "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
const HEADERS_TOO_LARGE =
  "HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
const INTERNAL_ERROR =
  "HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
const NOT_PROXY_BODY = "400: not a proxy request (send absolute-form URLs, or GET /proxy.pac)\n";
const NOT_A_PROXY_REQUEST = `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: ${NOT_PROXY_BODY.length}\r\n\r\n${NOT_PROXY_BODY}`;
const REQUEST_TIMEOUT =
  "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

export async function startProxy(opts: StartProxyOptions): Promise<RunningProxy> {
  const limits = resolveLimits(opts.limits);
  const metrics = proxyMetrics(opts.registry);
  const guard = new AddressGuard();
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

  function onRequest(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    // Known from the request head (HTTP/1.0, Connection: close): this is the last answer.
    if (!res.shouldKeepAlive) markClosing(req.socket);
    const url = req.url ?? "";
    if (url.startsWith("/")) {
      servePac(req, res);
      return;
    }
    try {
      const ex = newExchange(opts.getSnapshot(), "http", req, res, req.socket);
      ex.expectContinue = expectContinue;
      void httpPipeline.run(ex);
    } catch (e) {
      opts.requestLog?.error("proxy request could not start", e);
      // No snapshot (or none we can read): never crash the listener, never forward blindly.
      metrics.error("internal");
      markClosing(req.socket);
      res.writeHead(500, ["content-type", "text/plain; charset=utf-8", "connection", "close"]);
      res.end("500: proxy not ready\n");
    }
  }

  function servePac(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "").split("?", 1)[0];
    const snapshot = opts.getSnapshot();
    const close = ["connection", "close"];
    // Same framing checks as proxied requests: this connection may carry more requests.
    const problem = checkRequestHead(req, headCheck);
    if (problem !== undefined) {
      markClosing(req.socket);
      res.writeHead(problem.status, ["content-type", "text/plain; charset=utf-8", ...close]);
      res.end(`${problem.status}: ${problem.detail}\n`);
      return;
    }
    if (path !== "/proxy.pac" || (req.method !== "GET" && req.method !== "HEAD")) {
      markClosing(req.socket);
      res.writeHead(400, ["content-type", "text/plain; charset=utf-8", ...close]);
      res.end(NOT_PROXY_BODY);
      return;
    }
    const client = stripV4Mapped(req.socket.remoteAddress ?? "");
    const location = snapshot.locations.bySource(client);
    if (location === undefined && !proxyConfigOf(snapshot).allowUnknownClients) {
      markClosing(req.socket);
      res.writeHead(403, ["content-type", "text/plain; charset=utf-8", ...close]);
      res.end("403: this client is not in any location of the gateway\n");
      return;
    }
    // The proxy address is the one the client reached us on (its Host), if it is a plain
    // authority; otherwise the local socket address.
    const host = req.headers.host;
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
    res.writeHead(200, [
      "content-type",
      "application/x-ns-proxy-autoconfig",
      "cache-control",
      "max-age=300",
      "content-length",
      String(Buffer.byteLength(body)),
    ]);
    res.end(req.method === "HEAD" ? undefined : body);
  }

  /** Run a pipeline on a socket node:http handed over (CONNECT, upgrade). */
  function runRaw(
    pipeline: Pipeline,
    transport: "http" | "connect",
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
  ): void {
    // node:http no longer tracks it (closeAllConnections would not reach it): close() does.
    handedOver.add(socket);
    socket.once("close", () => handedOver.delete(socket));
    try {
      const ex = newExchange(opts.getSnapshot(), transport, req, undefined, socket);
      if (head.length > 0) ex.firstFlight = head;
      void pipeline.run(ex);
    } catch (e) {
      opts.requestLog?.error("proxy connection could not start", e);
      metrics.error("internal");
      socket.end(INTERNAL_ERROR);
    }
  }

  function onConnect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    runRaw(tunnelPipeline, "connect", req, socket, head);
  }

  // `Connection: upgrade` + `Upgrade` (WebSocket): node:http stops parsing the connection and
  // hands over the socket with whatever followed the head.
  function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    if ((req.url ?? "").startsWith("/")) {
      metrics.error("bad_target");
      socket.end(NOT_A_PROXY_REQUEST);
      return;
    }
    const run = () => runRaw(upgradePipeline, "http", req, socket, head);
    // An earlier pipelined response may still be going out on this socket: answer after it.
    const inflight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inflight && !inflight.writableFinished && !inflight.destroyed) {
      inflight.once("finish", run);
      inflight.once("close", () => {
        if (!inflight.writableFinished) socket.destroy();
      });
    } else run();
  }

  function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? "";
    const answer =
      code === "HPE_HEADER_OVERFLOW"
        ? HEADERS_TOO_LARGE
        : code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? REQUEST_TIMEOUT
          : BAD_REQUEST;
    const cause =
      code === "HPE_HEADER_OVERFLOW"
        ? "headers_too_large"
        : code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "request_timeout"
          : code === "ECONNRESET"
            ? "client_aborted"
            : "bad_request";
    metrics.error(cause);
    if (cause !== "client_aborted") {
      const rec: QueryLogRecord = {
        ts: Date.now(),
        kind: "http",
        id: nextRequestId(),
        client: stripV4Mapped(socket.remoteAddress ?? ""),
        action: "refused",
        transport: "http",
        durationMs: 0,
        status: Number(answer.slice(9, 12)),
        reason: cause,
      };
      opts.log.push(rec);
      opts.requestLog?.record(rec);
    }
    // A response already in flight (an earlier pipelined request) is finished first; the bad
    // request then gets its 400 and the connection closes, so nothing after it is read.
    const inflight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    // If an earlier answer already ends the connection, the bad bytes get no answer at all
    // (two answers to one request would desynchronise the client).
    const answerable =
      cause !== "client_aborted" && !isClosing(socket) && inflight?.shouldKeepAlive !== false;
    const send = () => {
      if (!socket.writable) socket.destroy();
      else if (answerable) socket.end(answer);
      else socket.end(); // flush what is queued, then close
    };
    if (inflight && !inflight.writableFinished && !inflight.destroyed) {
      // The bad bytes are inside this request's own body (e.g. an invalid chunk size): the
      // request is broken, so abort it (and its upstream request); the pipeline answers 400.
      if (inflight.req !== undefined && !inflight.req.complete) inflight.req.destroy(err);
      inflight.once("finish", send);
      inflight.once("close", () => socket.destroy());
    } else send();
  }

  const servers: Server[] = [];
  const addresses: AddressInfo[] = [];
  try {
    for (const spec of opts.listen) {
      const { host, port } = splitHostPort(spec);
      const server = createServer({
        // llhttp strict mode: no obs-fold, no bare LF/CR, no invalid bytes (RFC 9112 §5).
        insecureHTTPParser: false,
        // Host is checked in request-head.ts (missing or repeated → 400 and close), so every
        // refusal goes through our own answer path and marks the connection as closing.
        requireHostHeader: false,
        maxHeaderSize: limits.maxHeaderBytes,
        joinDuplicateHeaders: false,
        // Slow-loris: the head must arrive within headersTimeout, the whole request within
        // requestTimeout; node checks both on a timer (connectionsCheckingInterval).
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.idleTimeoutMs,
        connectionsCheckingInterval: Math.max(
          250,
          Math.min(5000, Math.floor(limits.headersTimeoutMs / 4)),
        ),
        noDelay: true,
      });
      // One more than the limit, so the head check can see that the limit was exceeded (node
      // would otherwise drop the excess silently).
      server.maxHeadersCount = limits.maxHeaderCount + 1;
      server.maxConnections = limits.maxConnections;
      server.on("request", (req, res) => onRequest(req, res, false));
      // Expect: 100-continue is answered by the proxy once the request passed its policies.
      server.on("checkContinue", (req, res) => onRequest(req, res, true));
      server.on("connect", onConnect);
      server.on("upgrade", onUpgrade);
      server.on("clientError", onClientError);
      server.on("connection", (socket: Socket) => {
        metrics.activeConnections.inc();
        socket.once("close", () => metrics.activeConnections.dec());
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host, port, reusePort: opts.reusePort === true }, () => {
          server.off("error", reject);
          resolve();
        });
      });
      servers.push(server);
      const a = server.address() as AddressInfo;
      addresses.push(a);
      guard.addOwnEndpoint(a.address, a.port);
    }
  } catch (e) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await pool.close();
    throw e;
  }

  return {
    addresses,
    async close(graceMs = 0) {
      const closed = Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeIdleConnections();
            }),
        ),
      );
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([closed, grace]);
      clearTimeout(timer);
      // Whatever is still open after the grace: requests, tunnels, upgraded connections.
      for (const s of servers) s.closeAllConnections();
      for (const socket of handedOver) socket.destroy();
      await closed;
      await pool.destroy();
    },
  };
}
