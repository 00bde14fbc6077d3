// Request-head checks beyond what the strict head parser (http1/syntax.ts) already enforces. The
// parser rejects obs-fold, bare CR/LF, NUL and invalid bytes in names and values; what it leaves
// to us are the framing questions a forward proxy must answer more strictly than an origin
// server, because a proxy that frames a message differently from the next hop is how requests
// get smuggled.

import { fieldName, fieldValue } from "./field-list.ts";
import type { ClientRequest } from "./http1/message.ts";

export interface HeadProblem {
  readonly status: number;
  readonly reason: "bad_request" | "headers_too_large" | "url_too_long" | "loop_detected";
  readonly detail: string;
}

export interface HeadCheckConfig {
  readonly maxHeaderCount: number;
  readonly maxUrlLength: number;
  /** Our own Via pseudonym, lowercase: seeing it again means the request looped. */
  readonly viaToken: string;
}

/**
 * Undefined when the head is acceptable; otherwise the answer to give (and close after). The
 * framing fields were gathered by the parser in its one pass (http1/syntax.ts); only Via is
 * looked for here, since it needs this proxy's token.
 */
export function checkRequestHead(
  req: ClientRequest,
  cfg: HeadCheckConfig,
): HeadProblem | undefined {
  if (req.url.length > cfg.maxUrlLength) {
    return { status: 414, reason: "url_too_long", detail: "request-target too long" };
  }
  // RFC 9112 §2.6: we speak HTTP/1.1 and accept 1.0 clients; anything else is 505.
  if (req.httpVersionMinor !== 0 && req.httpVersionMinor !== 1) {
    return { status: 505, reason: "bad_request", detail: "HTTP version not supported" };
  }
  const raw = req.rawHeaders;
  if (raw.length / 2 > cfg.maxHeaderCount) {
    return { status: 431, reason: "headers_too_large", detail: "too many header fields" };
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = fieldName(raw, i);
    if (
      name.length === 3 &&
      name.toLowerCase() === "via" &&
      fieldValue(raw, i).toLowerCase().includes(cfg.viaToken)
    ) {
      return { status: 508, reason: "loop_detected", detail: "request looped through this proxy" };
    }
  }
  // RFC 9110 §8.6: 1*DIGIT, once. A list of identical values may be merged by the RFC, but two
  // framings for one message is exactly the smuggling shape: refuse.
  if (req.contentLength === -2) return bad("invalid or repeated Content-Length");
  // RFC 9112 §3.2: an HTTP/1.1 request without Host, or any request with more than one, gets
  // 400. HTTP/1.0 has no Host requirement, and a proxy request carries its authority in the
  // target anyway (absolute-form, or CONNECT's authority-form, RFC 9110 §9.3.6), which wins over
  // any Host (RFC 9112 §3.2.2): `openssl s_client -proxy` sends an HTTP/1.0 CONNECT without one.
  if (req.hostCount > 1) return bad("more than one Host");
  if (req.hostCount === 0 && req.httpVersionMinor === 1) return bad("missing Host");
  // RFC 9110 §10.1.1: 100-continue is the only expectation defined, and we answer it ourselves
  // (forward.ts). Any other one is refused rather than silently dropped.
  if (req.expect !== "" && req.expect !== "100-continue") {
    return { status: 417, reason: "bad_request", detail: "unsupported expectation" };
  }
  if (req.transferEncodingCount > 0) {
    // RFC 9112 §6.1: Transfer-Encoding with Content-Length is a smuggling attempt or a broken
    // client; a proxy must not forward both. We refuse instead of picking one.
    if (req.contentLength !== -1) return bad("both Content-Length and Transfer-Encoding");
    if (req.transferEncodingCount > 1) return bad("more than one Transfer-Encoding");
    // Only `chunked`, alone: any other coding list (",chunked", "chunked, chunked", "gzip,
    // chunked") is a framing the next hop might read differently. RFC 9112 §6.1 allows 501 for
    // codings we do not implement.
    if (req.transferEncoding.toLowerCase() !== "chunked") {
      return { status: 501, reason: "bad_request", detail: "unsupported Transfer-Encoding" };
    }
    if (req.httpVersionMinor === 0) return bad("Transfer-Encoding in an HTTP/1.0 request");
  }
  return undefined;
}

function bad(detail: string): HeadProblem {
  return { status: 400, reason: "bad_request", detail };
}
