// DNS over HTTPS (RFC 8484) on HTTP/2 with HTTP/1.1 fallback (node:http2 allowHTTP1):
//   GET  /dns-query?dns=<base64url message>      (§4.1; padding or standard base64 → 400)
//   POST /dns-query  application/dns-message      (§4.1; other media types → 415)
//   GET  /dns-query?name=example.com&type=AAAA    JSON answer, application/dns-json (the
//        de-facto JSON API of public resolvers)
// `/dns-query/<token>` selects a location by its DoH token. HTTP freshness (max-age) never
// exceeds the smallest TTL in the answer (§5.1). No DNS-level truncation over HTTP (§6).

import type {
  Http2SecureServer,
  Http2ServerRequest,
  Http2ServerResponse,
  ServerHttp2Session,
} from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { ConnectionLimiter } from "../../net/connection-limiter.ts";
import { splitHostPort } from "../../net/host-port.ts";
import { closeServer, listen } from "../../net/listen.ts";
import { http2 } from "../../net/node-http.ts";
import { type Deadlined, Sweep } from "../../net/sweep.ts";
import { dnsConnectionMetrics } from "../../telemetry/metrics.ts";
import type { DnsService } from "../dns-service.ts";
import { typeNumber } from "../wire/constants.ts";
import {
  decodeMessage,
  emptyMessage,
  encodeMessage,
  type Message,
  type ResourceRecord,
} from "../wire/message.ts";
import { rdataText } from "../wire/rdata-text.ts";
import { STREAM_DEFAULTS, type StreamCloseReason } from "./stream-connection.ts";
import {
  CONNECTION_DEFAULTS,
  type StreamListenerOptions,
  type StreamListenerStats,
} from "./tcp-server.ts";

const MEDIA = "application/dns-message";
const JSON_MEDIA = "application/dns-json";
const MAX_BODY = 65535;
/**
 * Request-body bytes held at once per HTTP/2 session (bodies still arriving, every stream):
 * without it one connection's 100 streams could each hold a 64 KiB body that never completes.
 */
const MAX_BODIES_HELD = 4 * MAX_BODY;
/** Concurrent HTTP/2 streams per connection: RFC 9113 §6.5.2 recommends no fewer than 100. */
export const DOH_MAX_STREAMS = 100;

export interface DohListener {
  readonly server: Http2SecureServer;
  readonly host: string;
  readonly port: number;
  stats(): StreamListenerStats;
  close(graceMs?: number): Promise<void>;
}

function fail(res: Http2ServerResponse, status: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
  });
  res.end(`${message}\n`);
}

/** RFC 4648 §5 base64url without padding; anything else is rejected. */
function decodeBase64Url(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s, "base64url");
}

function minTtl(m: Message): number | undefined {
  let min: number | undefined;
  for (const rr of [...m.answers, ...m.authorities])
    if (min === undefined || rr.ttl < min) min = rr.ttl;
  return min;
}

function jsonOf(m: Message): unknown {
  const rr = (r: ResourceRecord) => ({
    name: `${r.name}.`,
    type: r.type,
    TTL: r.ttl,
    data: rdataText(r),
  });
  return {
    Status: m.rcode,
    TC: m.tc,
    RD: m.rd,
    RA: m.ra,
    AD: m.ad,
    CD: m.cd,
    Question: m.questions.map((q) => ({ name: `${q.name}.`, type: q.type })),
    ...(m.answers.length ? { Answer: m.answers.map(rr) } : {}),
    ...(m.authorities.length ? { Authority: m.authorities.map(rr) } : {}),
  };
}

