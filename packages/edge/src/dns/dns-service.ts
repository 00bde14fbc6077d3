// The DNS side of the edge: the current runtime (swapped whole on reload), the pipeline, and the
// entry point every transport calls with raw query bytes. Also the edge's Resolver, so proxied
// connections are subject to the same DNS policy.

import type { ResolveOptions, ResolveResult, Resolver } from "../resolver.ts";
import type { EdgeSnapshot } from "../snapshot.ts";
import { DNS_QUERY_CHANNEL, type DnsQueryEvent, subscribe } from "../telemetry/events.ts";
import { cacheEvictionCount, subscribeDnsMetrics, trackDnsCache } from "../telemetry/metrics.ts";
import type { QueryLog } from "../telemetry/query-log.ts";
import type { RequestLog } from "../telemetry/request-log.ts";
import { DnsCache } from "./cache/dns-cache.ts";
import { type ClientInfo, type DnsExchange, newExchange } from "./exchange.ts";
import { type FastQuery, type PacketEntry, parseFastQuery } from "./packet-cache.ts";
import { DnsPipeline } from "./pipeline.ts";
import { createRuntime, type DnsRuntime, type DnsShared, memoFor } from "./runtime.ts";
import { admits } from "./stages/admit.ts";
import { identify, UNKNOWN_CLIENT } from "./stages/identify.ts";
import { recordFast } from "./stages/record.ts";
import { randomId } from "./upstream/query-id.ts";
import { RRType, rcodeName } from "./wire/constants.ts";
import { decodeMessage, emptyMessage, encodeMessage } from "./wire/message.ts";

export interface DnsServiceOptions {
  /** Where this service's queries are logged (subscribed to its events until `close`). */
  readonly log: QueryLog;
  /** The operational line per finished query, when the edge has a logger. */
  readonly requestLog?: RequestLog;
  readonly edgeId?: string;
  /** RFC 5001 name server identifier to answer NSID requests with. */
  readonly nsid?: string;
  /** Where unexpected errors go; default: stderr, at most a few per second. */
  readonly onError?: (error: unknown) => void;
}

export class DnsService implements Resolver {
  private rt: DnsRuntime;
  readonly shared: DnsShared;
  readonly pipeline: DnsPipeline;
  /** Undo what the constructor subscribed and tracked. */
  private readonly unsubscribe: (() => void)[];
  /** Called when a runtime is swapped in (activate), before the next query sees it. */
  private readonly swapListeners = new Set<() => void>();
  /**
   * Set by `tryFastInto` when it answered: the entry, which a copy may answer repeats from this
   * source with elsewhere (the batch socket's C cache); the source's location class
   * (PacketCache.classOf); and, with a per-source rate limit, the tokens its bucket holds after
   * this query, the tokens added per ms and the bucket's size (0 each without a limit), which
   * the copy's bucket starts from.
   */
  fastEntry: PacketEntry | undefined = undefined;
  fastClass = -1;
  fastTokens = 0;
  fastRatePerMs = 0;
  fastBurst = 0;

  constructor(snapshot: EdgeSnapshot, opts: DnsServiceOptions) {
    const evictions = cacheEvictionCount();
    this.shared = {
      cache: new DnsCache(undefined, {
        onEvict: () => {
          evictions.n++;
        },
      }),
      inflight: new Map(),
      ...(opts.edgeId ? { edgeId: opts.edgeId } : {}),
      ...(opts.nsid ? { nsid: Buffer.from(opts.nsid, "utf8") } : {}),
    };
    const report = opts.onError ?? throttledStderr();
    this.pipeline = new DnsPipeline((e) => report(e));
    this.rt = createRuntime(snapshot, this.shared);
    // The sinks of this service's query events (telemetry/events.ts): the process's metrics,
    // and this edge's query log and request log, subscribed together (one dispatch per query)
    // and keeping only the events whose origin is this service's shared state.
    subscribeDnsMetrics();
    const shared = this.shared;
    const log = opts.log;
    const lines = opts.requestLog;
    const sink =
      lines === undefined
        ? (ev: DnsQueryEvent) => {
            if (ev.origin === shared) log.dnsQuery(ev);
          }
        : (ev: DnsQueryEvent) => {
            if (ev.origin !== shared) return;
            log.dnsQuery(ev);
            lines.dnsQuery(ev);
          };
    this.unsubscribe = [trackDnsCache(shared.cache), subscribe(DNS_QUERY_CHANNEL, sink)];
  }

