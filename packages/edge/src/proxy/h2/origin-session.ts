// HTTP/2 toward an inspected origin that chose `h2` in ALPN (the pool offers it on TLS
// connections; http1/origin-pool.ts hands such a socket over here once its certificate verified).
// One session per pool key (`tls:<name>@<ip>:<port>`), shared by every request to that origin:
// each request is a stream. What the stages see is the same as for HTTP/1.1 (an OriginCall that
// hears the response head, its body with backpressure, its end or failure), so HTTP/1.1 and
// HTTP/2 clients both reach h2 and h1 origins. nghttp2 (inside node:http2) checks the origin's
// frames and messages: an invalid response resets its stream, which the call hears as
// `upstream_failed`.

import type {
  ClientHttp2Session,
  ClientHttp2Stream,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
} from "node:http2";
import type { TLSSocket } from "node:tls";
import { asEdgeError, EdgeError } from "@gatehouse/contract/errors";
import { http2 } from "../../net/node-http.ts";
import { fieldName, fieldValue } from "../field-list.ts";
import type { BodyConsumer } from "../http1/message.ts";
import type { OriginCall } from "../http1/origin-call.ts";

/** What the h2 side needs of the pool's limits. */
export interface H2OriginLimits {
  readonly responseTimeoutMs: number;
  readonly bodyIdleTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly maxHeaderBytes: number;
  readonly maxHeaderCount: number;
}

/** Streams one session carries at once (fewer if the origin says so); beyond it, a new session. */
export const H2_ORIGIN_MAX_STREAMS = 100;

/** What a request needs of the pool's request (origin-pool.ts OriginRequest). */
export interface H2Request {
  readonly method: string;
  readonly path: string;
  /** Flat [name, value, …] for HTTP/1.1, hop-by-hop removed, Host first. */
  readonly headers: readonly string[];
  readonly body:
    | { readonly hasBody: boolean; readBody(c: BodyConsumer): void; resumeBody(): void }
    | undefined;
}

/**
 * RFC 9113 §8.2.2: fields an HTTP/1.1 message may carry that are connection-specific; an h2
 * message that carries them is malformed. `host` becomes `:authority` (§8.3.1).
 */
export const NOT_IN_H2: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "host",
]);

/** The request's HTTP/1.1-shaped fields as an h2 header block. */
export function h2RequestHeaders(req: H2Request): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ":method": req.method,
    ":scheme": "https",
    ":path": req.path,
  };
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = fieldName(h, i).toLowerCase();
    if (name === "host") {
      out[":authority"] = fieldValue(h, i);
      continue;
    }
    if (NOT_IN_H2.has(name)) continue;
    addField(out, name, fieldValue(h, i));
  }
  return out;
}

/** Add a field to an h2 header object, a list when repeated. */
export function addField(out: OutgoingHttpHeaders, name: string, value: string): void {
  const prev = out[name];
  if (prev === undefined) out[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else out[name] = [String(prev), value];
}

/** An h2 header object (a response's) as a flat HTTP/1.1 list, pseudo-headers left out. */
export function flatFields(h: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name in h) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else out.push(name, v);
  }
  return out;
}

/** One request on a session: the link an OriginCall holds (resume, abort), like a connection. */
export class H2Link {
  readonly #origin: H2Origin;
  #stream: ClientHttp2Stream | undefined;
  #done = false;

  constructor(origin: H2Origin) {
    this.#origin = origin;
  }

  get certVerdict(): string {
    return this.#origin.certVerdict;
  }

