// Per-request operational logs for the data planes (DNS, proxy), derived from the query-log
// record each request already produces, so the line carries the same id as the record and the
// block page (`reqId`). Levels:
// - warn: the edge could not do its job — an upstream failed or timed out, an internal error;
// - info: the client's doing — malformed input dropped or answered with an error, a client
//   refused (unknown network, missing or wrong proxy credentials, rate limit);
// - debug: every other request, one line each (off unless GATEHOUSE_LOG_LEVEL=debug).
// A request with nothing to report costs one property check and one level check: no line is
// formatted unless its level is enabled. Warn and info lines are limited per cause (a flood of
// malformed packets must not become a flood of log lines): at most `perSecond` a second, then
// one line saying how many were suppressed.
//
// What never goes in: URLs (query strings can carry tokens), identities and credentials (the
// query log has who; proxy credentials are never in the record), upstream userinfo and paths
// (DoH paths can be account ids).

import type { QueryLogRecord } from "@gatehouse/contract";
import { type DnsQueryEvent, subscribeProxyEvents } from "./events.ts";
import type { OpLogger } from "./op-log.ts";
import { queryId, type RecordTemplate } from "./query-log.ts";

type Level = "warn" | "info" | "debug";

/** Causes (`record.reason`) logged at warn: the edge or its upstreams failed. */
const WARN_REASONS: ReadonlySet<string> = new Set([
  // DNS: `upstream_<cause>` from the resolve stage, matched by prefix; proxy:
  "connect_failed",
  "connect_timeout",
  "dns_failed",
  "internal",
  // DNS: an answer that failed DNSSEC validation (the detail says why).
  "dnssec_bogus",
]);

/**
 * Causes logged at info besides refusals (the `refused` and `ratelimited` actions: unknown
 * clients, missing or wrong proxy credentials, disallowed ports, AXFR…): malformed input.
 */
const MALFORMED_REASONS: ReadonlySet<string> = new Set([
  // DNS decode stage
  "short",
  "response",
  "opcode",
  "qdcount",
  "badvers",
  "malformed",
  "records",
  "truncated",
  "meta_type",
  // proxy: a TLS tunnel that never sent a ClientHello
  "no_client_hello",
]);

/** The level a record (or a fast-path answer's shared fields) is logged at. */
export function levelOf(rec: RecordTemplate): Level {
  const r = rec.reason;
  if (r === undefined) return "debug";
  if (r.startsWith("upstream_") || WARN_REASONS.has(r)) return "warn";
  if (rec.action === "refused" || rec.action === "ratelimited" || MALFORMED_REASONS.has(r))
    return "info";
  return "debug";
}

