// The proxy's HTTP/1.1 client toward origins: keep-alive connections per checked origin address
// (ip:port), reused across clients, at most `perOrigin` at a time with a queue behind them. It
// writes each request head in one write, streams a request body with backpressure (re-framed:
// Content-Length as received, chunked re-encoded), parses the response with the same strict
// parser as client requests, and hands the body to the call (origin-call.ts) as slices of what
// was read. A connection goes back to the pool only when its response was read to the end and
// both sides said it may persist. Time limits are checked by one sweep, as on the client side.

import { connect, type OnReadOpts, type Socket } from "node:net";
import type { SecureContext, TLSSocket } from "node:tls";
import { asEdgeError, EdgeError } from "@gatehouse/contract/errors";
import { tls } from "../../net/node-tls.ts";
import { listen, type SocketListeners, Sweep, unlisten } from "../../net/sweep.ts";
import { originCertFailure, socketFailure } from "../fail.ts";
import { certVerdictOf, H2Link, H2Origin, type H2OriginLimits } from "../h2/origin-session.ts";
import {
  type BodyDecoder,
  BodyError,
  ChunkedBody,
  LAST_CHUNK,
  LengthBody,
  writeChunk,
} from "./body.ts";
import type { ClientRequest } from "./message.ts";
import type { OriginCall, OriginLink } from "./origin-call.ts";
import {
  findHeadEnd,
  HeadError,
  type HeadLimits,
  isChunkedOnly,
  parseResponseHead,
  resumeAt,
} from "./syntax.ts";

export interface OriginPoolLimits {
  readonly connectTimeoutMs: number;
  /** From the request's last byte to the response head. */
  readonly responseTimeoutMs: number;
  /**
   * Without progress while a body is relayed: between two reads of a response body, and while
   * a request body goes up, between two chunks handed on (or the origin taking them in).
   */
  readonly bodyIdleTimeoutMs: number;
  /** How long an unused connection stays in the pool. */
  readonly keepAliveMs: number;
  readonly perOrigin: number;
  /** Of those, how many one client (source key) may hold at once. */
  readonly perClient: number;
  readonly head: HeadLimits;
}

/** Where a request goes: what connect-origin asks the pool for. */
export interface OriginTarget {
  /** Pool key: the checked address and port, `ip:port` or `[ip]:port`. */
  readonly key: string;
  /** Who asks (net/source-key.ts: IPv4 address, IPv6 /64): the unit of fairness per origin. */
  readonly client: string;
  /** Checked address to dial (an IP literal) and port. */
  readonly ip: string;
  readonly port: number;
  readonly family: 0 | 4 | 6;
  /** A connection of its own, never pooled (an upgrade). */
  readonly fresh: boolean;
  /**
   * TLS toward the origin (inspected connections): SNI `servername` (absent for an IP literal,
   * which is then what the certificate must name), verified against `trust`. A certificate
   * that does not verify fails the call with ORIGIN_CERT_INVALID and `certError` (its code).
   */
  readonly tls?: {
    readonly servername: string | undefined;
    readonly trust: SecureContext;
    /**
     * `untrustedOriginCert: inspect`: a certificate that does not verify is used anyway (its
     * verdict is the connection's `certVerdict`); such connections are pooled under keys of
     * their own, never lent to a request that needs verification.
     */
    readonly acceptUntrusted?: boolean;
  };
}

export interface OriginRequest {
  /** Pool key: the checked address and port, `ip:port` or `[ip]:port`. */
  readonly key: string;
  /** Who asks (net/source-key.ts: IPv4 address, IPv6 /64): the unit of fairness per origin. */
  readonly client: string;
  /** Checked address to dial (an IP literal) and port. */
  readonly ip: string;
  readonly port: number;
  readonly family: 0 | 4 | 6;
  readonly method: string;
  /** Path and query, as the origin will see it. */
  readonly path: string;
  /** Flat [name, value, …], hop-by-hop fields already removed. */
  readonly headers: readonly string[];
  /** The client's request whose body is relayed, or undefined for none. */
  readonly body: ClientRequest | undefined;
  /** Protocols to ask the origin to switch to (a fresh connection, never pooled). */
  readonly upgrade: string | undefined;
}

