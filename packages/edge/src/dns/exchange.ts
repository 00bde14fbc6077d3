// One DNS query's journey through the pipeline. Created once per query with the config snapshot
// taken at arrival (a reload never changes the rules a query is judged by), filled in by the
// stages, and read at the end by `record`.

import type { Location, LogAction, QueryLogRecord } from "@gatehouse/contract";
import { EdgeError } from "@gatehouse/contract/errors";
import type { DohDevice } from "../identify/doh-devices.ts";
import type { CompiledPolicy, PolicyPhase } from "../policy/policy-set.ts";
import type { CachedAnswer, CacheEntry, CacheHit } from "./cache/dns-cache.ts";
import type { DnsRuntime } from "./runtime.ts";
import type { ListMatch } from "./stages/list-match.ts";
import type { EdnsOptionData, Message, ResourceRecord } from "./wire/message.ts";
import type { ParsedQuery } from "./wire/query.ts";

export type DnsTransport = "udp" | "tcp" | "dot" | "doh" | "internal";

export type CacheStatus = "hit" | "miss" | "stale" | "none";

/** What a stage tells the pipeline: go on, answer now (ex.response is set), or say nothing. */
export type Outcome = "next" | "respond" | "drop";

export interface ClientInfo {
  readonly transport: DnsTransport;
  readonly ip: string;
  readonly port: number;
  /** DoH: the token of `/dns-query/<token>`. */
  readonly dohToken?: string;
  /** DoT/DoH: the TLS server name the client asked for. */
  readonly serverName?: string;
}

export interface DnsExchange {
  readonly rt: DnsRuntime;
  readonly client: ClientInfo;
  readonly raw: Uint8Array;
  /** Date.now() at arrival (log timestamp, policy schedules). */
  readonly ts: number;
  /** performance.now() at arrival (durations). */
  readonly t0: number;
  query: ParsedQuery | undefined;
  location: Location | undefined;
  /** The device whose DoH token the query came with (its location is `location`). */
  device: DohDevice | undefined;
  /** The name the resolve stage looks up (differs from the question after a rewrite). */
  lookupName: string;
  /** CNAME records synthesized by a rewrite (override host, safe search), prepended to answers. */
  prefix: ResourceRecord[];
  policy: CompiledPolicy | undefined;
  /** The phase `policy` matched in. */
  policyPhase: PolicyPhase | undefined;
  /** The list entry behind the matched policy, once worked out (stages/list-match.ts). */
  listMatch: ListMatch | undefined;
  /** The CNAME chain name a block policy matched (CNAME cloaking), when not the question. */
  chainName: string | undefined;
  action: LogAction;
  /** Upstream or cached answer for `lookupName` (TTLs already aged). */
  answer: CachedAnswer | undefined;
  /** An expired cache entry kept for serve-stale if the upstreams fail (RFC 8767). */
  stale: CacheEntry | undefined;
  /** The fresh cache entry `answer` came from, until resolve has considered prefetching it. */
  hit: CacheEntry | undefined;
  /** Cache key of `lookupName`, set when the cache was looked up for it (stages/cache.ts). */
  cacheKey: string | undefined;
  /** The answer being built; stages that respond set it; finalize completes it. */
  response: Message | undefined;
  ede: EdnsOptionData[];
  cache: CacheStatus;
  upstream: string | undefined;
  /** Low-cardinality cause for errors/refusals. */
  reason: string | undefined;
  /**
   * What went wrong upstream, in full (addresses, TLS errors): for the operational log only,
   * never for the client.
   */
  errorDetail: string | undefined;
  /**
   * The cache hit the response is exactly the encoding of (set by finalize when nothing per
   * query is in it): write answers from the entry's encoded bytes (stages/wire-answer.ts).
   */
  wire: CacheHit | undefined;
  /** Encoded bytes to send (set by write). */
  out: Buffer | undefined;
  /**
   * A zone transfer's records (stages/local-zone.ts): write streams them over several messages
   * after `out`, through `more` (RFC 5936 §2.2), so a zone may be larger than one message.
   */
  transfer: readonly ResourceRecord[] | undefined;
  /** The messages after `out`, encoded one at a time as the connection takes them (AXFR). */
  more: Iterator<Buffer> | undefined;
  /** Max response size for this transport and requester (UDP: EDNS size, else 65535). */
  maxSize: number;
  /** The query-log record the record stage wrote (the packet cache derives its template). */
  record: QueryLogRecord | undefined;
  /** DNSSEC state of the answer for the log (set by resolve on bogus, by finalize otherwise). */
  dnssec: DnssecState | undefined;
  /**
   * How many records at the end of `prefix` are CNAMEs of a chain resolved across upstream
   * answers (the rest were synthesized by a rewrite), and the worst DNSSEC state among those
   * answers (undefined: no such chain, or not validated).
   */
  chainRecords: number;
  chainDnssec: DnssecState | undefined;
}

export type DnssecState = "secure" | "insecure" | "bogus";

/** The weaker of two validation states (undefined = not validated, weaker than insecure). */
export function worstState(
  a: DnssecState | undefined,
  b: DnssecState | undefined,
): DnssecState | undefined {
  if (a === "bogus" || b === "bogus") return "bogus";
  if (a === undefined || b === undefined) return undefined;
  return a === "insecure" || b === "insecure" ? "insecure" : "secure";
}

export interface Stage {
  readonly name: string;
  run(ex: DnsExchange): Outcome | Promise<Outcome>;
}

/** A fresh exchange for one query: every per-query field starts empty (one place to add one). */
export function newExchange(rt: DnsRuntime, raw: Uint8Array, client: ClientInfo): DnsExchange {
  return {
    rt,
    client,
    raw,
    ts: Date.now(),
    t0: performance.now(),
    query: undefined,
    location: undefined,
    device: undefined,
    lookupName: "",
    prefix: [],
    policy: undefined,
    policyPhase: undefined,
    listMatch: undefined,
    chainName: undefined,
    action: "allow",
    answer: undefined,
    stale: undefined,
    hit: undefined,
    cacheKey: undefined,
    response: undefined,
    ede: [],
    cache: "none",
    upstream: undefined,
    reason: undefined,
    errorDetail: undefined,
    wire: undefined,
    out: undefined,
    transfer: undefined,
    more: undefined,
    maxSize: 65535,
    record: undefined,
    dnssec: undefined,
    chainRecords: 0,
    chainDnssec: undefined,
  };
}

/**
 * The exchange's parsed query. Every stage after decode has one (decode answers or drops a query
 * it cannot read), so its absence is a bug in the pipeline: an internal error (SERVFAIL).
 */
export function parsedQuery(ex: DnsExchange): ParsedQuery {
  const q = ex.query;
  if (q === undefined)
    throw new EdgeError("internal", "a stage after decode ran without a parsed query", {
      where: "dns pipeline",
    });
  return q;
}
