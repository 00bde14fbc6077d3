// cache: answer from the cache when a fresh entry exists. After the query-phase policies (a
// cached answer must never bypass a block) and before resolve (a hit costs no upstream query);
// response-phase policies still run on cached answers. An expired entry is kept on the exchange
// for serve-stale; a popular entry near expiry is refreshed in the background (prefetch).

import { dnsMetrics } from "../../telemetry/metrics.ts";
import { agedRecords } from "../cache/dns-cache.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { fetchUpstream, keyOf, type LookupKey } from "../resolve-name.ts";

export function createCacheStage(): Stage {
  return {
    name: "cache",
    run(ex: DnsExchange): Outcome {
      const q = ex.query!;
      const rt = ex.rt;
      const k: LookupKey = {
        name: ex.lookupName,
        type: q.qtype,
        class: q.qclass,
        do: q.edns?.do ?? false,
        cd: q.cd,
      };
      const key = keyOf(rt, k);
      ex.cacheKey = key;
      const now = ex.ts;
      const r = rt.shared.cache.lookup(key, now);
      const m = dnsMetrics();
      if (r.kind === "hit") {
        const e = r.entry;
        ex.answer = {
          rcode: e.rcode,
          ad: e.ad,
          answers: r.age === 0 ? e.answers : agedRecords(e.answers, r.age),
          authorities: r.age === 0 ? e.authorities : agedRecords(e.authorities, r.age),
          additionals: r.age === 0 ? e.additionals : agedRecords(e.additionals, r.age),
        };
        ex.cache = "hit";
        m.cache.inc({ result: "hit" });
        if (rt.shared.cache.shouldPrefetch(e, now)) {
          e.prefetching = true;
          fetchUpstream(rt, k, key).catch(() => {
            e.prefetching = false;
          });
        }
        return "next";
      }
      if (r.kind === "expired") ex.stale = r.entry;
      ex.cache = "miss";
      m.cache.inc({ result: "miss" });
      return "next";
    },
  };
}
