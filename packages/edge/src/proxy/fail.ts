// The proxy's one failure path: a thrown error in any stage of any pipeline (or one a stage
// hands over) becomes an answer here, from the edge's error catalogue (`EDGE_ERRORS` in
// @gatehouse/contract): its HTTP status, its query-log reason, its text. Failures arrive as
// `EdgeError`s: the origin pool and the dialling stages wrap what the network reports
// (`socketFailure`); anything else is an internal error, which shows nothing of itself.

import { asEdgeError, EdgeError } from "@gatehouse/contract/errors";
import { answer, discardUpstream, type Exchange } from "./exchange.ts";

/** Socket errors that mean the other side could not be reached. */
const UNREACHABLE: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNRESET",
  "EADDRNOTAVAIL",
]);

/**
 * What the network reported about an origin or tunnel destination, as an edge error: a timeout
 * is `connect_timeout`, an unreachable peer `connect_failed`; any other error is `connect_failed`
 * while connecting and `upstream_failed` after. The same for every pipeline.
 */
export function socketFailure(err: unknown, connecting: boolean, where?: string): EdgeError {
  if (err instanceof EdgeError) return err;
  const code = (err as { code?: unknown } | null | undefined)?.code;
  const c = typeof code === "string" ? code : "ECONNRESET";
  const message = `${where ?? "origin"}: ${err instanceof Error ? err.message : c}`;
  if (c === "ETIMEDOUT") return new EdgeError("connect_timeout", message, { cause: err, where });
  if (err === undefined || UNREACHABLE.has(c) || connecting) {
    const detail = `could not reach the origin (${c})`;
    return new EdgeError("connect_failed", message, { cause: err, where, detail });
  }
  return new EdgeError("upstream_failed", message, { cause: err, where });
}

/** OpenSSL's and Node's verification codes, in words for the block page. */
const CERT_PROBLEMS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: "it has expired",
  CERT_NOT_YET_VALID: "it is not valid yet",
  DEPTH_ZERO_SELF_SIGNED_CERT: "it is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "its chain ends in a self-signed certificate that is not trusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "it was issued by an authority that is not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "it was issued by an authority that is not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "it was issued for another name",
  CERT_REVOKED: "it has been revoked",
};

/**
 * An inspected origin's certificate did not verify (`code`: OpenSSL's or Node's verification
 * error): an edge error whose detail tells the user why, for the block page.
 */
export function originCertFailure(code: string, where: string): EdgeError {
  const why = `${CERT_PROBLEMS[code] ?? "it does not verify"} (${code})`;
  return Object.assign(
    new EdgeError("origin_cert_invalid", `${where}: origin certificate: ${code}`, {
      where,
      detail: `the site's certificate cannot be trusted: ${why}`,
    }),
    { certError: code },
  );
}

/** Turn a failure into the exchange's answer (the pipeline's respond stage writes it). */
export function fail(ex: Exchange, err: unknown): void {
  const e = asEdgeError(err);
  const info = e.info;
  ex.action = "error";
  ex.error = e;
  if (e.kind === "origin_cert_invalid")
    ex.originCert = (e as EdgeError & { certError?: string }).certError ?? "UNKNOWN";
  discardUpstream(ex);
  // The catalogue's text, or the more precise one the proxy wrote for the client; never the
  // message (addresses, causes: for the logs).
  answer(ex, info.status, info.reason, e.detail ?? info.summary);
}