/** An upstream as `scheme://host:port`: userinfo, path and query dropped. */
export function safeUpstream(u: string): string {
  const scheme = u.indexOf("://");
  if (scheme === -1) return u;
  let rest = u.slice(scheme + 3);
  const at = rest.lastIndexOf("@", rest.search(/[/?#]|$/));
  if (at !== -1) rest = rest.slice(at + 1);
  const end = rest.search(/[/?#]/);
  return u.slice(0, scheme + 3) + (end === -1 ? rest : rest.slice(0, end));
}

const MESSAGES: Readonly<Record<string, string>> = {
  warn: "request failed",
  info: "request refused",
  debug: "request",
};

interface Window {
  start: number;
  lines: number;
  suppressed: number;
}

export interface RequestLogOptions {
  /** Warn/info lines per cause per second before suppression; default 20. */
  readonly perSecond?: number;
  /** Clock (tests). */
  readonly now?: () => number;
}

/** Writes the operational line of a finished request, if its level is on. */
export class RequestLog {
  private readonly logger: OpLogger;
  private readonly perSecond: number;
  private readonly now: () => number;
  /** By cause; causes are the fixed reason codes above, so the map stays small. */
  private readonly windows = new Map<string, Window>();
  /**
   * Whether debug lines are on, kept current through the logger's level-change event: every
   * fast-path answer asks, and pino's isLevelEnabled costs more than the rest of its recording.
   */
  private debugOn: boolean;

  constructor(logger: OpLogger, opts: RequestLogOptions = {}) {
    this.logger = logger;
    this.perSecond = opts.perSecond ?? 20;
    this.now = opts.now ?? Date.now;
    this.debugOn = logger.isLevelEnabled("debug");
    logger.on("level-change", () => {
      this.debugOn = logger.isLevelEnabled("debug");
    });
  }

  /**
   * The record just pushed to the query log, and what went wrong in detail when the client was
   * told less (an upstream's error: upstream URLs in it are cut to `scheme://host:port`).
   */
  record(rec: QueryLogRecord, detail?: string): void {
    const level = levelOf(rec);
    if (!this.logger.isLevelEnabled(level)) return;
    let suppressed = 0;
    if (level !== "debug") {
      const w = this.window(rec.reason as string);
      if (w.lines >= this.perSecond) {
        w.suppressed++;
        return;
      }
      w.lines++;
      suppressed = w.suppressed;
      w.suppressed = 0;
    }
    const fields = fieldsOf(rec, suppressed);
    if (detail !== undefined)
      fields.detail =
        rec.upstream === undefined
          ? detail
          : detail.replaceAll(rec.upstream, fields.upstream as string);
    this.logger[level](fields, MESSAGES[level] as string);
  }

  /**
   * A DNS query's line (telemetry/events.ts): the pipeline's record, or a fast-path answer's
   * shared fields made into one only when its level is on.
   */
  dnsQuery(ev: DnsQueryEvent): void {
    if (ev.record !== undefined) {
      this.record(ev.record, ev.errorDetail);
      return;
    }
    const level = levelOf(ev.fields);
    if (level === "debug" ? !this.debugOn : !this.logger.isLevelEnabled(level)) return;
    this.record({
      ...ev.fields,
      ts: ev.ts,
      id: queryId(ev.seq),
      client: ev.client,
      transport: ev.transport,
      durationMs: ev.durationMs,
    } as QueryLogRecord);
  }

  /** An error outside any request's record (a listener, a pipeline bug): error level, limited. */
  error(what: string, e: unknown): void {
    const w = this.window("error");
    if (w.lines >= this.perSecond) {
      w.suppressed++;
      return;
    }
    w.lines++;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    const err = e instanceof Error ? e : new Error(String(e));
    if (suppressed > 0) this.logger.error({ err, suppressed }, what);
    else this.logger.error(err, what);
  }

  private window(cause: string): Window {
    const now = this.now();
    let w = this.windows.get(cause);
    if (w === undefined) {
      w = { start: now, lines: 0, suppressed: 0 };
      this.windows.set(cause, w);
    } else if (now - w.start >= 1000) {
      w.start = now;
      w.lines = 0;
    }
    return w;
  }
}

/** The line's fields: what happened, to whom, and why — never the URL or who the user is. */
function fieldsOf(rec: QueryLogRecord, suppressed: number): Record<string, unknown> {
  const f: Record<string, unknown> = {
    reqId: rec.id,
    kind: rec.kind,
    transport: rec.transport,
    client: rec.client,
    action: rec.action,
  };
  if (rec.reason !== undefined) f.reason = rec.reason;
  if (rec.qname !== undefined) f.qname = rec.qname;
  if (rec.qtype !== undefined) f.qtype = rec.qtype;
  if (rec.rcode !== undefined) f.rcode = rec.rcode;
  if (rec.method !== undefined) f.method = rec.method;
  if (rec.host !== undefined) f.host = rec.host;
  if (rec.sni !== undefined) f.sni = rec.sni;
  if (rec.status !== undefined) f.status = rec.status;
  if (rec.upstream !== undefined) f.upstream = safeUpstream(rec.upstream);
  if (rec.upstreamAddr !== undefined) f.upstreamAddr = rec.upstreamAddr;
  if (rec.dnssec !== undefined) f.dnssec = rec.dnssec;
  if (rec.ede !== undefined) f.ede = rec.ede;
  if (rec.policyId !== undefined) f.policyId = rec.policyId;
  f.durationMs = rec.durationMs;
  if (suppressed > 0) f.suppressed = suppressed;
  return f;
}

/** Write the operational lines of `origin`'s proxy requests and tunnels to `log` until the
 * returned function is called. */
export function subscribeProxyRequestLog(log: RequestLog, origin: object): () => void {
  return subscribeProxyEvents((ev) => {
    if (ev.origin === origin) log.record(ev.record, ev.errorDetail);
  });
}
