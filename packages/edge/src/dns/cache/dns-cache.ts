// The answer cache. Keyed by (lowercased qname, qtype, qclass, DO bit, CD bit, upstream view) so
// one client's view is never served to another (a conditional-forwarding view or a DNSSEC-OK
// answer stays separate, and an answer fetched with checking disabled — which a validating
// upstream hands out even when its signatures are bogus — never reaches a client that did not
// set CD, RFC 4035 §3.2.2). TTLs decrement as entries age (RFC 1035 §3.2.1 semantics), are clamped to
// [minTtl, maxTtl], negative answers are cached from the SOA (RFC 2308 §5: min(SOA TTL, SOA
// MINIMUM)), expired entries stay usable as stale answers for `staleTtl` (RFC 8767), and the
// cache is bounded by bytes and by entries with least-recently-used eviction (lru-map.ts: a hit
// makes the entry the most recent, a store past `maxBytes` or `maxEntries` drops the least
// recent in constant time). An entry's bytes are counted from what it holds (bytes.ts): its key,
// its records (owner names, RDATA) and a fixed part for the entry object, its arrays and its
// place in the map, as measured.

import { RRType } from "../wire/constants.ts";
import type { ResourceRecord, SoaData } from "../wire/message.ts";
import { approxBytes, stringBytes } from "./bytes.ts";
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

/**
 * How much an entry is asked for. Apart from the entry, so the packet cache's copy of an answer
 * counts its hits without keeping the entry (and its records) alive after it is evicted.
 */
export interface EntryUse {
  hits: number;
  prefetching: boolean;
}

/**
 * An entry's answer as encoded once (stages/wire-answer.ts): the bytes with the TTLs as stored
 * (age 0) and the question of the query it was encoded for, and where the TTL fields are, so a
 * later hit answered by the pipeline copies and patches instead of encoding records again.
 */
export interface WireAnswer {
  /** The encoded answer as a binary string (one char a byte). */
  readonly bytes: string;
  /** (offset, TTL as stored) pairs, OPT excluded, as `findTtls` (packet-cache.ts) finds them. */
  readonly ttls: readonly number[];
  /** The query's EDNS state it was encoded for (0: none, 1: EDNS, 2: EDNS with DO). */
  readonly edns: 0 | 1 | 2;
}

/** What a kept WireAnswer costs: its object, its bytes' string and its TTL pairs. */
export function wireAnswerBytes(w: WireAnswer): number {
  return 32 + stringBytes(w.bytes.length) + approxBytes(w.ttls);
}

export interface CacheEntry extends CachedAnswer {
  readonly key: string;
  /** What the entry holds, as counted against `maxBytes` (its WireAnswer's bytes included). */
  bytes: number;
  /** ms timestamps. */
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly staleUntil: number;
  /** TTL (s) the entry was stored with, after clamping. */
  readonly ttl: number;
  readonly use: EntryUse;
  /** The answer as encoded for the pipeline's last hit (DnsCache.keepWire), if any. */
  wire: WireAnswer | undefined;
}

/**
 * A fresh entry's answer as a hit hands it to the pipeline: its records with TTLs aged by `age`
 * seconds, and the entry and age they came from (the write stage answers from the entry's
 * encoded bytes when nothing else changed the answer; an answer any other stage made is never
 * one of these).
 */
export class CacheHit implements CachedAnswer {
  readonly rcode: number;
  readonly ad: boolean;
  readonly dnssec: "secure" | "insecure" | undefined;
  readonly ede: number | undefined;
  readonly answers: readonly ResourceRecord[];
  readonly authorities: readonly ResourceRecord[];
  readonly additionals: readonly ResourceRecord[];
  readonly entry: CacheEntry;
  readonly age: number;

  constructor(e: CacheEntry, age: number) {
    this.rcode = e.rcode;
    this.ad = e.ad;
    this.dnssec = e.dnssec;
    this.ede = e.ede;
    this.answers = age === 0 ? e.answers : agedRecords(e.answers, age);
    this.authorities = age === 0 ? e.authorities : agedRecords(e.authorities, age);
    this.additionals = age === 0 ? e.additionals : agedRecords(e.additionals, age);
    this.entry = e;
    this.age = age;
  }
}

export interface CacheSettings {
  /**
   * Bytes the answer cache may hold (half of `resolver.cache.maxBytes`; the packet cache has
   * the other half).
   */
  maxBytes: number;
  maxEntries: number;
  minTtl: number;
  maxTtl: number;
  maxNegativeTtl: number;
  serveStale: boolean;
  /** Seconds an expired entry may still be served when upstreams fail. */
  staleTtl: number;
  prefetch: boolean;
}

/** `resolver.cache.maxBytes` when the config says nothing: 32 MiB, answers and packets. */
export const CACHE_MAX_BYTES_DEFAULT = 32 * 1024 * 1024;

export const CACHE_DEFAULTS: CacheSettings = {
  maxBytes: CACHE_MAX_BYTES_DEFAULT / 2,
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
  // join makes one flat string; a template literal made a rope of a 32-byte node per piece,
  // which the cache kept as its key (about 290 bytes an entry).
  return [qname, qtype, qclass, doBit ? (cdBit ? "11" : "10") : cdBit ? "01" : "00", view].join(
    "|",
  );
}