/** Where pooled origin connections read (one read at a time: each is handled synchronously). */
const READ_BUFFER = new Uint8Array(64 * 1024);

// Connection states.
const CONNECTING = 0;
const IDLE = 1;
const HEAD = 2;
const BODY = 3;
const GONE = 4;
/** Connected and given to a call by connect-origin; its request not sent yet (forward). */
const READY = 5;

interface Waiting {
  readonly target: OriginTarget;
  /** Sent as soon as a connection is given; undefined: only connect (connect-origin). */
  readonly req: OriginRequest | undefined;
  readonly call: OriginCall;
}

/** One client's share of one origin: connections it holds now, and its requests waiting. */
class ClientShare {
  readonly key: string;
  busy = 0;
  readonly queue: Waiting[] = [];
  constructor(key: string) {
    this.key = key;
  }
}

/**
 * One origin address: its connections (idle ones kept for reuse) and the clients using it. A
 * client holds at most `perClient` of the origin's `perOrigin` connections; requests beyond
 * either wait in their client's queue, and a connection that comes free goes to the waiting
 * client holding the fewest (ties in turn), so a few slow exchanges of one client never starve
 * the others.
 */
class Slot {
  readonly key: string;
  constructor(key: string) {
    this.key = key;
  }
  readonly idle: OriginConnection[] = [];
  active = 0;
  readonly clients = new Map<string, ClientShare>();
  /** Clients with requests waiting, in turn order (each at most once). */
  readonly waiting: ClientShare[] = [];
  queued = 0;

  share(client: string): ClientShare {
    let s = this.clients.get(client);
    if (s === undefined) {
      s = new ClientShare(client);
      this.clients.set(client, s);
    }
    return s;
  }

  enqueue(share: ClientShare, w: Waiting): void {
    if (share.queue.length === 0) this.waiting.push(share);
    share.queue.push(w);
    this.queued++;
  }

  /** The next request to give a free connection to, by fair share; undefined: none may go. */
  next(perClient: number): { share: ClientShare; w: Waiting } | undefined {
    let best = -1;
    let share: ClientShare | undefined;
    for (let i = 0; i < this.waiting.length; i++) {
      const s = this.waiting[i];
      if (s === undefined) break;
      if (s.busy < perClient && (share === undefined || s.busy < share.busy)) {
        best = i;
        share = s;
      }
    }
    if (share === undefined) return undefined;
    const w = share.queue.shift();
    if (w === undefined) throw new Error("a client waiting with an empty queue");
    this.queued--;
    // Served: to the back of the turn order, or out of it with nothing left waiting.
    this.waiting.splice(best, 1);
    if (share.queue.length > 0) this.waiting.push(share);
    return { share, w };
  }

  /** A client holds one connection fewer; forgotten when it holds none and waits for none. */
  free(share: ClientShare): void {
    share.busy--;
    if (share.busy === 0 && share.queue.length === 0) this.clients.delete(share.key);
  }
}

class OriginConnection implements OriginLink {
  readonly socket: Socket;
  /** What it was dialled for (a request sent again after a stale connection goes there too). */
  readonly target: OriginTarget;
  readonly #pool: OriginPool;
  readonly slot: Slot | undefined;
  /** The client whose exchange this connection carries now (counted in its share). */
  share: ClientShare | undefined;
  state = CONNECTING;
  /** Performance-clock deadline for the sweep (0: none); its meaning follows `state`. */
  deadline = 0;
  /** While CONNECTING: the request that will be sent once connected. */
  pending: { req: OriginRequest | undefined; call: OriginCall } | undefined;
  #call: OriginCall | undefined;
  #req: OriginRequest | undefined;
  #buf: Buffer | undefined;
  #scanFrom = 0;
  #decoder: BodyDecoder | undefined;
  #untilClose = false;
  #keepAlive = false;
  #requestBodyDone = true;
  #chunkedUp = false;
  /** Requests served before this one: a failure with no response byte may be a stale socket. */
  served = 0;
  #gotBytes = false;
  #t0 = 0;

