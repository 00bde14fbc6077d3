// resolve: ask the upstreams (singleflight, conditional forwarding, strategy) when the cache had
// nothing fresh. The one place a name is resolved: the question, a CNAME target, and the target
// of a rewrite decided by a response-phase policy (the pipeline runs this stage again after
// policy-response). A popular cached entry near expiry is refreshed in the background
// (prefetch), whichever path answered its repeats. When every upstream fails, an expired entry is served with TTL 30 and EDE 3
// "Stale Answer" (RFC 8767 §4–5); without one the failure goes to dns/fail.ts: SERVFAIL with the
// EDE the error catalogue gives its kind (22 "No Reachable Authority" for a timeout, else 23
// "Network Error"; RFC 8914 §4). An answer (cached or fresh) that ends at a
// CNAME without the target's records is continued at the target, as unbound does (RFC 1034
// §4.3.2 step 3a): the chain so far goes into `ex.prefix`, up to MAX_CHAIN names. An answer that
// fails DNSSEC validation (dnssec/) is SERVFAIL with the RFC 8914 code of its cause.

import { EdgeError } from "@gatehouse/contract/errors";
import { agedRecords } from "../cache/dns-cache.ts";
import {
  type DnsExchange,
  type Outcome,
  parsedQuery,
  type Stage,
  worstState,
} from "../exchange.ts";
import { fail } from "../fail.ts";
import { fetchUpstream, keyOf } from "../resolve-name.ts";
import type { Resolved } from "../runtime.ts";
import { MAX_CHAIN } from "../scrub.ts";
import { Ede, Rcode, RRType } from "../wire/constants.ts";
import { edeOption } from "../wire/edns.ts";
import type { ResourceRecord } from "../wire/message.ts";
import { lowerName } from "../wire/name.ts";
import { lookupCache, lookupKey } from "./cache.ts";

/** RFC 8767 §4: TTL of stale answers. */
const STALE_TTL = 30;

export function createResolveStage(): Stage {
  return {
    name: "resolve",
    run(ex: DnsExchange): Outcome | Promise<Outcome> {
      // An answer that needs nothing more (a cache hit, or this stage's second run after
      // policy-response) goes on without a promise; only a lookup or a chain to follow awaits.
      if (ex.answer !== undefined) {
        prefetchIfDue(ex);
        if (!chainDangles(ex)) return "next";
      }
      return resolveAsync(ex);
    },
  };
}

async function resolveAsync(ex: DnsExchange): Promise<Outcome> {
  try {
    if (ex.answer === undefined) {
      // Awaited here rather than in a helper of its own: one async layer fewer per miss.
      const fetching = lookupOrFetch(ex);
      if (fetching !== undefined) answerWith(ex, await fetching);
    }
    if (chainDangles(ex)) await continueChain(ex);
    return "next";
  } catch (e) {
    if (!(e instanceof EdgeError) || e.source !== "upstream") throw e;
    const stale = ex.stale;
    // No stale answer to stand in (and none ever for a bogus answer: RFC 4035 §5.5 says
    // bogus data is never handed out): SERVFAIL with the failure's EDE (dns/fail.ts).
    if (!stale || e.kind === "dnssec_bogus") {
      fail(ex, e);
      return "respond";
    }
    ex.reason = e.reason;
    if (e.where !== undefined) ex.upstream = e.where;
    ex.errorDetail = e.message;
    ex.answer = {
      rcode: stale.rcode,
      ad: stale.ad,
      ...(stale.dnssec ? { dnssec: stale.dnssec } : {}),
      answers: agedRecords(
        stale.answers.map((r) => ({ ...r, ttl: STALE_TTL })),
        0,
      ),
      authorities: agedRecords(
        stale.authorities.map((r) => ({ ...r, ttl: STALE_TTL })),
        0,
      ),
      additionals: [],
    };
    // Counted in gatehouse_dns_cache_lookups_total{result="stale"} by this status.
    ex.cache = "stale";
    ex.ede.push(edeOption(Ede.STALE_ANSWER));
    return "next";
  }
}