/**
 * What an entry costs beyond its key and records: the entry object, its use counter, three
 * heap numbers (times), its record arrays, its node in the LRU list and its slot in the map
 * (measured: bench/dns/cache-bytes.ts).
 */
export const ENTRY_BYTES = 480;
/** A record object (name, type, class, TTL, data) without its name's and data's own bytes. */
const RECORD_BYTES = 40;

function recordsBytes(rrs: readonly ResourceRecord[]): number {
  let n = 0;
  for (const rr of rrs) n += RECORD_BYTES + stringBytes(rr.name.length) + approxBytes(rr.data);
  return n;
}

/**
 * The record with RDATA bytes of its own: a decoded TXT string or unknown RDATA is a view of
 * the whole upstream message, which the entry would keep alive (and not count) otherwise.
 */
function owned(rr: ResourceRecord): ResourceRecord {
  const d = rr.data;
  if (d instanceof Uint8Array) {
    return d.byteLength === d.buffer.byteLength ? rr : { ...rr, data: new Uint8Array(d) };
  }
  if (
    Array.isArray(d) &&
    d.some((x) => x instanceof Uint8Array && x.byteLength < x.buffer.byteLength)
  ) {
    return { ...rr, data: (d as Uint8Array[]).map((x) => new Uint8Array(x)) };
  }
  return rr;
}

export interface CacheEvents {
  onEvict?(): void;
}

export class DnsCache {
  private readonly map = new LruMap<string, CacheEntry>();
  settings: CacheSettings;
  private readonly events: CacheEvents;
  evictions = 0;
  /** The bytes the entries hold, as counted (ENTRY_BYTES and bytes.ts). */
  bytes = 0;

  constructor(settings: CacheSettings = CACHE_DEFAULTS, events: CacheEvents = {}) {
    this.settings = settings;
    this.events = events;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
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
      e.use.hits++;
      return { kind: "hit", entry: e, age };
    }
    if (now < e.staleUntil) return { kind: "expired", entry: e, age };
    this.map.delete(key);
    this.bytes -= e.bytes;
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
    if (this.settings.maxEntries === 0 || this.settings.maxBytes === 0) return undefined;
    const ttl = this.ttlFor(a);
    if (ttl === undefined || ttl === 0) return undefined;
    const st = this.settings;
    // Served TTLs follow the clamps too, so clients never see a TTL the cache would not keep.
    const clampAll = (rrs: readonly ResourceRecord[]) =>
      rrs.map((rr) =>
        owned(
          rr.ttl >= st.minTtl && rr.ttl <= Math.max(st.maxTtl, ttl)
            ? rr
            : { ...rr, ttl: Math.min(Math.max(rr.ttl, st.minTtl), Math.max(st.maxTtl, ttl)) },
        ),
      );
    const answers = clampAll(a.answers);
    const authorities =
      a.rcode === 0 && a.answers.length > 0
        ? a.authorities.map(owned)
        : clampAll(a.authorities).map((rr) =>
            rr.type === RRType.SOA ? { ...rr, ttl: Math.min(rr.ttl, ttl) } : rr,
          );
    const additionals = a.additionals.map(owned);
    const bytes =
      ENTRY_BYTES +
      stringBytes(key.length) +
      recordsBytes(answers) +
      recordsBytes(authorities) +
      recordsBytes(additionals);
    // One shape for every entry (optional fields as undefined): spreading them in made entries
    // of several shapes, each a little larger.
    const entry: CacheEntry = {
      rcode: a.rcode,
      ad: a.ad,
      dnssec: a.dnssec,
      ede: a.ede,
      answers,
      authorities,
      additionals,
      key,
      bytes,
      storedAt: now,
      expiresAt: now + ttl * 1000,
      staleUntil: now + ttl * 1000 + (this.settings.serveStale ? this.settings.staleTtl * 1000 : 0),
      ttl,
      use: { hits: 0, prefetching: false },
      wire: undefined,
    };
    // An answer larger than the whole budget is not kept (it would evict everything else).
    if (bytes > st.maxBytes) return undefined;
    const old = this.map.set(key, entry);
    if (old !== undefined) this.bytes -= old.bytes;
    this.bytes += bytes;
    while (this.map.size > st.maxEntries || this.bytes > st.maxBytes) {
      const oldest = this.map.oldest();
      if (oldest === undefined) break;
      this.map.evictOldest();
      this.bytes -= oldest.bytes;
      this.evictions++;
      this.events.onEvict?.();
    }
    return entry;
  }

  /**
   * Keep `w` as `e`'s encoded answer (replacing the one it had), counted in its bytes; nothing
   * when `e` is no longer held (evicted or replaced: its bytes would count nowhere).
   */
  keepWire(e: CacheEntry, w: WireAnswer): void {
    if (this.map.get(e.key) !== e) return;
    const add = wireAnswerBytes(w) - (e.wire === undefined ? 0 : wireAnswerBytes(e.wire));
    if (this.bytes + add > this.settings.maxBytes) return;
    e.wire = w;
    e.bytes += add;
    this.bytes += add;
  }

  /** True when a hit should trigger a background refresh (RFC 8767 §5 style prefetch). */
  shouldPrefetch(e: CacheEntry, now: number): boolean {
    if (!this.settings.prefetch || e.use.prefetching || e.use.hits < 2 || e.ttl < 10) return false;
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