  constructor(pool: OriginPool, req: OriginTarget, slot: Slot | undefined) {
    this.#pool = pool;
    this.target = req;
    this.slot = slot;
    this.#t0 = performance.now();
    this.deadline = this.#t0 + pool.limits.connectTimeoutMs;
    const options = {
      host: req.ip,
      port: req.port,
      family: req.family === 0 ? undefined : req.family,
      noDelay: true,
      keepAlive: true,
      // An origin's FIN is handled below (end of a close-delimited body, or a dead connection);
      // after an upgrade the relay decides, so a destination that ends first still gets the
      // client's remaining bytes.
      allowHalfOpen: true,
    };
    this.#tls = req.tls !== undefined;
    // A pooled connection reads into the shared buffer (Node's `onread`): each read is one call
    // here, without the readable-stream machinery (push, 'data', a next-tick read-ahead) and
    // without a buffer allocated per read by Node; what is kept is copied out first (#onRead).
    // A fresh connection may end up the upgrade relay's, which reads it as a stream.
    const onread: OnReadOpts | undefined = req.fresh
      ? undefined
      : { buffer: READ_BUFFER, callback: this.#onRead };
    this.socket = req.tls
      ? tls().connect({
          ...options,
          ...(req.tls.servername === undefined ? {} : { servername: req.tls.servername }),
          secureContext: req.tls.trust,
          // A pooled connection may become an h2 session (h2/origin-session.ts); an upgrade
          // needs HTTP/1.1's 101.
          ALPNProtocols: req.fresh ? ["http/1.1"] : ["h2", "http/1.1"],
          // Verified below, so the failure can be answered with a page that says why.
          rejectUnauthorized: false,
          // Not in the type of tls.connect's options, but taken (as net.connect takes it) for a
          // connection that is not wrapped around an existing socket.
          ...(onread === undefined ? {} : ({ onread } as object)),
        })
      : connect(onread === undefined ? options : { ...options, onread });
    listen(this.socket, this.#listeners);
  }

  readonly #tls: boolean;

  get certVerdict(): string | undefined {
    return this.#tls ? certVerdictOf(this.socket as TLSSocket) : undefined;
  }

  onConnected(fn: () => void): void {
    if (this.#tls) {
      this.socket.once("secureConnect", () => {
        const s = this.socket as TLSSocket;
        if (!s.authorized && this.target.tls?.acceptUntrusted !== true) {
          // Chain (expired, self-signed, untrusted) or name (Node's checkServerIdentity).
          const code = String(s.authorizationError ?? "UNKNOWN");
          s.destroy(originCertFailure(code, `${s.remoteAddress}:${s.remotePort}`));
          return;
        }
        this.#pool.connectLatency((performance.now() - this.#t0) / 1000);
        if (s.alpnProtocol === "h2") {
          this.state = GONE;
          this.deadline = 0;
          unlisten(this.socket, this.#listeners);
          this.#pool.h2Ready(this, s);
          return;
        }
        fn();
      });
      return;
    }
    this.socket.once("connect", () => {
      this.#pool.connectLatency((performance.now() - this.#t0) / 1000);
      fn();
    });
  }

  /** Give this (connected, unused) connection to `call`, whose request forward sends. */
  reserve(call: OriginCall): void {
    this.#call = call;
    this.state = READY;
    // Forward follows at once; a connection left unused this long is not waited for.
    this.deadline = performance.now() + this.#pool.limits.responseTimeoutMs;
    call.connected(this);
  }

  /** Send a request on this (connected, unused or reserved) connection. */
  send(req: OriginRequest, call: OriginCall): void {
    this.#req = req;
    this.#call = call;
    this.state = HEAD;
    this.#gotBytes = false;
    this.#buf = undefined;
    this.#scanFrom = 0;
    this.#decoder = undefined;
    this.#untilClose = false;
    call.bind(this);
    const body = req.body?.hasBody === true ? req.body : undefined;
    this.#chunkedUp = body !== undefined && body.transferEncodingCount > 0;
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    const h = req.headers;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    if (this.#chunkedUp) head += "transfer-encoding: chunked\r\n";
    if (req.upgrade !== undefined) head += `connection: upgrade\r\nupgrade: ${req.upgrade}\r\n`;
    head += "\r\n";
    this.socket.write(head, "latin1");
    this.#requestBodyDone = body === undefined;
    // The response timeout runs from the request's last byte: an upload of any length is
    // limited by its progress instead (the client side bounds the whole request).
    if (body === undefined) this.#setResponseDeadline();
    else this.#uploadProgress();
    body?.readBody(this.#bodyConsumer);
  }

  #setResponseDeadline(): void {
    this.deadline = performance.now() + this.#pool.limits.responseTimeoutMs;
  }

  /** A request body chunk went on, or the origin took in what was queued. */
  #uploadProgress(): void {
    if (this.state === HEAD)
      this.deadline = performance.now() + this.#pool.limits.bodyIdleTimeoutMs;
  }

  readonly #bodyConsumer = {
    data: (chunk: Buffer): boolean => {
      if (this.state === GONE) return true;
      this.#uploadProgress();
      const ok = this.#chunkedUp ? writeChunk(this.socket, chunk) : this.socket.write(chunk);
      if (!ok && !this.#bodyWaits) {
        // The client connection pauses its socket; it reads again once ours has drained.
        this.#bodyWaits = true;
        this.socket.once("drain", this.#resumeBody);
      }
      return ok;
    },
    end: (): void => {
      this.#requestBodyDone = true;
      if (this.state === GONE) return;
      if (this.#chunkedUp) this.socket.write(LAST_CHUNK);
      if (this.state === HEAD) this.#setResponseDeadline();
      // The response may have completed while the body was still going up.
      if (this.state === IDLE) this.#release();
    },
    error: (err: Error): void => {
      // The client's body is broken or gone: this request must not complete at the origin.
      this.#fail(err);
    },
  };

  #bodyWaits = false;
  readonly #resumeBody = () => {
    this.#bodyWaits = false;
    this.#uploadProgress();
    this.#req?.body?.resumeBody();
  };

  /**
   * Bytes read into READ_BUFFER, which the next read of any connection overwrites: copied into a
   * buffer of their own (pooled by Node when small) before anything can keep them.
   */
  readonly #onRead = (n: number, buf: Uint8Array): boolean => {
    const chunk = Buffer.allocUnsafe(n);
    chunk.set(n === buf.length ? buf : buf.subarray(0, n));
    this.#onData(chunk);
    // A pause (the client's buffer is full) was asked through socket.pause() if at all.
    return true;
  };

  readonly #onData = (chunk: Buffer) => {
    this.#gotBytes = true;
    if (this.state === BODY) {
      this.deadline = performance.now() + this.#pool.limits.bodyIdleTimeoutMs;
      if (this.#buf === undefined) {
        this.#feedBody(chunk);
        return;
      }
    }
    if (this.state !== HEAD && this.state !== BODY) {
      // Bytes nobody asked for (idle connection): it cannot be trusted for reuse.
      this.socket.destroy();
      return;
    }
    this.#buf = this.#buf === undefined ? chunk : Buffer.concat([this.#buf, chunk]);
    try {
      this.#readHead();
    } catch (err) {
      this.#fail(
        err instanceof HeadError || err instanceof BodyError
          ? new EdgeError("upstream_failed", `invalid response from the origin: ${err.message}`, {
              cause: err,
            })
          : err,
      );
    }
  };

