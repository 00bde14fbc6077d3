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
    case "UND_ERR_CONNECT_TIMEOUT":
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
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return {
        status: 504,
        reason: "upstream_timeout",
        detail: "the origin did not answer in time",
      };
    case "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH":
    case "UND_ERR_ABORTED":
    case "ERR_STREAM_PREMATURE_CLOSE":
      return { status: 400, reason: "client_aborted", detail: "the request body ended early" };
    case "UND_ERR_SOCKET":
    case "UND_ERR_HEADERS_OVERFLOW":
    case "HPE_INVALID_CONSTANT":
    case "UND_ERR_RESPONSE_STATUS_CODE":
      return {
        status: 502,
        reason: "upstream_failed",
        detail: "the origin sent an invalid or broken response",
      };
    default:
      // llhttp found the client's body malformed mid-stream (invalid chunk and the like).
      if (
        typeof code === "string" &&
        code.startsWith("HPE_") &&
        err !== null &&
        typeof err === "object" &&
        "bytesParsed" in err
      ) {
        return { status: 400, reason: "bad_request", detail: "malformed request body" };
      }
      if (typeof code === "string" && code.startsWith("UND_ERR")) {
        return { status: 502, reason: "upstream_failed", detail: "the origin request failed" };
      }
      return { status: 500, reason: "internal", detail: "internal proxy error" };
  }
}

export function fail(ex: Exchange, err: unknown): void {
  const c = classifyError(err);
  ex.action = "error";
  discardUpstream(ex);
  answer(ex, c.status, c.reason, c.detail);
}
