// The client side of the proxy: an HTTP/1.1 server loop on plain TCP sockets. One connection
// object per socket reads a head (syntax.ts), hands the request to the proxy, reads the body only
// for the consumer the proxy attaches (body.ts), and reads the next request only once the
// response went out: pipelined requests wait in order, and nothing after a refused request is
// ever parsed. CONNECT and upgrade requests hand the socket over with the bytes that followed
// the head. Time limits are checked by one sweep per server, not a timer per request.

import { createServer, type Server, type Socket } from "node:net";
import { EdgeError } from "@gatehouse/contract/errors";
import { ConnectionLimiter, type ConnectionRefusal } from "../../net/connection-limiter.ts";
import { listen, type SocketListeners, Sweep, unlisten } from "../../net/sweep.ts";
import { type BodyDecoder, BodyError, ChunkedBody, LengthBody } from "./body.ts";
import {
  type BodyConsumer,
  type BodySource,
  ClientRequest,
  type ClientResponse,
  Http1Response,
  type ResponseSink,
} from "./message.ts";
import {
  findHeadEnd,
  HeadError,
  type HeadLimits,
  isChunkedOnly,
  parseRequestHead,
  resumeAt,
} from "./syntax.ts";

export interface ServerLimits extends HeadLimits {
  readonly headersTimeoutMs: number;
  /** Whole request (head and body) from its first byte; 0: unlimited. */
  readonly requestTimeoutMs: number;
  /** Between requests on a kept-alive connection. */
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  /** Connections at once from one source (IPv4 address, IPv6 /64). */
  readonly maxConnectionsPerSource: number;
  /** After our side is closed, the client's time to close its own before the socket is cut. */
  readonly closeGraceMs: number;
}

/** Why a connection is answered without a request: the head or body was bad, or too slow. */
export interface ClientFault {
  readonly status: number;
  /** Low-cardinality cause, as the proxy's metrics name it. */
  readonly cause: "bad_request" | "headers_too_large" | "request_timeout";
  readonly detail: string;
}

export interface ServerHandlers {
  /** A request with a body-less or framed body: answer through `res`. */
  request(req: ClientRequest, res: ClientResponse): void;
  /** CONNECT, or an upgrade: the socket is the handler's now, `head` the bytes read after it. */
  connect(req: ClientRequest, socket: Socket, head: Buffer): void;
  upgrade(req: ClientRequest, socket: Socket, head: Buffer): void;
  /** A bad or slow client; `answer` is whether it may still be answered (with `fault.status`). */
  fault(fault: ClientFault, socket: Socket, answerable: boolean): void;
  /** A client connection was accepted; `closed` follows once it closed (even handed over). */
  connection?(socket: Socket): void;
  closed?(): void;
  /** A connection refused at accept (and destroyed): its source or the listener is full. */
  refused?(reason: ConnectionRefusal): void;
  /**
   * A connection cut: close_grace = it did not close within closeGraceMs of ours; not_reading =
   * it took no byte of its response for idleTimeoutMs while output was queued for it.
   */
  cut?(reason: "close_grace" | "not_reading"): void;
}

/** Pipelined bytes kept while a response is in progress before the socket is paused. */
const MAX_AHEAD_BYTES = 64 * 1024;

// Connection states.
const HEAD = 0;
const BODY = 1;
const WAIT = 2;
const GONE = 3;

class Connection implements BodySource, ResponseSink {
  readonly socket: Socket;
  readonly #server: Http1Server;
  /** The peer address holding a connection slot; undefined for an adopted (inner) socket. */
  readonly #slot: string | undefined;
  #state = HEAD;
  /** Unconsumed bytes; in HEAD they start at the message's first byte. */
  #buf: Buffer | undefined;
  #scanFrom = 0;
  #decoder: BodyDecoder | undefined;
  #consumer: BodyConsumer | undefined;
  #consumerPaused = false;
  #req: ClientRequest | undefined;
  #res: Http1Response | undefined;
  #responseDone = false;
  #clientEnded = false;
  /** Performance-clock deadline the sweep enforces (0: none) and what it means. */
  deadline = 0;
  #deadlineIsIdle = false;
  /** The current request's first byte (for the whole-request limit). */
  #requestStart = 0;
  /** Response bytes the socket had handed on at the last send check (-1: none yet). */
  #sentAtCheck = -1;