  #readHead(): void {
    while (this.state === HEAD && this.#buf !== undefined) {
      const buf = this.#buf;
      const limits = this.#pool.limits.head;
      const end = findHeadEnd(buf, this.#scanFrom, limits);
      if (end < 0) {
        this.#scanFrom = resumeAt(buf);
        return;
      }
      const p = parseResponseHead(buf, end, limits);
      this.#scanFrom = 0;
      const rest = end === buf.length ? undefined : buf.subarray(end);
      this.#buf = rest;
      const req = this.#req;
      const call = this.#call;
      if (req === undefined || call === undefined)
        throw new Error("a response head without a request");
      if (p.status < 200) {
        if (p.status === 101 && req.upgrade !== undefined) {
          this.state = GONE;
          this.deadline = 0;
          this.#detach();
          call.upgraded(p.status, p.rawHeaders, this.socket, rest ?? Buffer.alloc(0));
          return;
        }
        if (p.status === 101) throw new HeadError(502, "ORIGIN", "unrequested protocol switch");
        continue; // interim (100, 103): the final response follows
      }
      const noBody = req.method === "HEAD" || p.status === 204 || p.status === 304;
      let length = -1;
      this.#untilClose = false;
      if (noBody) {
        this.#decoder = undefined;
        length = 0;
      } else if (p.teCount > 0) {
        // RFC 9112 §6.1: with Transfer-Encoding, Content-Length must not be forwarded; one that
        // carries both, or a coding we would have to undo, is not relayed.
        if (p.contentLength !== -1 || !isChunkedOnly(p)) {
          throw new HeadError(502, "ORIGIN", "unsupported response framing");
        }
        this.#decoder = new ChunkedBody();
      } else if (p.contentLength === -2) {
        throw new HeadError(502, "ORIGIN", "invalid Content-Length");
      } else if (p.contentLength >= 0) {
        length = p.contentLength;
        this.#decoder = new LengthBody(length);
      } else {
        this.#untilClose = true;
        this.#decoder = undefined;
      }
      this.#keepAlive =
        !this.#untilClose &&
        (p.versionMinor === 1 ? !p.connClose : p.connKeepAlive && !p.connClose);
      this.state = BODY;
      this.deadline = performance.now() + this.#pool.limits.bodyIdleTimeoutMs;
      call.responseHead(p.status, p.rawHeaders, length, noBody);
      if (noBody || length === 0) {
        this.#bodyEnded(rest);
        return;
      }
      this.#buf = undefined;
      if (rest !== undefined) this.#feedBody(rest);
      return;
    }
  }