/** Whether `ex.answer` ends at a CNAME whose target's records it lacks (continueChain's work). */
function chainDangles(ex: DnsExchange): boolean {
  const a = ex.answer;
  const type = parsedQuery(ex).qtype;
  return (
    a !== undefined &&
    a.rcode === Rcode.NOERROR &&
    type !== RRType.CNAME &&
    danglingTarget(a.answers, ex.lookupName, type) !== undefined
  );
}

/**
 * The name a NOERROR answer for `name` leaves dangling: the end of its CNAME chain when no record
 * of `type` is there (undefined when the answer has the data or no CNAME).
 */
export function danglingTarget(
  answers: readonly ResourceRecord[],
  name: string,
  type: number,
): string | undefined {
  let current = name;
  for (let hops = 0; hops <= MAX_CHAIN; hops++) {
    let next: string | undefined;
    for (const r of answers) {
      if (lowerName(r.name) !== current) continue;
      if (r.type === type) return undefined;
      if (r.type === RRType.CNAME) next ??= lowerName(r.data as string);
    }
    if (next === undefined) return current === name ? undefined : current;
    current = next;
  }
  return undefined;
}

/** Resolve on from a CNAME whose target's records the answer lacks (see the header). */
async function continueChain(ex: DnsExchange): Promise<void> {
  const type = parsedQuery(ex).qtype;
  if (type === RRType.CNAME) return;
  for (let hops = 0; ex.answer && ex.answer.rcode === Rcode.NOERROR; hops++) {
    const target = danglingTarget(ex.answer.answers, ex.lookupName, type);
    if (target === undefined) return;
    if (hops >= MAX_CHAIN || ex.prefix.length > MAX_CHAIN) {
      ex.answer = undefined;
      throw new EdgeError("upstream_malformed", "CNAME chain too long");
    }
    // The chain so far is authentic only if every piece was (finalize sets AD from this).
    ex.chainDnssec = worstState(
      ex.chainDnssec ?? "secure",
      ex.answer.ad ? "secure" : ex.answer.dnssec,
    );
    for (const r of ex.answer.answers)
      if (r.type === RRType.CNAME || r.type === RRType.DNAME) {
        ex.prefix.push(r);
        ex.chainRecords++;
      }
    ex.lookupName = target;
    ex.answer = undefined;
    ex.cacheKey = undefined;
    const fetching = lookupOrFetch(ex);
    if (fetching !== undefined) answerWith(ex, await fetching);
  }
}

/**
 * Resolve `ex.lookupName`: from the cache into `ex.answer` (unless the cache stage just looked
 * this name up and missed; undefined then), else the upstreams' answer to hand to `answerWith`
 * (rejects with an upstream EdgeError).
 */
function lookupOrFetch(ex: DnsExchange): Promise<Resolved> | undefined {
  const k = lookupKey(ex);
  const looked = ex.cacheKey;
  const key = looked ?? keyOf(ex.rt, k);
  if (looked === undefined && lookupCache(ex, k, key)) {
    prefetchIfDue(ex);
    return undefined;
  }
  return fetchUpstream(ex.rt, k, key);
}

function answerWith(ex: DnsExchange, r: Resolved): void {
  ex.answer = r.answer;
  ex.upstream = r.upstream;
}

/**
 * Refresh the entry the answer came from in the background when it is popular and near expiry
 * (DnsCache.shouldPrefetch; its hits count fast-path answers too). Considered once per entry.
 */
function prefetchIfDue(ex: DnsExchange): void {
  const e = ex.hit;
  if (e === undefined) return;
  ex.hit = undefined;
  const rt = ex.rt;
  if (!rt.shared.cache.shouldPrefetch(e, Date.now())) return;
  e.use.prefetching = true;
  // The entry's own key: the refresh replaces exactly the entry that answered.
  fetchUpstream(rt, lookupKey(ex), e.key).catch(() => {
    e.use.prefetching = false;
  });
}
