// cache: answer from the cache when a fresh entry exists. After the query-phase policies (a
// cached answer must never bypass a block) and before resolve (a hit costs no upstream query);
// response-phase policies still run on cached answers. An expired entry is kept on the exchange
// for serve-stale. `lookupCache` is the pipeline's one cache lookup: this stage uses it for the
// question, resolve for each further name (a CNAME target, a rewrite's target).

import { CacheHit } from "../cache/dns-cache.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { keyOf, type LookupKey, validates } from "../resolve-name.ts";

/** What `ex.lookupName` is looked up (and asked upstream) as. */
export function lookupKey(ex: DnsExchange): LookupKey {
  const q = parsedQuery(ex);
  return {
    name: ex.lookupName,
    type: q.qtype,
    class: q.qclass,
    do: q.edns?.do ?? false,
    cd: q.cd,
    validate: validates(ex),
  };
}

/**
 * Look `ex.lookupName` up: a fresh entry becomes `ex.answer` with its TTLs aged (`ex.hit` keeps
 * the entry for prefetch); an expired one is kept in `ex.stale` for serve-stale. Sets
 * `ex.cacheKey` and `ex.cache` (a later hit overrides an earlier miss). True on a hit.
 */
export function lookupCache(ex: DnsExchange, k: LookupKey, key = keyOf(ex.rt, k)): boolean {
  const rt = ex.rt;
  ex.cacheKey = key;
  const r = rt.shared.cache.lookup(key, Date.now());
  if (r.kind === "hit") {
    const e = r.entry;
    ex.answer = new CacheHit(e, r.age);
    ex.hit = e;
    ex.stale = undefined;
    ex.cache = "hit";
    return true;
  }
  ex.stale = r.kind === "expired" ? r.entry : undefined;
  if (ex.cache === "none") ex.cache = "miss";
  return false;
}

export function createCacheStage(): Stage {
  return {
    name: "cache",
    run(ex: DnsExchange): Outcome {
      lookupCache(ex, lookupKey(ex));
      return "next";
    },
  };
}