export async function listenDoh(
  service: DnsService,
  addr: string,
  tls: { readonly cert: string | Buffer; readonly key: string | Buffer },
  opts: StreamListenerOptions = {},
): Promise<DohListener> {
  const { host, port } = splitHostPort(addr);
  const idleTimeoutMs = opts.idleTimeoutMs ?? STREAM_DEFAULTS.idleTimeoutMs;
  const closeGraceMs = opts.closeGraceMs ?? STREAM_DEFAULTS.closeGraceMs;
  const slots = new ConnectionLimiter({
    total: opts.maxConnections ?? CONNECTION_DEFAULTS.maxConnections,
    perSource: opts.maxConnectionsPerSource ?? CONNECTION_DEFAULTS.maxConnectionsPerSource,
  });
  const metrics = dnsConnectionMetrics();
  const counts = {
    refused: { per_source: 0, total: 0 },
    closed: { idle: 0, backpressure: 0, linger: 0, malformed: 0, slow: 0 },
  };
  /** Every TLS connection past its handshake, HTTP/2 or HTTP/1.1. */
  const conns = new Set<TLSSocket>();
  /** HTTP/2 sessions, their connection and their open streams. */
  const sessions = new Map<ServerHttp2Session, { sock: TLSSocket; streams: number }>();
  const h2 = new WeakSet<TLSSocket>();
  /** HTTP/1.1: requests whose answer has not been sent yet, per socket. */
  const unanswered = new WeakMap<TLSSocket, number>();
  const maxPipelined = opts.maxInFlight ?? STREAM_DEFAULTS.maxInFlight;
  /** Queries being resolved, per HTTP/2 session or HTTP/1.1 socket. */
  const resolving = new WeakMap<object, number>();
  /**
   * HTTP/1.1: the next request's head must be whole within `idleTimeoutMs` of the previous one
   * (or of the handshake). node:http's headersTimeout does not apply under node:http2's
   * allowHTTP1, and the idle timer restarts on every byte, so a head dripped a byte at a time
   * held its connection for ever. Checked by one sweep per listener; `read` is the socket's
   * bytes read when the deadline was set (nothing read since: idle, left to the idle timer).
   */
  const heads = new WeakMap<TLSSocket, Deadlined & { read: number }>();
  const sweep = new Sweep<Deadlined>(idleTimeoutMs);
  /** The connection whose HTTP/2 session is being set up (see "secureConnection" below). */
  let accepting: TLSSocket | undefined;

  const handler = (req: Http2ServerRequest, res: Http2ServerResponse) => {
    if (req.socket.destroyed) return;
    // HTTP/2: per session; HTTP/1.1 (no stream): per socket.
    const session = (req.stream as typeof req.stream | undefined)?.session as
      | ServerHttp2Session
      | undefined;
    const owner: object = session ?? req.socket;
    if (!session) {
      // HTTP/1.1 pipelining: node:http hands over every request it has parsed at once and
      // queues the answers; a client that sends many and reads none would make that queue,
      // and the work behind it, unbounded. Past the limit the connection is closed.
      const sock = req.socket as TLSSocket;
      const n = (unanswered.get(sock) ?? 0) + 1;
      if (n > maxPipelined) {
        close(sock, "backpressure");
        return;
      }
      unanswered.set(sock, n);
      const head = heads.get(sock);
      if (head) {
        head.deadline = performance.now() + idleTimeoutMs;
        head.read = sock.bytesRead;
      }
      res.on("close", () => unanswered.set(sock, (unanswered.get(sock) ?? 1) - 1));
    }
    resolving.set(owner, (resolving.get(owner) ?? 0) + 1);
    handle(req, res, owner, session)
      .catch(() => fail(res, 500, "internal error"))
      .finally(() => resolving.set(owner, (resolving.get(owner) ?? 1) - 1));
  };

  const close = (sock: TLSSocket, reason: StreamCloseReason, session?: ServerHttp2Session) => {
    counts.closed[reason]++;
    metrics.closed.labels("doh", reason).inc();
    session?.destroy();
    if (reason !== "idle" || !session) sock.destroy();
    // HTTP/2 ends the socket and waits for the client to finish: not longer than the grace.
    else
      setTimeout(() => {
        if (!sock.destroyed) {
          counts.closed.linger++;
          metrics.closed.labels("doh", "linger").inc();
          sock.destroy();
        }
      }, closeGraceMs).unref();
  };

  /**
   * No traffic either way for `idleTimeoutMs` (server.timeout; Node measures it per HTTP/2
   * session and per HTTP/1.1 socket). Still resolving: look again later. Answers written but
   * not taken by the client: it does not read, close it. Otherwise idle: close it.
   */
  const onTimeout = (x: ServerHttp2Session | Socket) => {
    const s = sessions.get(x as ServerHttp2Session);
    if (s) {
      if (x.destroyed) return;
      if ((resolving.get(x) ?? 0) > 0) x.setTimeout(idleTimeoutMs);
      else close(s.sock, s.streams > 0 ? "backpressure" : "idle", x as ServerHttp2Session);
      return;
    }
    const sock = x as TLSSocket;
    if (sock.destroyed) return;
    if ((resolving.get(sock) ?? 0) > 0) sock.setTimeout(idleTimeoutMs);
    else close(sock, sock.writableLength > 0 ? "backpressure" : "idle");
  };

  /** Request-body bytes held now, per HTTP/2 session or HTTP/1.1 socket. */
  const bodiesHeld = new WeakMap<object, number>();

  /**
   * A POST's body, or undefined when the request was answered or its connection closed. The
   * body must arrive within `idleTimeoutMs`: a request being read counts as being resolved
   * (onTimeout keeps such a connection open), so a client that sent part of a body and then
   * nothing held its connection, and the body, for ever. Past the deadline the connection is
   * closed (`slow`).
   */
  const readBody = async (
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    owner: object,
    session: ServerHttp2Session | undefined,
  ): Promise<Buffer | undefined> => {
    const chunks: Buffer[] = [];
    let size = 0;
    let slow = false;
    const timer = setTimeout(() => {
      slow = true;
      const sock = (session ? sessions.get(session)?.sock : req.socket) as TLSSocket | undefined;
      if (sock && !sock.destroyed) close(sock, "slow", session);
    }, idleTimeoutMs);
    try {
      for await (const c of req) {
        const n = (c as Buffer).length;
        size += n;
        if (size > MAX_BODY) {
          fail(res, 413, "message too large");
          return undefined;
        }
        const held = (bodiesHeld.get(owner) ?? 0) + n;
        if (held > MAX_BODIES_HELD) {
          fail(res, 413, "too many request bytes in flight on this connection");
          return undefined;
        }
        bodiesHeld.set(owner, held);
        chunks.push(c as Buffer);
      }
    } catch (e) {
      if (!slow) throw e;
    } finally {
      clearTimeout(timer);
      bodiesHeld.set(
        owner,
        (bodiesHeld.get(owner) ?? 0) - chunks.reduce((t, c) => t + c.length, 0),
      );
    }
    return slow ? undefined : Buffer.concat(chunks);
  };

  const handle = async (
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    owner: object,
    session: ServerHttp2Session | undefined,
  ) => {
    const url = new URL(req.url, "https://doh.invalid");
    const m = /^\/dns-query(?:\/([A-Za-z0-9_-]{1,128}))?\/?$/.exec(url.pathname);
    if (!m) return fail(res, 404, "not found");
    const token = m[1];
    let wire: Buffer | undefined;
    let json = false;
    if (req.method === "GET") {
      const dns = url.searchParams.get("dns");
      const name = url.searchParams.get("name");
      if (dns !== null) {
        wire = decodeBase64Url(dns);
        if (!wire || wire.length < 12)
          return fail(res, 400, "bad dns parameter (base64url without padding)");
      } else if (name !== null) {
        json = true;
        const t = typeNumber(url.searchParams.get("type") ?? "A");
        if (t === undefined) return fail(res, 400, "unknown type");
        const q = emptyMessage(0);
        q.rd = url.searchParams.get("rd") !== "0";
        q.cd = url.searchParams.get("cd") === "1" || url.searchParams.get("cd") === "true";
        q.questions.push({ name: name.replace(/\.$/, ""), type: t, class: 1 });
        try {
          wire = encodeMessage(q);
        } catch (e) {
          return fail(res, 400, (e as Error).message);
        }
      } else return fail(res, 400, "missing dns or name parameter");
    } else if (req.method === "POST") {
      const [mediaType = ""] = String(req.headers["content-type"] ?? "").split(";");
      const ct = mediaType.trim().toLowerCase();
      if (ct !== MEDIA) return fail(res, 415, `expected ${MEDIA}`);
      wire = await readBody(req, res, owner, session);
      if (wire === undefined) return;
      if (wire.length < 12) return fail(res, 400, "message too short");
    } else {
      res.setHeader("allow", "GET, POST");
      return fail(res, 405, "method not allowed");
    }
    const sock = req.socket;
    if (sock.destroyed) return;
    const out = await service.handle(wire, {
      transport: "doh",
      ip: sock.remoteAddress ?? "",
      port: sock.remotePort ?? 0,
      ...(token ? { dohToken: token } : {}),
    });
    if (!out) return fail(res, 429, "query refused");
    const msg = decodeMessage(out);
    const ttl = minTtl(msg);
    const headers: Record<string, string> = {
      "cache-control": ttl === undefined ? "no-cache" : `max-age=${ttl}`,
    };
    if (json) {
      const body = JSON.stringify(jsonOf(msg));
      res.writeHead(200, { ...headers, "content-type": JSON_MEDIA });
      res.end(body);
      return;
    }
    res.writeHead(200, { ...headers, "content-type": MEDIA, "content-length": String(out.length) });
    res.end(out);
  };

  // node:http2 loads with the first DoH listener (net/node-http.ts).
  const server = http2().createSecureServer(
    {
      cert: tls.cert,
      key: tls.key,
      allowHTTP1: true,
      ALPNProtocols: ["h2", "http/1.1"],
      // Bounded concurrent streams, so bounded answers pending per connection; HTTP/2 flow
      // control (nghttp2) holds the rest of an answer the client does not read.
      settings: { maxConcurrentStreams: opts.dohMaxStreams ?? DOH_MAX_STREAMS },
      handshakeTimeout: idleTimeoutMs,
    },
    handler,
  );
  server.setTimeout(idleTimeoutMs);
  // node:http2 types the listener without its argument (the session, or the HTTP/1.1 socket).
  (server as NodeJS.EventEmitter).on("timeout", onTimeout);
  // HTTP/1.1: node:http's fields, kept for the parser; under allowHTTP1 they were measured not
  // to cut a dripped head (Node 24), which the head deadline (`heads` above) does.
  Object.assign(server, { headersTimeout: idleTimeoutMs, requestTimeout: idleTimeoutMs });
  // The raw connection takes its slot before the handshake costs anything.
  server.on("connection", (raw: Socket) => {
    const refused = slots.admit(raw);
    if (refused === undefined) return;
    counts.refused[refused]++;
    metrics.refused.labels("doh", refused).inc();
    raw.destroy();
  });
  // Runs before node:http2's own listener, which creates the session ("session" below).
  server.prependListener("secureConnection", (s: TLSSocket) => {
    accepting = s;
    conns.add(s);
    s.on("close", () => conns.delete(s));
    if (s.alpnProtocol === "h2") return;
    const head = {
      deadline: performance.now() + idleTimeoutMs,
      read: s.bytesRead,
      timeout: () => {
        if (s.destroyed) return;
        // Nothing read since (idle), or answers still owed (being resolved, or not yet taken:
        // the idle timer and the pipelining bound govern those): look again later.
        if (s.bytesRead === head.read || (unanswered.get(s) ?? 0) > 0) {
          head.deadline = performance.now() + idleTimeoutMs;
          head.read = s.bytesRead;
        } else close(s, "slow");
      },
    };
    heads.set(s, head);
    sweep.items.add(head);
    s.on("close", () => sweep.items.delete(head));
  });
  server.on("session", (session) => {
    const sock = accepting;
    if (!sock) return;
    const s = { sock, streams: 0 };
    sessions.set(session, s);
    h2.add(sock);
    session.on("stream", (stream) => {
      s.streams++;
      stream.on("close", () => s.streams--);
    });
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {});
  });
  server.on("tlsClientError", (e: Error) => {
    // The handshake deadline (handshakeTimeout) is from the connection, not reset by each byte.
    if ((e as NodeJS.ErrnoException).code !== "ERR_TLS_HANDSHAKE_TIMEOUT") return;
    counts.closed.slow++;
    metrics.closed.labels("doh", "slow").inc();
  });
  server.on("error", () => {});
  const a = await listen(server, { port, host, reusePort: opts.reusePort === true });
  const queuedBytes = () => {
    let n = 0;
    for (const s of conns) n += s.writableLength;
    return n;
  };
  const untrack = metrics.track("doh", () => ({ open: conns.size, queuedBytes: queuedBytes() }));
  return {
    server,
    host: a.address,
    port: a.port,
    stats: () => ({
      open: conns.size,
      queuedBytes: queuedBytes(),
      peakQueuedBytes: 0,
      refused: { ...counts.refused },
      closed: { ...counts.closed },
    }),
    close: async (graceMs = 2000) => {
      await closeServer(
        server,
        graceMs,
        () => {
          // HTTP/2: GOAWAY, letting open streams finish; HTTP/1.1: end idle keep-alive sockets.
          for (const s of sessions.keys()) s.close();
          for (const s of conns) if (!h2.has(s)) s.end();
        },
        () => {
          for (const s of conns) s.destroy();
        },
      );
      sweep.stop();
      untrack();
    },
  };
}