  constructor(socket: Socket, server: Http1Server, slot: string | undefined) {
    this.socket = socket;
    this.#server = server;
    this.#slot = slot;
    listen(socket, this.#listeners);
    // A new connection must show a request head in time, like one that started sending it.
    this.deadline = performance.now() + server.limits.headersTimeoutMs;
  }

  /** Shutdown: close a connection waiting between requests (cut if the client stays). */
  closeIdle(): void {
    this.#end();
  }

  /** Waiting between requests with nothing read: may be closed at once on shutdown. */
  get idle(): boolean {
    return this.#state === HEAD && this.#buf === undefined && this.#req === undefined;
  }

  #onData(chunk: Buffer): void {
    const buf = this.#buf;
    this.#buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
    this.#process();
  }

  #process(): void {
    try {
      while (this.#buf !== undefined) {
        if (this.#state === HEAD) {
          if (!this.#readHead()) return;
        } else if (this.#state === BODY) {
          if (!this.#readBody()) return;
        } else {
          // WAIT: the next pipelined request is read after this response.
          if (this.#buf.length > MAX_AHEAD_BYTES) this.socket.pause();
          return;
        }
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Parse a head if a whole one is buffered; false when more bytes are needed. */
  #readHead(): boolean {
    let buf = this.#buf;
    if (buf === undefined) return false;
    if (this.#scanFrom === 0) {
      if (this.#requestStart === 0 || this.#deadlineIsIdle) this.#startRequest();
      // RFC 9112 §2.2: empty lines before a request-line are ignored.
      let skip = 0;
      while (buf.length >= skip + 2 && buf[skip] === 13 && buf[skip + 1] === 10) skip += 2;
      if (skip > 0) {
        buf = skip === buf.length ? Buffer.alloc(0) : buf.subarray(skip);
        this.#buf = buf.length === 0 ? undefined : buf;
        if (buf.length === 0) return false;
      }
      if (buf.length === 1 && buf[0] === 13) return false;
    }
    const limits = this.#server.limits;
    const end = findHeadEnd(buf, this.#scanFrom, limits);
    if (end < 0) {
      this.#scanFrom = resumeAt(buf);
      return false;
    }
    if (end > limits.maxHeadBytes) {
      throw new HeadError(431, "HEAD_TOO_LARGE", "request header fields too large");
    }
    const parsed = parseRequestHead(buf, end, limits);
    this.#scanFrom = 0;
    this.#buf = end === buf.length ? undefined : buf.subarray(end);
    let decoder: BodyDecoder | undefined;
    if (parsed.teCount > 0) {
      // Anything but a lone `chunked` cannot be framed: the head checks refuse it, and nothing
      // after it on this connection is read.
      decoder = isChunkedOnly(parsed) ? new ChunkedBody() : undefined;
    } else if (parsed.contentLength > 0) decoder = new LengthBody(parsed.contentLength);
    const framable = parsed.teCount === 0 ? parsed.contentLength !== -2 : decoder !== undefined;
    const req = new ClientRequest(parsed, this.socket, this, decoder !== undefined || !framable);
    this.#req = req;
    this.#decoder = decoder;
    this.#consumer = undefined;
    this.#consumerPaused = false;
    this.#responseDone = false;
    // The proxy decides what happens from here; the sweep's head limit no longer applies.
    this.deadline = this.#wholeRequestDeadline();
    const handlers = this.#server.handlers;
    if (parsed.method === "CONNECT") {
      this.#handOver();
      handlers.connect(req, this.socket, this.#takeBuffered());
      return false;
    }
    if (req.connectionUpgrade && req.header("upgrade") !== undefined) {
      this.#handOver();
      handlers.upgrade(req, this.socket, this.#takeBuffered());
      return false;
    }
    this.#state = decoder === undefined ? WAIT : BODY;
    if (!framable) this.#state = WAIT; // never read past a head we cannot frame
    const res = new Http1Response(req, this);
    this.#res = res;
    handlers.request(req, res);
    return this.#state !== GONE;
  }

  #startRequest(): void {
    this.#requestStart = performance.now();
    this.#deadlineIsIdle = false;
    this.deadline = this.#requestStart + this.#server.limits.headersTimeoutMs;
  }

  #wholeRequestDeadline(): number {
    const t = this.#server.limits.requestTimeoutMs;
    if (this.#decoder === undefined) return this.#sendWatch(this.#requestStart);
    return t === 0 ? 0 : this.#requestStart + t;
  }

  /**
   * While a response is on its way (the body, if any, is read): every idleTimeoutMs the sweep
   * checks that the client took some of what is queued for it (#checkSending).
   */
  #sendWatch(from: number): number {
    this.#sentAtCheck = -1;
    return from + this.#server.limits.idleTimeoutMs;
  }

  /**
   * A client that reads nothing holds at most one response in our buffers (the next request is
   * parsed only after it went out, an origin body is paused), but it would hold its connection
   * and slot for good: output queued and not one byte of it taken since the last check → cut.
   */
  #checkSending(): void {
    const s = this.socket;
    const sent = s.bytesWritten - s.writableLength;
    if (s.writableLength > 0 && sent === this.#sentAtCheck) {
      this.#state = GONE;
      s.destroy();
      this.#server.handlers.cut?.("not_reading");
      return;
    }
    this.#sentAtCheck = sent;
    this.deadline = performance.now() + this.#server.limits.idleTimeoutMs;
  }

  /** Feed buffered body bytes to the consumer; false when more are needed or it paused. */
  #readBody(): boolean {
    const consumer = this.#consumer;
    const buf = this.#buf;
    if (buf === undefined) return false;
    if (consumer === undefined || this.#consumerPaused) {
      // Nobody reads the body yet (the proxy is still deciding): keep a bounded amount.
      if (buf.length > MAX_AHEAD_BYTES) this.socket.pause();
      return false;
    }
    const decoder = this.#decoder;
    if (decoder === undefined) throw new Error("request body without a decoder");
    const end = decoder.feed(buf, 0, this.#deliver);
    if (end < 0) {
      this.#buf = undefined;
      this.#checkTruncated();
      return false;
    }
    this.#buf = end === buf.length ? undefined : buf.subarray(end);
    this.#bodyComplete(consumer);
    return true;
  }

  readonly #deliver = (chunk: Buffer) => {
    if (this.#consumer?.data(chunk) === false) {
      this.#consumerPaused = true;
      this.socket.pause();
    }
  };

  #bodyComplete(consumer: BodyConsumer): void {
    if (this.#req !== undefined) this.#req.complete = true;
    this.#state = WAIT;
    this.deadline = this.#sendWatch(performance.now());
    consumer.end();
    if (this.#responseDone) this.#next(this.#res?.closing ?? true);
  }

  // BodySource: what forward calls on the request.
  attach(consumer: BodyConsumer): void {
    this.#consumer = consumer;
    if (this.#req?.complete !== false) {
      consumer.end();
      return;
    }
    if (this.#state !== BODY) {
      // The connection went away (or its framing was refused) before the body could be read.
      consumer.error(aborted("the request body ended early"));
      return;
    }
    this.socket.resume();
    this.#process();
    this.#checkTruncated();
  }

  /** The client sent FIN mid-body and every byte it sent is consumed: the body is cut short. */
  #checkTruncated(): void {
    if (this.#clientEnded && this.#state === BODY && this.#buf === undefined) {
      this.#state = GONE;
      this.#consumer?.error(aborted("the request body ended early"));
    }
  }

  resume(): void {
    if (!this.#consumerPaused) return;
    this.#consumerPaused = false;
    this.socket.resume();
    this.#process();
  }

  // ResponseSink: the response went out.
  finished(close: boolean): void {
    this.#responseDone = true;
    if (this.#state === BODY || this.#state === GONE) {
      // Answered before the body was read (a refusal, or an origin that did not wait for it):
      // draining it would let the client hold the connection for nothing. Or the connection
      // was already given up (a fault): end it now that the answer is out.
      const unread = this.#state === BODY ? this.#consumer : undefined;
      this.#end();
      unread?.error(aborted("answered before the request body was read"));
      return;
    }
    if (this.#state === WAIT) this.#next(close);
  }

  /** The exchange is over: end the connection, or read the next request. */
  #next(close: boolean): void {
    this.#req = undefined;
    this.#res = undefined;
    this.#decoder = undefined;
    this.#consumer = undefined;
    if (close || this.#clientEnded || this.#server.closing) {
      this.#end();
      return;
    }
    this.#state = HEAD;
    this.#requestStart = 0;
    this.#deadlineIsIdle = true;
    this.deadline = performance.now() + this.#server.limits.idleTimeoutMs;
    this.socket.resume();
    if (this.#buf !== undefined) this.#process();
  }

  #end(): void {
    this.#state = GONE;
    this.#buf = undefined;
    this.socket.end();
    this.#graceDeadline();
  }

  /** Our side is closed: the client gets closeGraceMs to close its own, then it is cut. */
  #graceDeadline(): void {
    this.deadline = performance.now() + this.#server.limits.closeGraceMs;
  }

  #handOver(): void {
    this.#state = GONE;
    this.deadline = 0;
    unlisten(this.socket, this.#listeners);
    this.#server.forget(this);
    // The slot stays taken while the new owner (tunnel, upgrade) holds the socket.
    const slot = this.#slot;
    if (slot !== undefined) this.socket.once("close", () => this.#server.closed(slot));
  }

  #takeBuffered(): Buffer {
    const b = this.#buf;
    this.#buf = undefined;
    return b ?? Buffer.alloc(0);
  }

  /** A bad head or body, or a slow client: answer if the protocol still allows it, then close. */
  #fail(err: unknown): void {
    let fault: ClientFault;
    if (err instanceof HeadError) {
      fault = {
        status: err.status,
        cause: err.status === 431 ? "headers_too_large" : "bad_request",
        detail: err.message,
      };
    } else if (err instanceof BodyError) {
      fault = {
        status: 400,
        cause: "bad_request",
        detail: `malformed request body: ${err.message}`,
      };
    } else throw err;
    this.#fault(fault);
  }

  #fault(fault: ClientFault): void {
    const req = this.#req;
    const res = this.#res;
    const state = this.#state;
    this.#state = GONE;
    this.deadline = 0;
    this.#buf = undefined;
    this.socket.pause();
    if (state === BODY && this.#consumer !== undefined) {
      // The body's consumer (the origin request) must not complete it: abort it.
      this.#consumer.error(
        new EdgeError("bad_request", "malformed request body", { cause: fault }),
      );
    }
    if (req !== undefined && res !== undefined && !this.#responseDone) {
      // A request in progress: its own answer (the pipeline's) must come first, if any. If the
      // body was bad, the pipeline sees the consumer's error and answers 400 itself.
      if (state === BODY) return;
      res.onClientClose = undefined;
    }
    this.#server.handlers.fault(fault, this.socket, req === undefined || this.#responseDone);
    this.#graceDeadline();
  }

  /** Called by the sweep when `deadline` passed. */
  timeout(): void {
    this.deadline = 0;
    if (this.#state === GONE) {
      // We closed our side closeGraceMs ago and the client has not closed its own (it may not
      // even read): a socket that looks closed must not keep its slot.
      this.socket.destroy();
      this.#server.handlers.cut?.("close_grace");
      return;
    }
    if (this.#state === WAIT) {
      this.#checkSending();
      return;
    }
    if (this.#deadlineIsIdle) {
      // Nothing of a next request arrived: a quiet close, no answer owed.
      this.#end();
      return;
    }
    if (this.#state === HEAD) {
      this.#fault({ status: 408, cause: "request_timeout", detail: "request head too slow" });
      return;
    }
    // The whole-request limit during the body: the exchange cannot complete.
    this.#consumer?.error(aborted("request body too slow"));
    if (this.#res !== undefined && !this.#res.headersSent) {
      this.#state = GONE;
      this.#server.handlers.fault(
        { status: 408, cause: "request_timeout", detail: "request body too slow" },
        this.socket,
        true,
      );
      this.#graceDeadline();
    } else this.socket.destroy();
  }

