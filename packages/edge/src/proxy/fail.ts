// The proxy's one failure path: a thrown error in any stage of any pipeline (or one a stage
// hands over) becomes an answer here, from the edge's error catalogue (`EDGE_ERRORS` in
// @gatehouse/contract): its HTTP status, its query-log reason, its text. Failures arrive as
// `EdgeError`s: the origin pool and the dialling stages wrap what the network reports
// (`socketFailure`); anything else is an internal error, which shows nothing of itself.

import { asEdgeError, EdgeError } from "@gatehouse/contract";
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

/** Turn a failure into the exchange's answer (the pipeline's respond stage writes it). */
export function fail(ex: Exchange, err: unknown): void {
  const e = asEdgeError(err);
  const info = e.info;
  ex.action = "error";
  ex.error = e;
  discardUpstream(ex);
  // The catalogue's text, or the more precise one the proxy wrote for the client; never the
  // message (addresses, causes: for the logs).
  answer(ex, info.status, info.reason, e.detail ?? info.summary);
}
