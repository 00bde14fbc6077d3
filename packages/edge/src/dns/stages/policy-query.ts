// policy-query: DNS policies whose fields are all known from the question (rules spec §5.7:
// pre-resolution policies always win over post-resolution ones). Before the cache so a block or
// override never depends on what happens to be cached, and so blocked names cost no upstream
// traffic.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { applyPolicy } from "./apply-policy.ts";
import { setQueryFields } from "./rule-fields.ts";

export function createPolicyQueryStage(): Stage {
  return {
    name: "policy-query",
    run(ex: DnsExchange): Outcome {
      const rt = ex.rt;
      const set = rt.snapshot.policies.dns;
      if (!set.hasPhase("query")) return "next";
      const ctx = rt.ctx;
      ctx.reset();
      setQueryFields(ctx, ex, rt.fields);
      const p = set.match(ctx, ex.ts, "query");
      if (!p) return "next";
      return applyPolicy(ex, p, "query");
    },
  };
}
