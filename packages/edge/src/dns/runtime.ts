// Everything the DNS stages read, compiled once per config snapshot (DnsRuntime) plus the state
// that outlives a reload (DnsShared: cache, in-flight table; also the origin of the service's
// query events).

import type { ResolverSettings } from "@gatehouse/contract";
import type { ExecutionContext } from "@gatehouse/rules";
import { ClientRules } from "../policy/client-settings.ts";
import { BlockingPauses } from "../policy/pauses.ts";
import { policySchemes } from "../policy/policy-set.ts";
import type { EdgeSnapshot } from "../snapshot.ts";
import {
  CACHE_DEFAULTS,
  CACHE_MAX_BYTES_DEFAULT,
  type CachedAnswer,
  type CacheSettings,
  type DnsCache,
} from "./cache/dns-cache.ts";
import { type DecisionPlan, decisionPlan, fixedPolicy } from "./decision-memo.ts";
import { dnssecSetup } from "./dnssec/setup.ts";
import type { Validator } from "./dnssec/validator.ts";
import { LocalZones } from "./local-zones.ts";
import { PacketCache } from "./packet-cache.ts";
import { RateLimiter } from "./rate-limiter.ts";
import { UpstreamRouter } from "./upstream/pool.ts";
import { RRClass } from "./wire/constants.ts";
import { decodeMessage } from "./wire/message.ts";

/** An upstream answer, decoded and checked. */
export interface Resolved {
  readonly answer: CachedAnswer;
  readonly upstream: string;
}

export interface DnsShared {
  readonly cache: DnsCache;
  /** Singleflight: identical upstream queries in flight share one promise. */
  readonly inflight: Map<string, Promise<Resolved>>;
  readonly edgeId?: string;
  /** RFC 5001 NSID payload, when configured (`edge.dns.nsid`). */
  readonly nsid?: Uint8Array;
}

export interface DnsRuntime {
  readonly snapshot: EdgeSnapshot;
  readonly shared: DnsShared;
  readonly router: UpstreamRouter;
  /** Reused for every evaluation: policy stages set, match and finish synchronously. */
  readonly ctx: ExecutionContext;
  /** Rule fields some DNS policy reads (the stages fill only these). */
  readonly fields: ReadonlySet<string>;
  readonly limiter: RateLimiter | undefined;
  readonly limitAction: "refuse" | "drop";
  readonly allowUnknownClients: boolean;
  readonly use0x20: boolean;
  readonly cacheSettings: CacheSettings;
  /**
   * True when every DNS policy reads only memoizable fields and none has a schedule: then a
   * response depends only on (location, question, EDNS/DO) and the cached answer, and the
   * packet cache and the decision memo may serve it.
   */
  readonly memoizable: boolean;
  /** Blocking paused for everyone, some locations or clients (bundle `pauses`); undefined: never. */
  readonly pauses: BlockingPauses | undefined;
  /** Per-client settings (bundle `clients`); undefined: no client has any. */
  readonly clientRules: ClientRules | undefined;
  /**
   * Client addresses with a pause or settings of their own: their answers depend on who asks,
   * so they bypass the fast path, the decision memo and the packet cache (memoFor()).
   * Undefined when there are none: nothing is looked up per query.
   */
  readonly ownRules: ReadonlySet<string> | undefined;
  /** Encoded responses for the fast path; a new (empty) one per config. */
  readonly packets: PacketCache;
  /**
   * Memoized query-phase decisions per (location, qtype, name): the position of the first
   * fixed policy that matches, -1 for none (decision-memo.ts).
   */
  readonly decisions: Map<string, number>;
  /** Which query-phase policies the memo stands for; undefined: none (no memo). */
  readonly decisionPlan: DecisionPlan | undefined;
  /** Decisions may be memoized (blocking is not paused for a location or everyone). */
  readonly decisionMemo: boolean;
  /** The DNSSEC validator (dnssec/), undefined when `resolver.dnssec.validate` is false. */
  readonly validator: Validator | undefined;
  /** Locations whose clients get no DNSSEC validation. */
  readonly dnssecOff: ReadonlySet<string>;
  /** Some query-phase block policy judges CNAME chain names too (settings.cnameCloaking). */
  readonly cnameCloaking: boolean;
  /** The config's local zones, indexed (local-zones.ts). */
  readonly localZones: LocalZones;
}

function cacheSettingsOf(snapshot: EdgeSnapshot): CacheSettings {
  const c = snapshot.bundle.resolver.cache ?? {};
  return {
    // The answer cache and the packet cache share the byte budget, half each.
    maxBytes: Math.floor((c.maxBytes ?? CACHE_MAX_BYTES_DEFAULT) / 2),
    maxEntries: c.maxEntries ?? CACHE_DEFAULTS.maxEntries,
    minTtl: c.minTtl ?? CACHE_DEFAULTS.minTtl,
    maxTtl: c.maxTtl ?? CACHE_DEFAULTS.maxTtl,
    maxNegativeTtl: c.maxNegativeTtl ?? CACHE_DEFAULTS.maxNegativeTtl,
    serveStale: c.serveStale ?? CACHE_DEFAULTS.serveStale,
    staleTtl: c.staleTtl ?? CACHE_DEFAULTS.staleTtl,
    prefetch: c.prefetch ?? CACHE_DEFAULTS.prefetch,
  };
}

