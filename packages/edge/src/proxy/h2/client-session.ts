// HTTP/2 on the decrypted side of an inspected CONNECT, when the client chose `h2` in ALPN.
// node:http2 (nghttp2) reads the frames and enforces RFC 9113's message rules before a stream
// reaches us: connection-specific fields (§8.2.2), pseudo-header fields (§8.3: the required ones,
// once, before the others, none unknown), field names and values (§8.2.1: uppercase, CR, LF, NUL
// refused), and Content-Length against the DATA received (§8.1.1): a malformed request resets
// its stream (PROTOCOL_ERROR) and never reaches a pipeline. A field whose value holds CR, LF
// or NUL is dropped by nghttp2 (never delivered, so never written into an HTTP/1.1 head). Each stream that passes becomes a
// ClientRequest with an HTTP/1.1-shaped head and an H2Response, and runs the same HTTP pipeline
// as a request read by the HTTP/1.1 loop: policies are judged per request (stream). The
// translation to that head (RFC 9113 §8.3.1): `:authority` is the Host (a Host field that names
// another authority counts as a second Host: 400), Cookie fields are joined with "; " (§8.2.3),
// and a body without Content-Length is framed chunked toward an HTTP/1.1 origin.

import type {
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
  ServerHttp2Session,
  ServerHttp2Stream,
} from "node:http2";
import type { TLSSocket } from "node:tls";
import { EdgeError } from "@gatehouse/contract/errors";
import { http2 } from "../../net/node-http.ts";
import { fieldName, fieldValue } from "../field-list.ts";
import {
  type BodyConsumer,
  type BodySource,
  ClientRequest,
  type ClientResponse,
} from "../http1/message.ts";
import type { ParsedRequest } from "../http1/syntax.ts";
import { addField, NOT_IN_H2 } from "./origin-session.ts";

export interface H2ClientLimits {
  /** SETTINGS_MAX_HEADER_LIST_SIZE, and the bound on the decoded header block. */
  readonly maxHeaderBytes: number;
  readonly maxHeaderCount: number;
  /** A session without any frame for this long is closed (GOAWAY). */
  readonly idleTimeoutMs: number;
  /** A closed session's socket still open this long after its last stream ended is cut. */
  readonly closeGraceMs: number;
}

/** SETTINGS_MAX_CONCURRENT_STREAMS we announce: requests in flight on one session. */
export const H2_CLIENT_MAX_STREAMS = 100;

function aborted(message: string): Error {
  return new EdgeError("client_aborted", message);
}

/** A stream's request body, handed to one consumer with backpressure (flow control). */
class H2Body implements BodySource {
  readonly #stream: ServerHttp2Stream;
  req: ClientRequest | undefined;
  #consumer: BodyConsumer | undefined;
  #ended = false;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
  }

  attach(consumer: BodyConsumer): void {
    const req = this.req;
    if (req === undefined) {
      consumer.error(new EdgeError("internal", "an HTTP/2 body without its request"));
      return;
    }
    if (req.complete) {
      consumer.end();
      return;
    }
    const s = this.#stream;
    if (s.destroyed || s.closed) {
      consumer.error(aborted("the request body ended early"));
      return;
    }
    this.#consumer = consumer;
    s.on("data", (chunk: Buffer) => {
      if (!consumer.data(chunk)) s.pause();
    });
    s.once("end", () => {
      this.#ended = true;
      req.complete = true;
      consumer.end();
    });
  }

  resume(): void {
    this.#stream.resume();
  }

  /** The stream closed (reset, or answered) before the body's end: its consumer must not finish. */
  cut(message: string): void {
    if (this.#ended || this.#consumer === undefined) return;
    this.#ended = true;
    this.#consumer.error(aborted(message));
  }
}

/** The response to one stream. */
export class H2Response implements ClientResponse {
  headersSent = false;
  writableFinished = false;
  destroyed = false;
  onClientClose: (() => void) | undefined;
  readonly #stream: ServerHttp2Stream;
  readonly #req: ClientRequest;
  readonly #body: H2Body;
  #pending: OutgoingHttpHeaders | undefined;
  #finish: (() => void) | undefined;

