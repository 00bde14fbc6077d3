// The request and response objects the proxy's stages see for one client request, made by the
// connection loop (server.ts). A request is its parsed head plus a body that is handed to one
// consumer with backpressure; a response writes to the client socket with the framing this hop
// chooses (the origin's Content-Length, or chunked, or close-delimited for HTTP/1.0 clients).

import type { Socket } from "node:net";
import { http } from "../../net/node-http.ts";
import { fieldName, fieldValue } from "../field-list.ts";
import { LAST_CHUNK, writeChunk } from "./body.ts";
import type { ParsedRequest } from "./syntax.ts";

/** Where request body bytes go: `data` returns false to ask for a pause (resumeBody later). */
export interface BodyConsumer {
  data(chunk: Buffer): boolean;
  end(): void;
  /** The client's body turned out malformed, or the client went away mid-body. */
  error(err: Error): void;
}

/** The connection-side operations a request's body needs (server.ts implements them). */
export interface BodySource {
  attach(consumer: BodyConsumer): void;
  resume(): void;
}

export class ClientRequest {
  readonly method: string;
  /** The request-target as received. */
  readonly url: string;
  readonly httpVersionMinor: number;
  readonly rawHeaders: readonly string[];
  /** -1 none, -2 invalid or repeated (head checks refuse it), else the length. */
  readonly contentLength: number;
  readonly transferEncodingCount: number;
  /** The (last) Transfer-Encoding value as received. */
  readonly transferEncoding: string;
  readonly hostCount: number;
  /** The Expect value, lowercased, or "". */
  readonly expect: string;
  /** The client lets the connection persist after this exchange (RFC 9112 §9.3). */
  readonly keepAlive: boolean;
  /** `Connection: upgrade` was among the options. */
  readonly connectionUpgrade: boolean;
  readonly socket: Socket;
  /** Read from an HTTP/2 stream (h2/client-session.ts): its head was translated to these fields. */
  readonly http2: boolean;
  /** The whole body has been read (or there is none). */
  complete: boolean;
  readonly #source: BodySource;

  constructor(
    p: ParsedRequest,
    socket: Socket,
    source: BodySource,
    hasBody: boolean,
    http2 = false,
  ) {
    this.method = p.method;
    this.url = p.target;
    this.httpVersionMinor = p.versionMinor;
    this.rawHeaders = p.rawHeaders;
    this.contentLength = p.contentLength;
    this.transferEncodingCount = p.teCount;
    this.transferEncoding = p.te;
    this.hostCount = p.hostCount;
    this.expect = p.expect;
    this.keepAlive = p.versionMinor === 0 ? p.connKeepAlive && !p.connClose : !p.connClose;
    this.connectionUpgrade = p.connUpgrade;
    this.socket = socket;
    this.http2 = http2;
    this.complete = !hasBody;
    this.#source = source;
  }

  get httpVersion(): string {
    return this.http2 ? "2" : `1.${this.httpVersionMinor}`;
  }

  /** The first field named `lower` (lowercase), or undefined. */
  header(lower: string): string | undefined {
    const raw = this.rawHeaders;
    const n = lower.length;
    for (let i = 0; i < raw.length; i += 2) {
      const name = fieldName(raw, i);
      if (name.length === n && (name === lower || name.toLowerCase() === lower)) return raw[i + 1];
    }
    return undefined;
  }

  /** RFC 9110 §10.1.1: the client waits for our 100 (an HTTP/1.0 client's expectation is ignored). */
  get expectContinue(): boolean {
    return this.httpVersionMinor === 1 && this.expect === "100-continue";
  }

  /** RFC 9112 §6.3: a body iff Content-Length (other than 0) or Transfer-Encoding. */
  get hasBody(): boolean {
    return this.contentLength > 0 || this.contentLength === -2 || this.transferEncodingCount > 0;
  }

  /** Start delivering the body to `consumer` (once). */
  readBody(consumer: BodyConsumer): void {
    this.#source.attach(consumer);
  }

  resumeBody(): void {
    this.#source.resume();
  }
}

/**
 * What the stages see of the response to one client request: HTTP/1.1 on a connection
 * (Http1Response below) or an HTTP/2 stream (h2/client-session.ts).
 */
export interface ClientResponse {
  headersSent: boolean;
  /** The last byte was handed to the transport and it took it. */
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  /** Called once if the client goes away before the response finished. */
  onClientClose: (() => void) | undefined;
  /** Interim 100 (RFC 9110 §15.2.1): the client may send the body it is holding back. */
  writeContinue(): void;
  /** A complete response of our own; `headers` (flat) carry Content-Length. */
  respond(status: number, headers: string[], body?: string | Buffer, onFinish?: () => void): void;
  /** Start a response whose body follows (`bodyLength` -1 when unknown). */
  start(status: number, headers: string[], bodyLength: number, noBody: boolean): void;
  /** Body bytes; false when the transport's buffer is full (wait for onDrain). */
  write(chunk: Buffer): boolean;
  onDrain(fn: () => void): void;
  end(last?: Buffer, onFinish?: () => void): void;
  /** Abort: the client gets a cut-off response (or nothing). */
  destroy(err?: Error): void;
}