  #feedBody(chunk: Buffer): void {
    if (this.#untilClose) {
      this.#deliver(chunk);
      return;
    }
    let end: number;
    try {
      if (this.#decoder === undefined) throw new Error("no body decoder");
      end = this.#decoder.feed(chunk, 0, this.#deliver);
    } catch (err) {
      this.#fail(
        new EdgeError("upstream_failed", `invalid response body: ${(err as Error).message}`, {
          cause: err,
        }),
      );
      return;
    }
    if (end >= 0) this.#bodyEnded(end === chunk.length ? undefined : chunk.subarray(end));
  }

  readonly #deliver = (chunk: Buffer) => {
    if (this.#call?.data(chunk) === false) this.socket.pause();
  };

  /** The call's client can take more (origin-call.ts). */
  resume(): void {
    if (this.state === BODY) {
      this.deadline = performance.now() + this.#pool.limits.bodyIdleTimeoutMs;
      this.socket.resume();
    }
  }

  #bodyEnded(extra: Buffer | undefined): void {
    const call = this.#call;
    this.#call = undefined;
    this.#decoder = undefined;
    this.state = IDLE;
    this.deadline = 0;
    // Bytes beyond the response: the origin is out of step with us; never reuse it.
    if (extra !== undefined && extra.length > 0) this.#keepAlive = false;
    call?.ended();
    if (this.#requestBodyDone) this.#release();
    // else: released when the request body has gone up (bodyConsumer.end)
  }

  #release(): void {
    this.served++;
    this.#req = undefined;
    this.socket.resume();
    if (!this.#keepAlive || this.slot === undefined) {
      this.#close();
      return;
    }
    this.deadline = performance.now() + this.#pool.limits.keepAliveMs;
    this.#pool.released(this);
  }

  /** Abort the exchange in progress (the client left, or a policy replaced the response). */
  abort(): void {
    if (this.state === CONNECTING || this.state === READY) {
      this.pending = undefined;
      this.#call = undefined;
      this.#close();
      return;
    }
    if (this.state === GONE || this.state === IDLE) return;
    this.#call = undefined;
    this.#close(true);
  }

  #fail(err: unknown): void {
    const call = this.#call;
    this.#call = undefined;
    this.#close(true);
    call?.failed(asEdgeError(err));
  }

  /** `reset`: an exchange is abandoned mid-way; a RST tells the origin at once (RFC 9293 §3.6). */
  #close(reset = false): void {
    if (this.state === GONE) return;
    this.state = GONE;
    this.deadline = 0;
    // A TLS socket has no TCP handle of its own to reset (resetAndDestroy throws
    // ERR_INVALID_HANDLE_TYPE on it): it is closed.
    if (reset && !this.socket.connecting && !this.#tls) this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  /** The socket belongs to the upgrade relay now. */
  #detach(): void {
    unlisten(this.socket, this.#listeners);
    this.#pool.gone(this);
  }

  timeout(): void {
    if (this.state === IDLE) {
      // Unused for keepAliveMs: let it go.
      this.#close();
      return;
    }
    if (this.state === READY) {
      this.#fail(new EdgeError("internal", "a reserved origin connection was never used"));
      return;
    }
    if (this.state === CONNECTING) {
      this.#lastError = new EdgeError("connect_timeout", "connecting to the origin timed out");
      this.socket.destroy(); // #onClose fails the waiting request
      return;
    }
    if (this.state === HEAD && !this.#requestBodyDone && !this.#bodyWaits) {
      // Mid-upload, and the origin is keeping up: it is the client that stopped sending.
      this.#fail(new EdgeError("request_timeout", "the request body stalled"));
      return;
    }
    this.#fail(new EdgeError("upstream_timeout", "the origin did not answer in time"));
  }

  readonly #onEnd = () => {
    if (this.state === BODY && this.#untilClose) {
      this.#keepAlive = false;
      this.#bodyEnded(undefined);
      return;
    }
    this.socket.destroy();
  };

  readonly #onError = (err: Error) => {
    this.#lastError = err;
    this.socket.destroy();
  };
  #lastError: Error | undefined;

  readonly #listeners: SocketListeners = {
    data: (chunk) => this.#onData(chunk),
    end: () => this.#onEnd(),
    error: (err) => this.#onError(err),
    close: () => this.#onClose(),
  };

  readonly #onClose = () => {
    const state = this.state;
    this.state = GONE;
    this.deadline = 0;
    this.#pool.gone(this);
    if (state === CONNECTING) {
      const p = this.pending;
      this.pending = undefined;
      p?.call.failed(socketFailure(this.#lastError, true));
      return;
    }
    if (state === READY) {
      const call = this.#call;
      this.#call = undefined;
      call?.failed(new EdgeError("upstream_failed", "the origin closed the connection"));
      return;
    }
    if (state !== HEAD && state !== BODY) return;
    const call = this.#call;
    this.#call = undefined;
    if (call === undefined) return;
    const req = this.#req;
    // A kept-alive connection the origin closed just as we reused it: nothing was received,
    // and a request without a body can be sent again on a new connection (once).
    if (
      state === HEAD &&
      !this.#gotBytes &&
      this.served > 0 &&
      !call.retried &&
      req !== undefined &&
      !req.body?.hasBody
    ) {
      call.retried = true;
      this.#pool.request(this.target, req, call);
      return;
    }
    call.failed(
      state === HEAD
        ? this.#lastError === undefined
          ? new EdgeError("upstream_failed", "the origin closed the connection")
          : socketFailure(this.#lastError, false)
        : new EdgeError("upstream_failed", "the origin closed the connection mid-response"),
    );
  };
}

export class OriginPool {
  readonly limits: OriginPoolLimits;
  readonly connectLatency: (seconds: number) => void;
  readonly #slots = new Map<string, Slot>();
  /** Origins that spoke h2 (ALPN): their shared session, by pool key. */
  readonly #h2 = new Map<string, H2Origin>();
  /** Every h2 session open (a second one to a key serves its first request, then closes). */
  readonly #h2All = new Set<H2Origin>();
  readonly #sweep: Sweep<OriginConnection>;
  #closed = false;

  /** The same limits, as h2 sessions to origins apply them. */
  readonly h2Limits: H2OriginLimits;

  constructor(limits: OriginPoolLimits, connectLatency: (seconds: number) => void) {
    this.limits = limits;
    this.connectLatency = connectLatency;
    this.h2Limits = {
      responseTimeoutMs: limits.responseTimeoutMs,
      bodyIdleTimeoutMs: limits.bodyIdleTimeoutMs,
      keepAliveMs: limits.keepAliveMs,
      maxHeaderBytes: limits.head.maxHeadBytes,
      maxHeaderCount: limits.head.maxHeaderCount,
    };
    this.#sweep = new Sweep(
      Math.min(limits.connectTimeoutMs, limits.responseTimeoutMs, limits.bodyIdleTimeoutMs),
    );
  }

  /**
   * Get `call` a connection to `target`: an idle kept-alive one now, a new one (dialled only to
   * that address), or one that comes free after those of other clients (fair share). The call
   * hears `connected` (or `failed`); forward then sends on it with `send`.
   */
  connect(target: OriginTarget, call: OriginCall): void {
    this.#acquire({ target, req: undefined, call });
  }

  /** Send `req` on the connection `call` got from `connect`; `call` hears the response. */
  send(req: OriginRequest, call: OriginCall): void {
    const c = call.connection;
    if (c === undefined) {
      call.failed(new EdgeError("internal", "no origin connection to send on"));
      return;
    }
    c.send(req, call);
  }

  /** Connect and send at once (a request sent again after a stale kept-alive connection). */
  request(target: OriginTarget, req: OriginRequest, call: OriginCall): void {
    this.#acquire({ target, req, call });
  }

  /** An h2 session to `w`'s origin with room for a stream: the request goes there. */
  #viaH2(w: Waiting): boolean {
    if (w.target.tls === undefined || w.target.fresh) return false;
    const h2 = this.#h2.get(w.target.key);
    if (h2 === undefined || !h2.usable) return false;
    const link = new H2Link(h2);
    if (w.req === undefined) w.call.connected(link);
    else link.send(w.req, w.call);
    return true;
  }

  /**
   * A new TLS connection's origin chose h2 (its certificate verified): it becomes the key's
   * session, unless one with room is open already (then it serves the request it was dialled
   * for and closes). Requests waiting for that origin go to it.
   */
  h2Ready(c: OriginConnection, socket: TLSSocket): void {
    const key = c.target.key;
    const authority = `https://${c.target.tls?.servername ?? c.target.ip}:${c.target.port}`;
    const origin: H2Origin = new H2Origin(socket, authority, this.h2Limits, () => {
      this.#h2All.delete(origin);
      if (this.#h2.get(key) === origin) this.#h2.delete(key);
    });
    this.#h2All.add(origin);
    const current = this.#h2.get(key);
    if (current === undefined || !current.usable) this.#h2.set(key, origin);
    else origin.session.close();
    const p = c.pending;
    c.pending = undefined;
    if (p !== undefined && !p.call.over) {
      const link = new H2Link(origin);
      if (p.req === undefined) p.call.connected(link);
      else link.send(p.req, p.call);
    }
    this.gone(c);
  }

  #acquire(w: Waiting): void {
    if (this.#closed) {
      w.call.failed(new EdgeError("unavailable", "the proxy is shutting down"));
      return;
    }
    if (w.target.fresh) {
      this.#dial(w, undefined);
      return;
    }
    if (this.#viaH2(w)) return;
    const key = w.target.key;
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = new Slot(key);
      this.#slots.set(key, slot);
    }
    const share = slot.share(w.target.client);
    // Behind others of the same client, or at its own bound: wait in its queue.
    if (share.queue.length > 0 || share.busy >= this.limits.perClient) {
      slot.enqueue(share, w);
      return;
    }
    if (!this.#dispatch(slot, share, w)) slot.enqueue(share, w);
  }

  /** Give `w` an idle connection or a new one; false when the origin is at its limit. */
  #dispatch(slot: Slot, share: ClientShare, w: Waiting): boolean {
    if (this.#viaH2(w)) return true;
    const idle = slot.idle.pop();
    if (idle !== undefined) {
      share.busy++;
      idle.share = share;
      if (w.req === undefined) idle.reserve(w.call);
      else idle.send(w.req, w.call);
      return true;
    }
    if (slot.active >= this.limits.perOrigin) return false;
    slot.active++;
    share.busy++;
    this.#dial(w, slot).share = share;
    return true;
  }

  /** Connections came free (or room to dial): hand them to waiting clients, fairest first. */
  #serveWaiting(slot: Slot): void {
    while (slot.queued > 0) {
      if (slot.idle.length === 0 && slot.active >= this.limits.perOrigin) return;
      const n = slot.next(this.limits.perClient);
      if (n === undefined) return;
      // A request whose client went away while it waited is dropped, not sent.
      if (n.w.call.over) {
        if (n.share.busy === 0 && n.share.queue.length === 0) slot.clients.delete(n.share.key);
        continue;
      }
      this.#dispatch(slot, n.share, n.w);
    }
  }

  #dial(w: Waiting, slot: Slot | undefined): OriginConnection {
    const c = new OriginConnection(this, w.target, slot);
    this.#sweep.items.add(c);
    c.pending = { req: w.req, call: w.call };
    w.call.bind(c);
    c.onConnected(() => {
      const p = c.pending;
      c.pending = undefined;
      if (p === undefined) return;
      if (p.req === undefined) c.reserve(p.call);
      else c.send(p.req, p.call);
    });
    return c;
  }

  /** A connection is free for the next request of its origin. */
  released(c: OriginConnection): void {
    const slot = c.slot;
    if (slot === undefined) return;
    if (c.share !== undefined) slot.free(c.share);
    c.share = undefined;
    slot.idle.push(c);
    this.#serveWaiting(slot);
  }

  /** A connection closed (or was handed over): it no longer counts. */
  gone(c: OriginConnection): void {
    if (!this.#sweep.items.delete(c)) return;
    const slot = c.slot;
    if (slot === undefined) return;
    slot.active--;
    if (c.share !== undefined) slot.free(c.share);
    c.share = undefined;
    const i = slot.idle.indexOf(c);
    if (i >= 0) slot.idle.splice(i, 1);
    this.#serveWaiting(slot);
    // An origin with nothing open and nobody waiting is forgotten: the map stays bounded by
    // the origins in use, not by every address ever dialled.
    if (slot.active === 0 && slot.queued === 0) this.#slots.delete(slot.key);
  }

  /** Connections and waiting requests now (for the metrics, read when scraped). */
  stats(): { active: number; idle: number; queued: number } {
    let idle = 0;
    let queued = 0;
    for (const slot of this.#slots.values()) {
      idle += slot.idle.length;
      queued += slot.queued;
    }
    return { active: this.#sweep.items.size - idle + this.#h2All.size, idle, queued };
  }

  /** Close every connection (shutdown). */
  destroy(): void {
    this.#closed = true;
    this.#sweep.stop();
    for (const c of this.#sweep.items) c.socket.destroy();
    for (const h of this.#h2All) h.destroy();
    for (const slot of this.#slots.values()) {
      for (const share of slot.waiting) {
        for (const q of share.queue) {
          q.call.failed(new EdgeError("unavailable", "the proxy is shutting down"));
        }
        share.queue.length = 0;
      }
      slot.waiting.length = 0;
      slot.queued = 0;
    }
  }
}

export type { OriginConnection };