  #onEnd(): void {
    this.#clientEnded = true;
    if (this.#state === HEAD) {
      if (this.#buf !== undefined && this.#req === undefined) {
        // A partial head and then FIN: never a request.
        this.#fault({ status: 400, cause: "bad_request", detail: "incomplete request head" });
      } else if (this.#req === undefined) this.#end();
    } else if (this.#state === BODY && this.#consumer !== undefined) {
      // Without a consumer yet, attach() finds the body cut short once it has read the rest.
      this.#checkTruncated();
    }
    // WAIT: a client that half-closes while its answer is being fetched is treated as gone
    // (as squid does by default): the origin request is cancelled.
    else if (this.#state === WAIT) this.socket.destroy();
  }

  #onError(): void {
    this.socket.destroy();
  }

  readonly #listeners: SocketListeners = {
    data: (chunk) => this.#onData(chunk),
    end: () => this.#onEnd(),
    error: () => this.#onError(),
    close: () => this.#onClose(),
  };

  #onClose(): void {
    const wasBody = this.#state === BODY;
    this.#state = GONE;
    this.deadline = 0;
    this.#server.forget(this);
    if (this.#slot !== undefined) this.#server.closed(this.#slot);
    if (wasBody) this.#consumer?.error(aborted("the client went away"));
    this.#res?.clientClosed();
  }
}

