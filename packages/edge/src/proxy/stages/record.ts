// Stage record: one event for every request, tunnel, PAC request and client fault, whatever
// happened before (it runs in the pipeline's `finally`; faults the connection loop answers itself
// come through `recordFault`): its query-log record, published on `gatehouse:http.request` or
// `gatehouse:proxy.tunnel` (telemetry/events.ts). The query log, the operational log and the
// proxy's metrics subscribe (index.ts); no record is built when nothing listens.

import type { Channel } from "node:diagnostics_channel";
import type { Socket } from "node:net";
import type { LogAction, QueryLogRecord } from "@gatehouse/contract";
import { httpRequestChannel, type ProxyEvent, proxyTunnelChannel } from "../../telemetry/events.ts";
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

/** What record's events say about where they come from. */
export interface RecordSource {
  /** This proxy, as its events name it: its own sinks keep only its events. */
  readonly origin: object;
  readonly edgeId?: string;
}

/**
 * Where an exchange's byte counts come from: the client socket's counters since the previous
 * exchange on it (plain HTTP, upgrades, PAC), or what the relay stage counted (tunnels).
 */
export type ByteSource = "client-socket" | "relay";

export function createRecord(source: RecordSource, bytes: ByteSource): Stage {
  const { edgeId } = source;
  const event = newProxyEvent(source.origin);
  return {
    name: "record",
    run(ex: Exchange): Outcome {
      if (bytes === "client-socket") accountSocketBytes(ex);
      const kind = ex.transport === "connect" ? "net" : "http";
      const channel = kind === "net" ? proxyTunnelChannel : httpRequestChannel;
      if (!channel.hasSubscribers) return "next";
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
      const inspected = ex.inspection;
      if (inspected !== undefined) {
        rec.inspected = true;
        rec.tlsVersion = inspected.tlsVersion;
        rec.alpn = inspected.alpn;
        if (ex.originCert !== undefined) rec.originCert = ex.originCert;
      } else if (ex.originCert !== undefined) {
        // A tunnel passed through uninspected because the origin's certificate did not verify.
        rec.originCert = ex.originCert;
      }
      if (ex.peerIp !== "")
        rec.upstreamAddr =
          // A plain request's pool key is that address already (connect-origin).
          ex.inspection === undefined && ex.origin !== ""
            ? ex.origin
            : ex.peerFamily === 6
              ? `[${ex.peerIp}]:${ex.port}`
              : `${ex.peerIp}:${ex.port}`;
      if (reason !== undefined) rec.reason = reason;
      publish(channel, event, rec, ex.peerPrivate, ex.error?.message);
      return "next";
    },
  };
}

/** A request the connection loop refused before any pipeline could take it (http1/server.ts). */
export function recordFault(source: RecordSource, fault: ClientFault, socket: Socket): void {
  if (!httpRequestChannel.hasSubscribers) return;
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
  if (source.edgeId !== undefined) rec.edgeId = source.edgeId;
  publish(httpRequestChannel, newProxyEvent(source.origin), rec, false, fault.detail);
}

function newProxyEvent(origin: object): ProxyEvent {
  return { origin, record: FILLER, peerPrivate: false, errorDetail: undefined };
}

const FILLER: QueryLogRecord = {
  ts: 0,
  kind: "http",
  id: "",
  client: "",
  action: "allow",
  transport: "http",
  durationMs: 0,
};

/** Publish `rec` in the stage's own event object (valid only during the call, events.ts). */
function publish(
  channel: Channel,
  event: ProxyEvent,
  rec: QueryLogRecord,
  peerPrivate: boolean,
  errorDetail: string | undefined,
): void {
  event.record = rec;
  event.peerPrivate = peerPrivate;
  event.errorDetail = errorDetail;
  channel.publish(event);
  event.record = FILLER;
}