  constructor(stream: ServerHttp2Stream, req: ClientRequest, body: H2Body) {
    this.#stream = stream;
    this.#req = req;
    this.#body = body;
    stream.once("close", this.#closed);
  }

  writeContinue(): void {
    if (this.headersSent || this.destroyed) return;
    try {
      this.#stream.additionalHeaders({ ":status": 100 });
    } catch {
      // The stream is gone: its close says so.
    }
  }

  respond(status: number, headers: string[], body?: string | Buffer, onFinish?: () => void): void {
    this.start(status, headers, body === undefined ? 0 : Buffer.byteLength(body), false);
    if (body === undefined || body.length === 0) this.end(undefined, onFinish);
    else this.end(typeof body === "string" ? Buffer.from(body) : body, onFinish);
  }

  start(status: number, headers: string[], _bodyLength: number, _noBody: boolean): void {
    if (this.headersSent) throw new Error("response head already sent");
    this.headersSent = true;
    const out: OutgoingHttpHeaders = { ":status": status };
    for (let i = 0; i < headers.length; i += 2) {
      const name = fieldName(headers, i).toLowerCase();
      if (!NOT_IN_H2.has(name)) addField(out, name, fieldValue(headers, i));
    }
    this.#pending = out;
  }

  /** Send the head if it is still pending; false when the stream cannot take it. */
  #head(): boolean {
    const h = this.#pending;
    if (h === undefined) return !this.destroyed;
    this.#pending = undefined;
    try {
      this.#stream.respond(h);
      return true;
    } catch {
      // A field h2 cannot carry (two values of a single-value field): the stream is reset.
      this.destroy();
      return false;
    }
  }

