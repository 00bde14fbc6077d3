// policy-query: DNS policies whose fields are all known from the question (rules spec §5.7:
// pre-resolution policies always win over post-resolution ones). Before the cache so a block or
// override never depends on what happens to be cached, and so blocked names cost no upstream
// traffic.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { memoFor } from "../runtime.ts";
import { applyPolicy, clientSafeSearch, skippedBy } from "./apply-policy.ts";
import { endListQuery } from "./list-match.ts";
import { setQueryFields } from "./rule-fields.ts";

/** Bound on memoized decisions; the memo is simply restarted when full. */
const DECISION_MEMO_MAX = 100_000;

export function createPolicyQueryStage(): Stage {
  return {
    name: "policy-query",
    run(ex: DnsExchange): Outcome {
      const rt = ex.rt;
      const set = rt.snapshot.policies.dns;
      if (!set.hasPhase("query")) return clientSafeSearch(ex);
      const q = parsedQuery(ex);
      // Decision memo: with memoizable rules the outcome depends only on these three.
      // A client with settings of its own takes no memo (its decision is its own).
      const key = memoFor(rt, ex.client.ip)
        ? `${ex.location?.id ?? ""}\u0000${q.qtype}\u0000${q.qname}`
        : undefined;
      let p = key === undefined ? undefined : rt.decisions.get(key);
      if (p === undefined) {
        const ctx = rt.ctx;
        ctx.reset();
        setQueryFields(ctx, ex, rt.fields);
        p = set.match(ctx, ex.ts, "query", skippedBy(ex)) ?? null;
        endListQuery(ex);
        if (key !== undefined) {
          if (rt.decisions.size >= DECISION_MEMO_MAX) rt.decisions.clear();
          rt.decisions.set(key, p);
        }
      }
      if (!p) return clientSafeSearch(ex);
      return applyPolicy(ex, p, "query");
    },
  };
}
