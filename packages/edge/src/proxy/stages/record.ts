// Stage record: one query-log record and the metrics for every request, tunnel, PAC request and
// client fault, whatever happened before (it runs in the pipeline's `finally`; faults the
// connection loop answers itself come through `recordFault`). Full detail goes to the log;
// metrics get only low-cardinality labels.

import type { Socket } from "node:net";
import type { LogAction, QueryLogRecord } from "@gatehouse/contract";
import type { RequestLog } from "../../telemetry/request-log.ts";
import type { ProxyQueryLog } from "../edge-view.ts";
import {
  accountSocketBytes,
  type Exchange,
  nextRequestId,
  type Outcome,
  type Stage,
  stripV4Mapped,
} from "../exchange.ts";
import type { ClientFault } from "../http1/server.ts";
import { proxyConfigOf } from "../proxy-config.ts";
import type { ProxyMetrics } from "../proxy-metrics.ts";
import { displayUrl } from "./respond.ts";

/** Refusals that are about the client, not the destination. */
const REFUSED: ReadonlySet<string> = new Set([
  "unknown_client",
  "auth_required",
  "auth_failed",
  "auth_rate_limited",
  "bad_request",
  "bad_target",
  "port_not_allowed",
  "url_too_long",
  "headers_too_large",
  "loop_detected",
  "request_timeout",
]);

/** Which list made the policy match: the domain list holding the host (or SNI), else the
 * policy's first list. Only computed for policies that reference lists. */
function matchedList(ex: Exchange): string | undefined {
  const names = ex.policy?.lists;
  if (names === undefined || names.length === 0) return undefined;
  const lists = ex.snapshot.lists;
  for (const name of names) {
    const set = lists.domains(name);
    if (set === undefined) continue;
    if (
      (ex.host !== "" && ex.hostFamily === 0 && set.hasOrParent(ex.host)) ||
      (ex.sni !== undefined && set.hasOrParent(ex.sni))
    ) {
      return name;
    }
  }
  return names[0];
}

/** What record writes to. */
export interface RecordSinks {
  readonly log: ProxyQueryLog;
  readonly metrics: ProxyMetrics;
  readonly edgeId?: string;
  readonly requestLog?: RequestLog;
}

/**
 * Where an exchange's byte counts come from: the client socket's counters since the previous
 * exchange on it (plain HTTP, upgrades, PAC), or what the relay stage counted (tunnels).
 */
export type ByteSource = "client-socket" | "relay";

export function createRecord(sinks: RecordSinks, bytes: ByteSource): Stage {
  const { log, metrics, edgeId, requestLog } = sinks;
  return {
    name: "record",
    run(ex: Exchange): Outcome {
      if (bytes === "client-socket") accountSocketBytes(ex);
      const reason = ex.reason;
      let action: LogAction = ex.action;
      if (
        reason !== undefined &&
        reason !== "max_forwards" &&
        action !== "block" &&
        action !== "error"
      ) {
        if (REFUSED.has(reason)) action = "refused";
        else if (reason !== "client_aborted") action = "error";
      }
      const kind = ex.transport === "connect" ? "net" : "http";
      const rec: QueryLogRecord = {
        ts: ex.ts,
        kind,
        id: ex.id,
        client: ex.clientIp,
        action,
        transport: ex.transport,
        durationMs: Math.round((performance.now() - ex.t0) * 1000) / 1000,
        method: ex.method.slice(0, 32),
        status: ex.status,
        bytesUp: ex.bytesUp,
        bytesDown: ex.bytesDown,
      };
      if (edgeId !== undefined) rec.edgeId = edgeId;
      if (ex.location !== undefined) rec.location = ex.location.id;
      const who = ex.identity?.email ?? ex.principal;
      if (who !== undefined) rec.identity = who.slice(0, 320);
      if (ex.policy !== undefined) {
        rec.policyId = ex.policy.id;
        rec.policyName = ex.policy.name;
        const list = matchedList(ex);
        if (list !== undefined) rec.list = list;
      }
      if (ex.host !== "") rec.host = ex.host.slice(0, 255);
      if (kind === "http") {
        rec.url = displayUrl(ex, proxyConfigOf(ex.snapshot).logQueryStrings).slice(0, 8192);
      }
      if (ex.sni !== undefined) rec.sni = ex.sni;
      if (ex.peerIp !== "")
        rec.upstreamAddr =
          ex.peerFamily === 6 ? `[${ex.peerIp}]:${ex.port}` : `${ex.peerIp}:${ex.port}`;
      if (reason !== undefined) rec.reason = reason;
      log.push(rec);
      requestLog?.record(rec);
      metrics.request(kind, action, ex.status);
      metrics.bytes(ex.bytesUp, ex.bytesDown);
      if (reason !== undefined && reason !== "policy" && reason !== "max_forwards")
        metrics.error(reason);
      if (reason === "private_target") metrics.privateDestination("refused");
      else if (ex.peerPrivate) metrics.privateDestination("allowed");
      return "next";
    },
  };
}

/** A request the connection loop refused before any pipeline could take it (http1/server.ts). */
export function recordFault(sinks: RecordSinks, fault: ClientFault, socket: Socket): void {
  sinks.metrics.error(fault.cause);
  const rec: QueryLogRecord = {
    ts: Date.now(),
    kind: "http",
    id: nextRequestId(),
    client: stripV4Mapped(socket.remoteAddress ?? ""),
    action: "refused",
    transport: "http",
    durationMs: 0,
    status: fault.status,
    reason: fault.cause,
  };
  if (sinks.edgeId !== undefined) rec.edgeId = sinks.edgeId;
  sinks.log.push(rec);
  sinks.requestLog?.record(rec);
}