  /** Stop logging this service's queries (the edge is closing). Idempotent. */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  get runtime(): DnsRuntime {
    return this.rt;
  }

  /** Build the DNS runtime of a new snapshot (throws on bad resolver settings). */
  prepare(snapshot: EdgeSnapshot): DnsRuntime {
    return createRuntime(snapshot, this.shared, this.rt);
  }

  /** Swap in a prepared runtime; queries already running keep the one they started with. */
  activate(rt: DnsRuntime): void {
    const upstreamsChanged =
      JSON.stringify(rt.snapshot.bundle.resolver.upstreams) !==
        JSON.stringify(this.rt.snapshot.bundle.resolver.upstreams) ||
      JSON.stringify(rt.snapshot.bundle.resolver.conditionalForwarding ?? []) !==
        JSON.stringify(this.rt.snapshot.bundle.resolver.conditionalForwarding ?? []);
    // A different upstream view may answer differently: do not serve the old view's answers.
    if (upstreamsChanged) this.shared.cache.clear();
    this.rt = rt;
    // Copies of the old runtime's packet-cache entries (the batch socket's) are forgotten.
    for (const fn of this.swapListeners) fn();
  }

  /** Call `fn` whenever a runtime is swapped in, until the returned function is called. */
  onSwap(fn: () => void): () => void {
    this.swapListeners.add(fn);
    return () => {
      this.swapListeners.delete(fn);
    };
  }

  /**
   * The fast path (packet-cache.ts): the answer to a repeat query, synchronously, or undefined
   * when the full pipeline must run. Identifies, admits and records with the stages' code.
   */
  tryFast(
    raw: Uint8Array,
    ip: string,
    transport: "udp" | "tcp" | "dot",
    serverName?: string,
  ): Buffer | undefined {
    const q = parseFastQuery(raw);
    if (!q) return undefined;
    const t0 = performance.now();
    const now = Date.now();
    const e = this.lookupFast(q, raw, ip, transport, serverName, now);
    if (!e) return undefined;
    const out = Buffer.allocUnsafe(e.bytes.length);
    this.rt.packets.write(e, raw, q, now, out);
    this.recordFast(e, ip, transport, now, t0);
    return out;
  }

  /**
   * The fast path for a UDP query, writing the answer into `out` (the batch socket's reply
   * slot, at least 512 bytes and `maxLength` long). Returns the answer's length, or 0 when the
   * full pipeline must run.
   */
  tryFastInto(raw: Uint8Array, ip: string, out: Buffer, maxLength: number): number {
    const q = parseFastQuery(raw);
    if (!q) return 0;
    const t0 = performance.now();
    const now = Date.now();
    const e = this.lookupFast(q, raw, ip, "udp", undefined, now, maxLength);
    if (!e) return 0;
    const rt = this.rt;
    const n = rt.packets.write(e, raw, q, now, out);
    this.recordFast(e, ip, "udp", now, t0);
    this.fastEntry = e;
    this.fastClass = rt.packets.classOf(e.location);
    const limiter = rt.limiter;
    if (limiter === undefined) {
      this.fastTokens = 0;
      this.fastRatePerMs = 0;
      this.fastBurst = 0;
    } else {
      this.fastTokens = limiter.tokens(ip, now);
      this.fastRatePerMs = limiter.perMs;
      this.fastBurst = limiter.capacity;
    }
    return n;
  }

  /**
   * Charge the per-source rate limit for `n` answers the batch socket gave `ip` from its copies
   * by `ts` (its copy of the bucket admitted them): this bucket stays the one that decides.
   */
  chargeCopyHits(ip: string, n: number, ts: number): void {
    this.rt.limiter?.charge(ip, n, ts);
  }

  /**
   * Record an answer the batch socket gave from its copy of `e` (dns/server/udp-batch.ts) as
   * `tryFastInto` records its own: a hit on the cache entry, the query's event.
   */
  recordCopyHit(e: PacketEntry, ip: string, ts: number, durationMs: number): void {
    this.recordHit(e, ip, "udp", ts, durationMs);
  }