/**
 * The per-source limit when the config says nothing: far above what one device asks (a page
 * load is tens of names; a busy host averages well under one query a second) and low enough
 * that one source cannot keep the edge busy or use it to flood a spoofed address. Like
 * Pi-hole's 1000 queries a minute, with room for bursts; a site whose clients all reach the
 * edge through one NAT address may need more (docs/configuration.md).
 */
export const RATE_LIMIT_DEFAULT = { queriesPerSecond: 50, burst: 500 } as const;

/** The configured limit: absent is the default, `false` is none. */
function rateLimitOf(
  rl: ResolverSettings["rateLimit"],
): Exclude<ResolverSettings["rateLimit"], false> {
  if (rl === false) return undefined;
  return rl ?? RATE_LIMIT_DEFAULT;
}

/** Compile the DNS side of a snapshot. Throws on bad upstream addresses (config rejected). */
export function createRuntime(
  snapshot: EdgeSnapshot,
  shared: DnsShared,
  previous?: DnsRuntime,
): DnsRuntime {
  const r = snapshot.bundle.resolver;
  const router = new UpstreamRouter(r);
  const dns = snapshot.policies.dns;
  const fields = new Set([...dns.queryFields, ...dns.responseFields]);
  const ctx = policySchemes().dns.context(snapshot.lists);
  const rl = rateLimitOf(r.rateLimit);
  const prevRl = previous ? rateLimitOf(previous.snapshot.bundle.resolver.rateLimit) : undefined;
  // Keep the buckets across reloads when the limit did not change.
  const limiter =
    rl === undefined
      ? undefined
      : previous?.limiter &&
          prevRl &&
          prevRl.queriesPerSecond === rl.queriesPerSecond &&
          prevRl.burst === rl.burst
        ? previous.limiter
        : new RateLimiter({
            queriesPerSecond: rl.queriesPerSecond,
            burst: rl.burst ?? rl.queriesPerSecond,
          });
  const cacheSettings = cacheSettingsOf(snapshot);
  const pauses = BlockingPauses.of(snapshot.bundle.pauses);
  const clientRules = ClientRules.of(snapshot.bundle.clients);
  const own = new Set([...(pauses?.clients() ?? []), ...(clientRules?.clients() ?? [])]);
  // A pause makes a block depend on the time: no memo, no packet cache (as with schedules); a
  // pause of some clients only does so for them (they bypass both: memoFor). A list rule
  // limited to client addresses ($client) makes the answer depend on the client.
  const memoizable =
    (pauses === undefined || pauses.clientsOnly) &&
    dns.all.every((p) => fixedPolicy(p, snapshot.lists));
  shared.cache.settings = cacheSettings;
  const use0x20 = r.use0x20 ?? false;
  // The validator asks the same upstreams, with DO and CD set, for the DS and DNSKEY records
  // it needs.
  const dnssec = dnssecSetup(
    r,
    snapshot.bundle.locations,
    async (name, type) => {
      const q = { name, type, class: RRClass.IN, do: true, cd: true };
      const a = await router.route(name).group.query(q, use0x20);
      return decodeMessage(a.wire);
    },
    previous?.validator,
  );
  return {
    snapshot,
    shared,
    router,
    ctx,
    fields,
    limiter,
    limitAction: rl?.action ?? "refuse",
    allowUnknownClients: snapshot.bundle.allowUnknownClients ?? false,
    use0x20,
    cacheSettings,
    memoizable,
    pauses,
    clientRules,
    ownRules: own.size > 0 ? own : undefined,
    packets: new PacketCache(
      Math.min(cacheSettings.maxEntries, 200_000),
      cacheSettings.maxBytes,
      snapshot.locations.all,
    ),
    decisions: new Map(),
    decisionPlan: decisionPlan(dns, snapshot.lists),
    decisionMemo: pauses === undefined || pauses.clientsOnly,
    validator: dnssec.validator,
    dnssecOff: dnssec.offLocations,
    localZones: new LocalZones(snapshot.bundle.localZones ?? [], snapshot.bundle.version),
    cnameCloaking: dns.all.some(
      (p) => p.action === "block" && p.phase === "query" && p.settings.cnameCloaking !== false,
    ),
  };
}

/**
 * May this client's query use the decision memo and the packet cache? Only with memoizable
 * rules and when the client has no pause or settings of its own (one Set lookup, and only
 * when some client has).
 */
export function memoFor(rt: DnsRuntime, ip: string): boolean {
  return rt.memoizable && (rt.ownRules === undefined || !rt.ownRules.has(ip));
}
