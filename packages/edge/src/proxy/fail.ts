// The one place exceptions become answers: a thrown error in any stage is a failure (not a
// policy answer), mapped to 502/504 by cause and logged with a low-cardinality reason.

import { answer, discardUpstream, type Exchange, type ReasonCode } from "./exchange.ts";

/** Map a failure to a status and reason code. */
export function classifyError(err: unknown): {
  status: number;
  reason: ReasonCode;
  detail: string;
} {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ORIGIN_CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return {
        status: 504,
        reason: "connect_timeout",
        detail: "connecting to the origin timed out",
      };
    case "ECONNREFUSED":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ECONNRESET":
    case "EADDRNOTAVAIL":
      return {
        status: 502,
        reason: "connect_failed",
        detail: `could not reach the origin (${code})`,
      };
    case "ORIGIN_HEADERS_TIMEOUT":
    case "ORIGIN_BODY_TIMEOUT":
      return {
        status: 504,
        reason: "upstream_timeout",
        detail: "the origin did not answer in time",
      };
    case "CLIENT_BODY_TIMEOUT":
      return { status: 408, reason: "request_timeout", detail: "the request body stalled" };
    case "CLIENT_ABORTED":
      return { status: 400, reason: "client_aborted", detail: "the request body ended early" };
    case "CLIENT_BAD_BODY":
      return { status: 400, reason: "bad_request", detail: "malformed request body" };
    case "ORIGIN_BAD_RESPONSE":
    case "ORIGIN_CLOSED":
    case "EPIPE":
      return {
        status: 502,
        reason: "upstream_failed",
        detail: "the origin sent an invalid or broken response",
      };
    case "ORIGIN_POOL_CLOSED":
      return { status: 503, reason: "upstream_failed", detail: "the proxy is shutting down" };
    default:
      return { status: 500, reason: "internal", detail: "internal proxy error" };
  }
}

export function fail(ex: Exchange, err: unknown): void {
  const c = classifyError(err);
  ex.action = "error";
  discardUpstream(ex);
  answer(ex, c.status, c.reason, c.detail);
}