  /** The usable entry answering `q` for this client (identified and admitted), if any. */
  private lookupFast(
    q: FastQuery,
    raw: Uint8Array,
    ip: string,
    transport: "udp" | "tcp" | "dot",
    serverName: string | undefined,
    now: number,
    maxLength = 65535,
  ): PacketEntry | undefined {
    const rt = this.rt;
    // A client with a pause or settings of its own takes the pipeline.
    if (!memoFor(rt, ip)) return undefined;
    // An unknown client takes the pipeline, which refuses it and logs why.
    const loc = identify(rt, transport, ip, undefined, serverName);
    if (loc === UNKNOWN_CLIENT) return undefined;
    const packets = rt.packets;
    const e = packets.get(packets.key(q, loc), raw, q, loc);
    if (!e || e.bytes.length > maxLength || !packets.usable(e, q, now, transport === "udp"))
      return undefined;
    // Over the limit: the pipeline refuses (or drops) and logs it.
    return admits(rt, transport, ip, now) ? e : undefined;
  }

  /** Record a fast-path answer: a hit on its cache entry, and the query's event. */
  private recordFast(e: PacketEntry, ip: string, transport: string, now: number, t0: number): void {
    this.recordHit(e, ip, transport, now, Math.round((performance.now() - t0) * 1000) / 1000);
  }

  private recordHit(
    e: PacketEntry,
    ip: string,
    transport: string,
    now: number,
    durationMs: number,
  ): void {
    if (e.use !== undefined) e.use.hits++;
    recordFast(this.shared, e, ip, transport, now, durationMs);
  }

  /**
   * Handle one raw query; resolves to the response bytes or undefined (drop). Never rejects.
   * The pipeline's own promise, not an async wrapper's (one promise and microtask turn fewer).
   */
  handle(raw: Uint8Array, client: ClientInfo): Promise<Buffer | undefined> {
    const ex = newExchange(this.rt, raw, client);
    return this.pipeline.run(ex);
  }

  /**
   * Handle one raw query over a stream: the response bytes (undefined: drop) and, for a zone
   * transfer, the messages after them, encoded as they are taken. Never rejects.
   */
  async handleStream(
    raw: Uint8Array,
    client: ClientInfo,
  ): Promise<{ out: Buffer | undefined; more: Iterator<Buffer> | undefined }> {
    const ex = newExchange(this.rt, raw, client);
    const out = await this.pipeline.run(ex);
    return { out, more: out ? ex.more : undefined };
  }

  /** Resolver for the HTTP proxy: A and/or AAAA (in parallel) through the full pipeline. */
  async resolve(name: string, opts: ResolveOptions): Promise<ResolveResult> {
    const families: (4 | 6)[] = opts.family ? [opts.family] : [4, 6];
    const runs = await Promise.all(
      families.map((fam) => {
        const q = emptyMessage(randomId());
        q.rd = true;
        q.questions.push({ name, type: fam === 4 ? RRType.A : RRType.AAAA, class: 1 });
        return this.handleInternal(encodeMessage(q), opts.client);
      }),
    );
    const addresses: string[] = [];
    let rcode: string | undefined;
    let blockedBy: ResolveResult["blockedBy"];
    runs.forEach((ex, i) => {
      const type = families[i] === 4 ? RRType.A : RRType.AAAA;
      if (!ex.out) {
        rcode ??= "SERVFAIL";
        return;
      }
      const m = decodeMessage(ex.out);
      if (ex.action === "block" && ex.policy)
        blockedBy = { policyId: ex.policy.id, policyName: ex.policy.name };
      // NOERROR from either family wins: a name with only AAAA records is not an error.
      if (m.rcode === 0) rcode = "NOERROR";
      else if (rcode !== "NOERROR") rcode = rcodeName(m.rcode);
      for (const rr of m.answers) if (rr.type === type) addresses.push(rr.data as string);
    });
    if (blockedBy) return { addresses: [], rcode: rcode ?? "NOERROR", blockedBy };
    return { addresses, rcode: rcode ?? "SERVFAIL" };
  }

  private async handleInternal(raw: Buffer, clientIp: string): Promise<DnsExchange> {
    const ex = newExchange(this.rt, raw, { transport: "internal", ip: clientIp, port: 0 });
    await this.pipeline.run(ex);
    return ex;
  }
}

function throttledStderr(): (e: unknown) => void {
  let windowStart = 0;
  let count = 0;
  return (e) => {
    const now = Date.now();
    if (now - windowStart > 1000) {
      windowStart = now;
      count = 0;
    }
    if (++count <= 5) console.error("gatehouse edge dns: internal error:", e);
  };
}