  write(chunk: Buffer): boolean {
    if (this.destroyed || !this.#head()) return false;
    return this.#stream.write(chunk);
  }

  onDrain(fn: () => void): void {
    this.#stream.once("drain", fn);
  }

  end(last?: Buffer, onFinish?: () => void): void {
    if (this.destroyed) return;
    this.#finish = onFinish;
    if (!this.#head()) return;
    const done = (err?: Error | null) => {
      if (err) return; // the stream's close reports it
      this.writableFinished = true;
      // Answered before the request body's end (a refusal): RST_STREAM NO_ERROR asks the
      // client to stop sending it (RFC 9113 §8.1).
      if (!this.#req.complete) {
        this.#body.cut("answered before the request body was read");
        this.#stream.close(http2().constants.NGHTTP2_NO_ERROR);
      }
      const f = this.#finish;
      this.#finish = undefined;
      f?.();
    };
    if (last === undefined) this.#stream.end(done);
    else this.#stream.end(last, done);
  }

  destroy(_err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (!this.#stream.closed) this.#stream.close(http2().constants.NGHTTP2_INTERNAL_ERROR);
  }

  readonly #closed = () => {
    this.#body.cut("the client reset the stream");
    if (this.writableFinished) return;
    this.destroyed = true;
    const fn = this.onClientClose;
    this.onClientClose = undefined;
    fn?.();
    const f = this.#finish;
    this.#finish = undefined;
    f?.();
  };
}

/** The h2 request head as the HTTP/1.1-shaped fields the stages read. */
export function requestHead(
  headers: IncomingHttpHeaders,
  raw: readonly string[],
  endStream: boolean,
): ParsedRequest {
  const authority = headers[":authority"];
  const out: string[] = [];
  if (authority !== undefined) out.push("host", authority);
  let hostCount = authority === undefined ? 0 : 1;
  let cookie: string | undefined;
  let expect = "";
  for (let i = 0; i < raw.length; i += 2) {
    const name = fieldName(raw, i);
    const value = fieldValue(raw, i);
    if (name.charCodeAt(0) === 58 /* : */) continue;
    if (name === "cookie") {
      cookie = cookie === undefined ? value : `${cookie}; ${value}`;
      continue;
    }
    if (name === "host") {
      // The same authority twice is one; another one is a second Host (refused).
      if (authority === value) continue;
      hostCount++;
    } else if (name === "expect") expect = value.toLowerCase();
    out.push(name, value);
  }
  if (cookie !== undefined) out.push("cookie", cookie);
  const cl = headers["content-length"];
  const contentLength = cl === undefined ? -1 : /^[0-9]{1,15}$/.test(cl) ? Number(cl) : -2;
  // A body of unknown length (DATA until END_STREAM): chunked toward an HTTP/1.1 origin.
  const unknownLength = !endStream && contentLength === -1;
  return {
    method: String(headers[":method"]),
    target: String(headers[":path"] ?? ""),
    versionMinor: 1,
    rawHeaders: out,
    contentLength,
    teCount: unknownLength ? 1 : 0,
    te: unknownLength ? "chunked" : "",
    connClose: false,
    connKeepAlive: false,
    connUpgrade: false,
    hostCount,
    expect,
  };
}

/** Flat [name, value, …] from a header object (when the raw list is not given). */
function rawOf(h: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name in h) {
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else out.push(name, v);
  }
  return out;
}

/**
 * Serve h2 on a decrypted socket; every stream goes to `request`. Resolves when the session
 * (and so the socket) ends. `sessions` tracks it for shutdown.
 */
export function serveH2(
  socket: TLSSocket,
  limits: H2ClientLimits,
  request: (req: ClientRequest, res: ClientResponse) => void,
  sessions: Set<ServerHttp2Session>,
  onCut: () => void = () => {},
): Promise<void> {
  // A TLSSocket made on an accepted socket (not by a tls.Server) keeps `secureConnecting` set
  // after its handshake (tls.Server's own path clears it just before `secureConnection`), and
  // node:http2 would wait for a `secureConnect` that never comes. The handshake is done here.
  (socket as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
  const session = http2().performServerHandshake(socket, {
    settings: {
      enablePush: false,
      maxConcurrentStreams: H2_CLIENT_MAX_STREAMS,
      maxHeaderListSize: limits.maxHeaderBytes,
    },
    // The pipeline answers 431 up to maxHeaderCount fields; far beyond it nghttp2 resets.
    maxHeaderListPairs: limits.maxHeaderCount + 8,
  });
  sessions.add(session);
  // The listener keeps sockets half-open (allowHalfOpen), which node:http2 does not act on: a
  // client that ends its side sends no more frames, so its streams in flight finish and the
  // session closes.
  // Closed (idle, or the client ended its side), a session ends once its streams have, and
  // node:http2 then ends the socket and waits for the client's side to close before the
  // session's "close": a client that kept its side open (an upload it never finished, answered
  // 504) held the socket and its connection slot for good, and the exchange never ended. Once
  // closed with no stream open, the client has closeGraceMs to go (as cutAfter gives an
  // HTTP/1.1 client), then the socket is cut and counted.
  let open = 0;
  let closing = false;
  const linger = () => {
    if (!closing || open > 0) return;
    setTimeout(() => {
      if (open > 0 || socket.destroyed) return;
      session.destroy();
      socket.destroy();
      onCut();
    }, limits.closeGraceMs).unref();
  };
  const close = () => {
    session.close();
    closing = true;
    linger();
  };
  socket.once("end", close);
  session.on("error", () => session.destroy());
  session.setTimeout(limits.idleTimeoutMs, close);
  session.on("stream", (stream, headers, flags, rawHeaders) => {
    stream.on("error", () => {});
    open++;
    stream.once("close", () => {
      open--;
      linger();
    });
    const method = headers[":method"];
    // CONNECT inside a decrypted session is nonsense (as for HTTP/1.1 there: 405); no
    // extended CONNECT is announced, so no WebSocket over h2 either.
    if (method === "CONNECT" || headers[":scheme"] !== "https") {
      stream.respond({ ":status": method === "CONNECT" ? 405 : 400 }, { endStream: true });
      return;
    }
    const endStream = (flags & http2().constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const raw = Array.isArray(rawHeaders) ? rawHeaders : rawOf(headers);
    const head = requestHead(headers, raw, endStream);
    const body = new H2Body(stream);
    const hasBody = !endStream && head.contentLength !== 0;
    const req = new ClientRequest(head, socket, body, hasBody, true);
    body.req = req;
    // Nothing to read, but the stream's end must still be consumed.
    if (!hasBody) stream.resume();
    request(req, new H2Response(stream, req, body));
  });
  return new Promise<void>((resolve) => {
    session.once("close", () => {
      sessions.delete(session);
      resolve();
    });
  });
}