  send(req: H2Request, call: OriginCall): void {
    call.bind(this);
    const o = this.#origin;
    const body = req.body?.hasBody === true ? req.body : undefined;
    let stream: ClientHttp2Stream;
    try {
      stream = o.session.request(h2RequestHeaders(req), { endStream: body === undefined });
    } catch (e) {
      this.#finish();
      call.failed(new EdgeError("upstream_failed", `h2 request: ${(e as Error).message}`));
      return;
    }
    this.#stream = stream;
    o.streams++;
    const noBody = req.method === "HEAD";
    let headIn = false;
    // From the request's last byte to the head, then between two reads of the body.
    stream.setTimeout(o.limits.responseTimeoutMs, () => {
      const what = headIn ? "the origin's body stalled" : "the origin did not answer in time";
      this.#fail(call, new EdgeError("upstream_timeout", what));
    });
    stream.on("response", (headers) => {
      headIn = true;
      stream.setTimeout(o.limits.bodyIdleTimeoutMs);
      const status = Number(headers[":status"]);
      const cl = headers["content-length"];
      const none = noBody || status === 204 || status === 304;
      const length = none ? 0 : cl === undefined ? -1 : Number(cl);
      call.responseHead(status, flatFields(headers), length, none);
    });
    stream.on("data", (chunk: Buffer) => {
      if (!call.data(chunk)) stream.pause();
    });
    stream.on("end", () => {
      if (this.#done) return;
      this.#finish();
      if (!headIn) {
        call.failed(
          new EdgeError("upstream_failed", "the origin ended the stream without a response"),
        );
        return;
      }
      call.ended();
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      if (this.#done) return;
      this.#finish();
      const code = stream.rstCode ?? 0;
      call.failed(
        new EdgeError(
          "upstream_failed",
          headIn
            ? `the origin reset the stream mid-response (h2 error ${code})`
            : `the origin reset the stream (h2 error ${code})`,
        ),
      );
    });
    if (body !== undefined) {
      let waiting = false;
      body.readBody({
        data: (chunk) => {
          if (this.#done) return true;
          const ok = stream.write(chunk);
          if (!ok && !waiting) {
            waiting = true;
            stream.once("drain", () => {
              waiting = false;
              body.resumeBody();
            });
          }
          return ok;
        },
        end: () => {
          if (!this.#done) stream.end();
        },
        error: (err) => this.#fail(call, asEdgeError(err)),
      });
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#stream !== undefined) this.#origin.streamEnded();
  }

  #fail(call: OriginCall, err: Error): void {
    if (this.#done) return;
    this.#finish();
    this.#stream?.close(http2().constants.NGHTTP2_CANCEL);
    call.failed(err);
  }

  /** The call's client can take more (origin-call.ts). */
  resume(): void {
    this.#stream?.resume();
  }

  /** The client left, or a policy replaced the response: cancel the stream. */
  abort(): void {
    if (this.#done) return;
    this.#finish();
    this.#stream?.close(http2().constants.NGHTTP2_CANCEL);
  }
}

/** One h2 session to an origin, over a TLS socket whose certificate verified. */
/** A verified TLS socket's verdict on its peer's certificate: "valid", or the error's code. */
export function certVerdictOf(s: TLSSocket): string {
  return s.authorized ? "valid" : String(s.authorizationError ?? "UNKNOWN");
}

export class H2Origin {
  readonly session: ClientHttp2Session;
  readonly limits: H2OriginLimits;
  /** Streams open now. */
  streams = 0;
  /** The origin certificate's verdict: "valid", or why not when it was accepted anyway. */
  readonly certVerdict: string;
  #gone = false;

  constructor(socket: TLSSocket, authority: string, limits: H2OriginLimits, onGone: () => void) {
    this.limits = limits;
    this.certVerdict = certVerdictOf(socket);
    this.session = http2().connect(authority, {
      createConnection: () => socket,
      settings: { enablePush: false, maxHeaderListSize: limits.maxHeaderBytes },
      maxHeaderListPairs: limits.maxHeaderCount + 8,
    });
    const gone = () => {
      if (this.#gone) return;
      this.#gone = true;
      onGone();
    };
    this.session.on("error", () => this.session.destroy());
    this.session.on("goaway", gone);
    this.session.on("close", gone);
    // Unused for keepAliveMs: close (streams in flight finish first).
    this.session.setTimeout(limits.keepAliveMs, () => {
      if (this.streams === 0) this.session.close();
    });
  }

  /** Room for one more stream now (not closing, under its bound and the origin's). */
  get usable(): boolean {
    if (this.#gone || this.session.closed || this.session.destroyed) return false;
    const remote = this.session.remoteSettings.maxConcurrentStreams ?? H2_ORIGIN_MAX_STREAMS;
    return this.streams < Math.min(remote, H2_ORIGIN_MAX_STREAMS);
  }

  streamEnded(): void {
    this.streams--;
    if (this.#gone && this.streams === 0) this.session.close();
  }

  destroy(): void {
    this.session.destroy();
  }
}