function aborted(message: string): Error {
  return new EdgeError("client_aborted", message);
}

export class Http1Server {
  readonly limits: ServerLimits;
  readonly handlers: ServerHandlers;
  readonly server: Server;
  closing = false;
  readonly #sweep: Sweep<Connection>;
  /** Slots in total and per source; a connection's slot is freed when it closes (even handed over). */
  readonly #slots: ConnectionLimiter;

  constructor(limits: ServerLimits, handlers: ServerHandlers) {
    this.limits = limits;
    this.handlers = handlers;
    this.#slots = new ConnectionLimiter({
      total: limits.maxConnections,
      perSource: limits.maxConnectionsPerSource,
    });
    // allowHalfOpen: a client that sends FIN after its request still gets the answer, and a
    // tunnel's half-close is relayed in order.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      // The slot is given back by the connection's own close listener (closed() below): no
      // listener of its own per connection.
      const ip = socket.remoteAddress ?? "";
      const refused = this.#slots.acquire(ip);
      if (refused !== undefined) {
        // Nothing was read: an answer would meet the request's unread bytes and be reset.
        socket.destroy();
        handlers.refused?.(refused);
        return;
      }
      this.#sweep.items.add(new Connection(socket, this, ip));
      handlers.connection?.(socket);
    });
    this.#sweep = new Sweep(
      Math.min(limits.headersTimeoutMs, limits.idleTimeoutMs, limits.closeGraceMs),
    );
  }

  /**
   * Serve a socket accepted elsewhere: the decrypted side of an inspected CONNECT. Its slot was
   * taken when the client connected to the listener; the same head, body and time limits apply.
   */
  adopt(socket: Socket): void {
    this.#sweep.items.add(new Connection(socket, this, undefined));
  }

  /** A client connection from `ip` closed: its slot is free. */
  closed(ip: string): void {
    this.#slots.release(ip);
    this.handlers.closed?.();
  }

  forget(c: Connection): void {
    this.#sweep.items.delete(c);
  }

  /** Stop accepting; close connections waiting between requests. */
  stop(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.#sweep.items) if (c.idle) c.closeIdle();
    return closed;
  }

  /** Bytes written to client sockets that they have not taken yet (a gauge, when scraped). */
  queuedBytes(): number {
    let n = 0;
    for (const c of this.#sweep.items) n += c.socket.writableLength;
    return n;
  }

  /** Cut every connection still open (after the grace period). */
  destroyAll(): void {
    this.#sweep.stop();
    for (const c of this.#sweep.items) c.socket.destroy();
    this.#sweep.items.clear();
  }
}