/** The connection-side operations a response needs (server.ts implements them). */
export interface ResponseSink {
  /** The response is fully handed to the socket; `close` when the connection must end. */
  finished(close: boolean): void;
}

/** Status lines made once per status code (the origin's are three digits, 100-999). */
const STATUS_LINES: (string | undefined)[] = new Array(1000).fill(undefined);

/** `HTTP/1.1 <status> <reason>\r\n`. */
export function statusLine(status: number): string {
  let line = STATUS_LINES[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${http().STATUS_CODES[status] ?? ""}\r\n`;
    if (Number.isInteger(status) && status >= 100 && status < 1000) STATUS_LINES[status] = line;
  }
  return line;
}

const EMPTY = Buffer.alloc(0);

/** Responses whose last write the kernel took whole, finished together in one microtask. */
const finishing: Http1Response[] = [];
let finishScheduled = false;
const RESOLVED = Promise.resolve();

function finishSoon(res: Http1Response): void {
  finishing.push(res);
  if (!finishScheduled) {
    finishScheduled = true;
    void RESOLVED.then(finishBatch);
  }
}

function finishBatch(): void {
  // Responses finished meanwhile (the next request's, answered at once) join this batch.
  let failure: unknown;
  for (let i = 0; i < finishing.length; i++) {
    try {
      (finishing[i] as Http1Response).writtenWhole();
    } catch (err) {
      // As from a write callback: uncaught, after the rest of the batch finished.
      failure ??= err;
    }
  }
  finishing.length = 0;
  finishScheduled = false;
  if (failure !== undefined) throw failure;
}

const NO_BODY = 0;
const LENGTH = 1;
const CHUNKED = 2;
const UNTIL_CLOSE = 3;

export class Http1Response implements ClientResponse {
  readonly socket: Socket;
  headersSent = false;
  /** The last byte was handed to the socket and the socket took it. */
  writableFinished = false;
  destroyed = false;
  /** Called once if the client goes away before the response finished. */
  onClientClose: (() => void) | undefined;
  readonly #req: ClientRequest;
  readonly #sink: ResponseSink;
  #framing = NO_BODY;
  #close = false;
  #ended = false;
  #drain: (() => void) | undefined;
  #finish: (() => void) | undefined;
  /** A head from start(), sent with the first body bytes or at end(). */
  #pendingHead: string | undefined;

  /** A TLS socket (an inspected tunnel's decrypted side): its writes complete as TLS decides. */
  readonly #tls: boolean;

  constructor(req: ClientRequest, sink: ResponseSink) {
    this.socket = req.socket;
    this.#req = req;
    this.#sink = sink;
    this.#tls = (req.socket as { encrypted?: boolean }).encrypted === true;
  }

  /** Interim 100 (RFC 9110 §15.2.1): the client may send the body it is holding back. */
  writeContinue(): void {
    if (!this.headersSent && !this.destroyed) this.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
  }

  /**
   * A complete response of our own: `headers` (flat) carry Content-Length; `body` may be
   * omitted (HEAD, empty). One write.
   */
  respond(status: number, headers: string[], body?: string | Buffer, onFinish?: () => void): void {
    const bodyBytes = body === undefined ? 0 : Buffer.byteLength(body);
    const head = this.#head(status, headers, bodyBytes);
    this.#ended = true;
    this.#finish = onFinish;
    // The head is latin1 (field values may carry obs-text), a string body UTF-8: one buffer.
    const out = Buffer.allocUnsafe(head.length + bodyBytes);
    out.write(head, 0, "latin1");
    if (typeof body === "string") out.write(body, head.length, "utf8");
    else body?.copy(out, head.length);
    this.#write(out, true);
  }

  /**
   * Start a response whose body follows: `bodyLength` is the origin's Content-Length (-1 when
   * unknown, chunked or until close) or 0 for a response without a body (HEAD, 1xx, 204, 304).
   * The head goes out with the first data (`write`) or with `end`.
   */
  start(status: number, headers: string[], bodyLength: number, noBody: boolean): void {
    this.#pendingHead = this.#head(status, headers, noBody ? 0 : bodyLength);
    if (noBody) this.#framing = NO_BODY;
  }

  /** Body bytes; false when the socket's buffer is full (wait for onDrain). */
  write(chunk: Buffer): boolean {
    if (this.destroyed) return false;
    const s = this.socket;
    const head = this.#pendingHead;
    this.#pendingHead = undefined;
    if (this.#framing === CHUNKED) return writeChunk(s, chunk, head);
    if (head !== undefined) {
      s.cork();
      s.write(head, "latin1");
      const ok = s.write(chunk);
      s.uncork();
      return ok;
    }
    return s.write(chunk);
  }

  /** Call `fn` once the socket can take more. */
  onDrain(fn: () => void): void {
    this.#drain = fn;
    this.socket.once("drain", this.#onDrain);
  }
  readonly #onDrain = () => {
    const fn = this.#drain;
    this.#drain = undefined;
    fn?.();
  };

  /** The body is complete (`last`, if given, is its final data: sent with the head in one write). */
  end(last?: Buffer, onFinish?: () => void): void {
    if (this.#ended || this.destroyed) return;
    this.#ended = true;
    this.#finish = onFinish;
    const head = this.#pendingHead;
    this.#pendingHead = undefined;
    if (this.#framing === CHUNKED) {
      if (last !== undefined && last.length > 0 && !this.destroyed) {
        writeChunk(this.socket, last, head, `\r\n${LAST_CHUNK}`, this.#written);
      } else this.#write((head ?? "") + LAST_CHUNK, true);
      return;
    }
    if (last !== undefined && last.length > 0) {
      if (head !== undefined) {
        // Head and body in one buffer, one write(2).
        const out = Buffer.allocUnsafe(head.length + last.length);
        out.write(head, 0, "latin1");
        last.copy(out, head.length);
        this.#write(out, true);
      } else this.#write(last, true);
      return;
    }
    this.#write(head ?? "", true);
  }

  /** Abort: the client gets a cut-off response (or nothing) and the connection closes. */
  destroy(_err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.socket.destroy();
  }

  /** The socket closed under us (server.ts). */
  clientClosed(): void {
    if (this.writableFinished) return;
    this.destroyed = true;
    const fn = this.onClientClose;
    this.onClientClose = undefined;
    fn?.();
    const f = this.#finish;
    this.#finish = undefined;
    f?.();
  }

  /** Whether this connection ends after the response. */
  get closing(): boolean {
    return this.#close;
  }

  #head(status: number, headers: string[], bodyLength: number): string {
    if (this.headersSent) throw new Error("response head already sent");
    this.headersSent = true;
    const req = this.#req;
    let head = statusLine(status);
    let close = !req.keepAlive;
    for (let i = 0; i < headers.length; i += 2) {
      const name = fieldName(headers, i);
      const value = fieldValue(headers, i);
      if (name === "connection") {
        if (value === "close") close = true;
        continue; // stated once below
      }
      head += `${name}: ${value}\r\n`;
    }
    const noBody = req.method === "HEAD" || status === 204 || status === 304 || status < 200;
    if (noBody) this.#framing = NO_BODY;
    else if (bodyLength >= 0) this.#framing = LENGTH;
    else if (req.httpVersionMinor >= 1) {
      this.#framing = CHUNKED;
      head += "transfer-encoding: chunked\r\n";
    } else {
      // An HTTP/1.0 client knows no chunked: the body ends with the connection.
      this.#framing = UNTIL_CLOSE;
      close = true;
    }
    this.#close = close;
    // Said for HTTP/1.1 too, though it is the default there: clients and tests can see at a
    // glance that a refusal left the connection open.
    return head + (close ? "connection: close\r\n\r\n" : "connection: keep-alive\r\n\r\n");
  }

  #write(data: string | Buffer, last: boolean): void {
    if (this.destroyed) return;
    const s = this.socket;
    if (!last) {
      s.write(data, "latin1");
      return;
    }
    if (this.#tls) {
      s.write(data, "latin1", this.#written);
      return;
    }
    // No completion callback: Node schedules a tick and an object for every write that has one.
    // A write the kernel took whole (the usual case) has left nothing queued: finished in this
    // tick's batch. Otherwise an empty write behind it calls back once everything went out.
    s.write(data, "latin1");
    if (s.writableLength === 0 && !s.destroyed && s.errored === null) finishSoon(this);
    else s.write(EMPTY, this.#written);
  }

  /**
   * From finishSoon's batch: the last write went out whole earlier in this tick (finished even
   * if the socket closed since, as Node calls a completed write's callback).
   */
  writtenWhole(): void {
    this.#written();
  }

  readonly #written = (err?: Error | null) => {
    if (err) return; // the socket's close path reports it
    this.writableFinished = true;
    const f = this.#finish;
    this.#finish = undefined;
    this.#sink.finished(this.#close);
    f?.();
  };
}
