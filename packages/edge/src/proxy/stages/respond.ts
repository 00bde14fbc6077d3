// Stage respond: write what the client gets, either the origin's response (head with hop-by-hop
// fields stripped and Via added, body streamed with backpressure) or the proxy's own answer
// (block page, 407 challenge, error). Last before record; it resolves once the response is fully
// written or the client went away, so record sees final byte counts.

import { http } from "../../net/node-http.ts";
import { acceptsHtml, renderBlockHtml, renderBlockText } from "../block-page.ts";
import { type Exchange, type Outcome, required, type Stage, type Step, WAIT } from "../exchange.ts";
import { fail } from "../fail.ts";
import { downstreamResponseHeaders } from "../hop-by-hop.ts";
import { statusLine } from "../http1/message.ts";
import { proxyConfigOf, themeFor } from "../proxy-config.ts";

/** RFC 9110 §11.7.1 challenge; RFC 7617 §2.1 charset parameter. */
export const PROXY_CHALLENGE = 'Basic realm="Gatehouse proxy", charset="UTF-8"';

/** Reasons whose answer shows the block page (a decision about the destination). */
const BLOCK_PAGE_REASONS: ReadonlySet<string> = new Set([
  "policy",
  "private_target",
  "dns_blocked",
  // Inspected: the origin's certificate did not verify; the page says why.
  "origin_cert_invalid",
]);

/** Reasons after which the connection's framing cannot be trusted: always close. */
const CLOSE_REASONS: ReadonlySet<string> = new Set([
  "bad_request",
  "bad_target",
  "url_too_long",
  "headers_too_large",
  "loop_detected",
  "client_aborted",
  "request_timeout",
  "internal",
]);

export interface RenderedAnswer {
  readonly status: number;
  readonly headers: string[];
  readonly body: string | Buffer;
}

export function renderAnswer(ex: Exchange): RenderedAnswer {
  const a = required(ex.answer, "the answer");
  const status = a.status;
  const headers: string[] = [
    "cache-control",
    a.maxAgeSeconds === undefined ? "no-store" : `max-age=${a.maxAgeSeconds}`,
  ];
  if (status === 407) headers.push("proxy-authenticate", PROXY_CHALLENGE);
  if (a.retryAfterSeconds !== undefined) headers.push("retry-after", String(a.retryAfterSeconds));
  let body: string | Buffer;
  let type: string | undefined = "text/plain; charset=utf-8";
  if (a.content !== undefined) {
    body = a.content.body;
    type = a.content.type;
  } else if (a.reason !== undefined && BLOCK_PAGE_REASONS.has(a.reason)) {
    const input = {
      status,
      policyName: a.reason === "policy" ? ex.policy?.name : undefined,
      reason: a.detail,
      requestId: ex.id,
      time: new Date(ex.ts),
      url: ex.transport === "connect" ? `${ex.host}:${ex.port}` : displayUrl(ex, true),
    };
    if (ex.transport === "http" && acceptsHtml(ex.req.header("accept"))) {
      body = renderBlockHtml(themeFor(proxyConfigOf(ex.snapshot), ex.location), input);
      type = "text/html; charset=utf-8";
    } else {
      body = renderBlockText(input);
    }
  } else {
    body = `${status} ${http().STATUS_CODES[status] ?? ""}: ${a.detail}\nRequest ID: ${ex.id}\n`;
  }
  if (type !== undefined) headers.push("content-type", type);
  headers.push("content-length", String(Buffer.byteLength(body)));
  return { status, headers, body };
}

/** A response head for a raw client socket (CONNECT, upgrade), flat [name, value, …] headers. */
export function rawHead(status: number, headers: readonly string[]): string {
  let head = statusLine(status);
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** The proxy's own answer written straight on the client socket, which it then closes. */
export function endWithAnswer(ex: Exchange): void {
  const r = renderAnswer(ex);
  ex.status = r.status;
  r.headers.push("connection", "close");
  const head = rawHead(r.status, r.headers);
  if (ex.method === "HEAD") ex.socket.end(head, "latin1");
  else if (typeof r.body === "string") ex.socket.end(head + r.body);
  else ex.socket.end(Buffer.concat([Buffer.from(head, "latin1"), r.body]));
}

/** The URL as logged or shown; the query string only when asked (it may carry secrets). */
export function displayUrl(ex: Exchange, withQuery: boolean): string {
  if (ex.host === "") return ex.req.url.slice(0, 2048);
  const host = ex.hostFamily === 6 ? `[${ex.host}]` : ex.host;
  // Requests read from an inspected tunnel were https.
  const https = ex.inspection !== undefined && ex.transport === "http";
  const port = ex.port === (https ? 443 : 80) ? "" : `:${ex.port}`;
  return `${https ? "https" : "http"}://${host}${port}${ex.path}${withQuery && ex.query !== "" ? `?${ex.query}` : ""}`;
}

export function createRespond(via: string): Stage {
  return {
    name: "respond",
    run(ex: Exchange): Step {
      const res = ex.res;
      if (res === undefined) return "next"; // raw sockets answer in respond-tunnel / respond-upgrade
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return "next";
      }
      if (ex.answer !== undefined) {
        const r = renderAnswer(ex);
        ex.status = r.status;
        // Close when the framing is doubtful, or when a request body was not read: draining an
        // upload we refused would let the client hold the connection for nothing.
        // (A bodiless request answered in the same tick it arrived is not complete yet either:
        // that is no reason to close.)
        const unreadBody = ex.upstream === undefined && !ex.req.complete && ex.req.hasBody;
        if ((ex.answer.reason !== undefined && CLOSE_REASONS.has(ex.answer.reason)) || unreadBody)
          r.headers.push("connection", "close");
        return new Promise<Outcome>((resolve) => {
          const done = () => resolve("next");
          res.onClientClose = done;
          res.respond(r.status, r.headers, ex.method === "HEAD" ? undefined : r.body, done);
        });
      }
      const up = required(ex.upstream, "the origin's response");
      if (up.error !== undefined) {
        // The origin's response broke before any of it went out: still a proper answer.
        fail(ex, up.error);
        return this.run(ex);
      }
      const headers = downstreamResponseHeaders(required(up.headers, "the response head"), via);
      if (ex.req.header("upgrade") !== undefined) {
        // Upgrade without `Connection: upgrade` is not an upgrade request (those take the
        // upgrade pipeline, pipeline.ts): it was stripped as hop-by-hop, and since a client that
        // asked may still send the new protocol's bytes, end the connection with this response.
        headers.push("connection", "close");
      }
      res.start(up.statusCode, headers, up.bodyLength, up.noBody);
      // Once the body went out (or failed, or the client left), the call wakes the exchange.
      if (up.relay(res, ex)) return WAIT;
      return relayed(ex);
    },
    resume: relayed,
  };
}

/** The origin's response was relayed, or not to the end. */
function relayed(ex: Exchange): Outcome {
  const up = required(ex.upstream, "the origin's response");
  if (ex.res?.writableFinished !== true)
    ex.reason ??= up.error === undefined ? "client_aborted" : "upstream_failed";
  return "next";
}
