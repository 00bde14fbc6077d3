// The DNS side of the edge: the current runtime (swapped whole on reload), the pipeline, and the
// entry point every transport calls with raw query bytes. Also the edge's Resolver, so proxied
// connections are subject to the same DNS policy.

import type { ResolveOptions, ResolveResult, Resolver } from "../resolver.ts";
import type { EdgeSnapshot } from "../snapshot.ts";
import { cacheCount, dnsMetrics, queryCount } from "../telemetry/metrics.ts";
import type { QueryLog, RecordTemplate } from "../telemetry/query-log.ts";
import { DnsCache } from "./cache/dns-cache.ts";
import { type ClientInfo, type DnsExchange, newExchange } from "./exchange.ts";
import {
  type FastQuery,
  findTtlOffsets,
  type PacketEntry,
  parseFastQuery,
} from "./packet-cache.ts";
import { DnsPipeline } from "./pipeline.ts";
import { createRuntime, type DnsRuntime, type DnsShared } from "./runtime.ts";
import { randomId } from "./upstream/query-id.ts";
import { RRType, rcodeName } from "./wire/constants.ts";
import { decodeMessage, emptyMessage, encodeMessage } from "./wire/message.ts";

export interface DnsServiceOptions {
  readonly log: QueryLog;
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

  constructor(snapshot: EdgeSnapshot, opts: DnsServiceOptions) {
    const metrics = dnsMetrics();
    this.shared = {
      cache: new DnsCache(undefined, { onEvict: () => metrics.cacheEvictions.inc() }),
      log: opts.log,
      inflight: new Map(),
      ...(opts.edgeId ? { edgeId: opts.edgeId } : {}),
      ...(opts.nsid ? { nsid: Buffer.from(opts.nsid, "utf8") } : {}),
    };
    const report = opts.onError ?? throttledStderr();
    this.pipeline = new DnsPipeline((e) => report(e));
    this.rt = createRuntime(snapshot, this.shared);
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
  }

  /**
   * The fast path (packet-cache.ts): the answer to a repeat query, synchronously, or undefined
   * when the full pipeline must run. Logs and counts like the pipeline's record stage.
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
    const e = this.lookupFast(q, raw, ip, serverName);
    if (!e) return undefined;
    const now = Date.now();
    if (!this.admitFast(e, q, ip, now, transport === "udp")) return undefined;
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
    const e = this.lookupFast(q, raw, ip, undefined);
    if (!e || e.bytes.length > maxLength) return 0;
    const now = Date.now();
    if (!this.admitFast(e, q, ip, now, true)) return 0;
    const n = this.rt.packets.write(e, raw, q, now, out);
    this.recordFast(e, ip, "udp", now, t0);
    return n;
  }

  private lookupFast(
    q: FastQuery,
    raw: Uint8Array,
    ip: string,
    serverName: string | undefined,
  ): PacketEntry | undefined {
    const rt = this.rt;
    if (!rt.memoizable) return undefined;
    // Same precedence as the identify stage: DoT server name, then source network.
    const locs = rt.snapshot.locations;
    const loc =
      (serverName !== undefined ? locs.byServerName(serverName) : undefined) ?? locs.bySource(ip);
    if (!loc && !rt.allowUnknownClients) return undefined;
    const packets = rt.packets;
    return packets.get(packets.key(q, loc), raw, q, loc);
  }

  private admitFast(e: PacketEntry, q: FastQuery, ip: string, now: number, udp: boolean): boolean {
    const rt = this.rt;
    if (!rt.packets.usable(e, q, now, udp)) return false;
    // Over the limit: let the pipeline refuse (or drop) and log it.
    return !rt.limiter || rt.limiter.take(ip, now);
  }

  /** Log and count a fast-path answer like the pipeline's record stage, allocating nothing. */
  private recordFast(e: PacketEntry, ip: string, transport: string, now: number, t0: number): void {
    const us = Math.round((performance.now() - t0) * 1000);
    const t = e.template;
    this.shared.log.pushCompact(t, ip, transport, now, us / 1000);
    const ti = transport === "udp" ? 0 : transport === "tcp" ? 1 : 2;
    let tally = e.tallies[ti];
    if (!tally) {
      tally = queryCount(transport, t.action, t.rcode ?? "NOERROR");
      e.tallies[ti] = tally;
    }
    tally.n++;
    if (t.cache === "hit") this.cacheHits.n++;
  }

  private readonly cacheHits = cacheCount("hit");

  /** After a full pipeline run: keep the encoded answer for the fast path when it is reusable. */
  private remember(ex: DnsExchange, out: Buffer): void {
    const rt = ex.rt;
    const t = ex.client.transport;
    if (!rt.memoizable || (t !== "udp" && t !== "tcp" && t !== "dot")) return;
    if (
      !ex.query ||
      ex.prefix.length > 0 ||
      ex.reason !== undefined ||
      ex.cache === "stale" ||
      out[2]! & 0x02
    )
      return;
    if (ex.action !== "allow" && ex.action !== "block" && ex.action !== "override") return;
    if (ex.response && ex.response.rcode > 15) return;
    const q = parseFastQuery(ex.raw);
    if (!q) return;
    const now = Date.now();
    let expiresAt: number;
    let refreshAt = 0;
    let offsets: Uint16Array = new Uint16Array(0);
    let ttls: Uint32Array = new Uint32Array(0);
    if (ex.cache === "hit" || ex.cache === "miss") {
      const entry = ex.cacheKey === undefined ? undefined : rt.shared.cache.peek(ex.cacheKey);
      if (!entry || entry.expiresAt <= now) return;
      expiresAt = entry.expiresAt;
      if (rt.cacheSettings.prefetch && entry.ttl >= 10)
        refreshAt = entry.expiresAt - entry.ttl * 100;
      const f = findTtlOffsets(out);
      offsets = f.offsets;
      ttls = f.ttls;
    } else {
      // Synthesized by policy (constant TTLs): valid for this config.
      expiresAt = now + 300_000;
    }
    if (!ex.record) return;
    // Repeats log what this answer logged, as cache hits, with their own time, id, client and
    // duration; no upstream was asked for them.
    const {
      ts: _ts,
      id: _id,
      client: _client,
      transport: _transport,
      durationMs: _durationMs,
      upstream: _upstream,
      ...shared
    } = ex.record;
    const template: RecordTemplate = { ...shared, cache: ex.cache === "none" ? "none" : "hit" };
    const packets = rt.packets;
    packets.set(packets.key(q, ex.location), {
      bytes: out,
      ttlOffsets: offsets,
      ttls,
      storedAt: now,
      expiresAt,
      refreshAt,
      questionEnd: q.questionEnd,
      question: lowerQuestion(ex.raw, q.questionEnd),
      edns: q.edns,
      adcd: q.adcd,
      location: ex.location,
      template,
      tallies: [],
    });
  }

  /** Handle one raw query; resolves to the response bytes or undefined (drop). Never rejects. */
  async handle(raw: Uint8Array, client: ClientInfo): Promise<Buffer | undefined> {
    const ex = newExchange(this.rt, raw, client);
    const out = await this.pipeline.run(ex);
    if (out) this.remember(ex, out);
    return out;
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

/** The question (name, type, class) of `raw`, lowercased, as the packet cache confirms it. */
function lowerQuestion(raw: Uint8Array, questionEnd: number): Uint8Array {
  const out = Uint8Array.from(raw.subarray(12, questionEnd));
  for (let i = 0; i < out.length; i++) if (out[i]! >= 0x41 && out[i]! <= 0x5a) out[i]! |= 0x20;
  return out;
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
