// The answer cache. Keyed by (lowercased qname, qtype, qclass, DO bit, CD bit, upstream view) so
// one client's view is never served to another (a conditional-forwarding view or a DNSSEC-OK
// answer stays separate, and an answer fetched with checking disabled — which a validating
// upstream hands out even when its signatures are bogus — never reaches a client that did not
// set CD, RFC 4035 §3.2.2). TTLs decrement as entries age (RFC 1035 §3.2.1 semantics), are clamped to
// [minTtl, maxTtl], negative answers are cached from the SOA (RFC 2308 §5: min(SOA TTL, SOA
// MINIMUM)), expired entries stay usable as stale answers for `staleTtl` (RFC 8767), and the
// entry count is bounded with least-recently-used eviction (lru-map.ts: a hit makes the entry
// the most recent, a store past `maxEntries` drops the least recent in constant time).

import { RRType } from "../wire/constants.ts";
import type { ResourceRecord, SoaData } from "../wire/message.ts";
import { LruMap } from "./lru-map.ts";

export interface CachedAnswer {
  readonly rcode: number;
  readonly ad: boolean;
  /**
   * The DNSSEC verdict when the answer was validated (dnssec/validator.ts); kept with the entry,
   * so a cached answer is never validated again.
   */
  readonly dnssec?: "secure" | "insecure";
  /** An EDE code that goes with the verdict (27: NSEC3 iterations above the limit). */
  readonly ede?: number;
  readonly answers: readonly ResourceRecord[];
  readonly authorities: readonly ResourceRecord[];
  readonly additionals: readonly ResourceRecord[];
}

export interface CacheEntry extends CachedAnswer {
  readonly key: string;
  /** ms timestamps. */
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly staleUntil: number;
  /** TTL (s) the entry was stored with, after clamping. */
  readonly ttl: number;
  hits: number;
  prefetching: boolean;
}

export interface CacheSettings {
  maxEntries: number;
  minTtl: number;
  maxTtl: number;
  maxNegativeTtl: number;
  serveStale: boolean;
  /** Seconds an expired entry may still be served when upstreams fail. */
  staleTtl: number;
  prefetch: boolean;
}

export const CACHE_DEFAULTS: CacheSettings = {
  maxEntries: 100_000,
  minTtl: 0,
  maxTtl: 86_400,
  maxNegativeTtl: 3_600,
  serveStale: true,
  staleTtl: 86_400,
  prefetch: true,
};

export type Lookup =
  | { readonly kind: "hit"; readonly entry: CacheEntry; readonly age: number }
  | { readonly kind: "expired"; readonly entry: CacheEntry; readonly age: number }
  | { readonly kind: "miss" };

const MISS: Lookup = { kind: "miss" };

export function cacheKey(
  qname: string,
  qtype: number,
  qclass: number,
  doBit: boolean,
  cdBit: boolean,
  view: string,
): string {
  return `${qname}|${qtype}|${qclass}|${doBit ? 1 : 0}${cdBit ? 1 : 0}|${view}`;
}

export interface CacheEvents {
  onEvict?(): void;
}

export class DnsCache {
  private readonly map = new LruMap<string, CacheEntry>();
  settings: CacheSettings;
  private readonly events: CacheEvents;
  evictions = 0;

  constructor(settings: CacheSettings = CACHE_DEFAULTS, events: CacheEvents = {}) {
    this.settings = settings;
    this.events = events;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }

  /** The entry without touching recency or expiry (fast-path bookkeeping). */
  peek(key: string): CacheEntry | undefined {
    return this.map.get(key);
  }

  lookup(key: string, now: number): Lookup {
    const e = this.map.get(key);
    if (!e) return MISS;
    const age = Math.floor((now - e.storedAt) / 1000);
    if (now < e.expiresAt) {
      this.map.touch(key);
      e.hits++;
      return { kind: "hit", entry: e, age };
    }
    if (now < e.staleUntil) return { kind: "expired", entry: e, age };
    this.map.delete(key);
    return MISS;
  }

  /**
   * TTL (s) to cache an answer for, or undefined when it must not be cached (SERVFAIL and
   * friends, or a negative answer without SOA, RFC 2308 §5).
   */
  ttlFor(a: CachedAnswer): number | undefined {
    const s = this.settings;
    const clamp = (t: number) => Math.min(Math.max(t, s.minTtl), s.maxTtl);
    if (a.rcode !== 0 && a.rcode !== 3) return undefined;
    if (a.rcode === 0 && a.answers.length > 0) {
      let min = Number.POSITIVE_INFINITY;
      for (const rr of a.answers) if (rr.ttl < min) min = rr.ttl;
      return clamp(min);
    }
    // NXDOMAIN or NODATA: negative caching from the SOA in the authority section.
    for (const rr of a.authorities) {
      if (rr.type === RRType.SOA) {
        const soa = rr.data as SoaData;
        return Math.min(clamp(Math.min(rr.ttl, soa.minimum)), s.maxNegativeTtl);
      }
    }
    return undefined;
  }

  store(key: string, a: CachedAnswer, now: number): CacheEntry | undefined {
    if (this.settings.maxEntries === 0) return undefined;
    const ttl = this.ttlFor(a);
    if (ttl === undefined || ttl === 0) return undefined;
    const st = this.settings;
    // Served TTLs follow the clamps too, so clients never see a TTL the cache would not keep.
    const clampAll = (rrs: readonly ResourceRecord[]) =>
      rrs.map((rr) =>
        rr.ttl >= st.minTtl && rr.ttl <= Math.max(st.maxTtl, ttl)
          ? rr
          : { ...rr, ttl: Math.min(Math.max(rr.ttl, st.minTtl), Math.max(st.maxTtl, ttl)) },
      );
    const entry: CacheEntry = {
      rcode: a.rcode,
      ad: a.ad,
      ...(a.dnssec ? { dnssec: a.dnssec } : {}),
      ...(a.ede !== undefined ? { ede: a.ede } : {}),
      answers: clampAll(a.answers),
      authorities:
        a.rcode === 0 && a.answers.length > 0
          ? a.authorities
          : clampAll(a.authorities).map((rr) =>
              rr.type === RRType.SOA ? { ...rr, ttl: Math.min(rr.ttl, ttl) } : rr,
            ),
      additionals: a.additionals,
      key,
      storedAt: now,
      expiresAt: now + ttl * 1000,
      staleUntil: now + ttl * 1000 + (this.settings.serveStale ? this.settings.staleTtl * 1000 : 0),
      ttl,
      hits: 0,
      prefetching: false,
    };
    this.map.set(key, entry);
    while (this.map.size > this.settings.maxEntries) {
      this.map.evictOldest();
      this.evictions++;
      this.events.onEvict?.();
    }
    return entry;
  }

  /** True when a hit should trigger a background refresh (RFC 8767 §5 style prefetch). */
  shouldPrefetch(e: CacheEntry, now: number): boolean {
    if (!this.settings.prefetch || e.prefetching || e.hits < 2 || e.ttl < 10) return false;
    // In the last 10% of its lifetime.
    return e.expiresAt - now < e.ttl * 100;
  }
}

/** Copy records with TTLs reduced by `age` seconds (never below `floor`). */
export function agedRecords(
  rrs: readonly ResourceRecord[],
  age: number,
  floor = 0,
): ResourceRecord[] {
  return rrs.map((rr) => ({
    name: rr.name,
    type: rr.type,
    class: rr.class,
    ttl: Math.max(rr.ttl - age, floor),
    data: rr.data,
  }));
}
