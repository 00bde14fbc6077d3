// policy-query: DNS policies whose fields are all known from the question (rules spec §5.7:
// pre-resolution policies always win over post-resolution ones). Before the cache so a block or
// override never depends on what happens to be cached, and so blocked names cost no upstream
// traffic.

import { decideQuery } from "../decision-memo.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { applyPolicy, clientSafeSearch } from "./apply-policy.ts";

export function createPolicyQueryStage(): Stage {
  return {
    name: "policy-query",
    run(ex: DnsExchange): Outcome {
      const rt = ex.rt;
      const set = rt.snapshot.policies.dns;
      if (!set.hasPhase("query")) return clientSafeSearch(ex);
      // Memoized per (location, qtype, name) for the policies those decide (decision-memo.ts).
      const p = decideQuery(ex, parsedQuery(ex).qname);
      if (!p) return clientSafeSearch(ex);
      return applyPolicy(ex, p, "query");
    },
  };
}
