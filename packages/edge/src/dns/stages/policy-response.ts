// policy-response: policies reading answer fields (`dns.resolved_ips`, `dns.response.cname`, …)
// run once an answer exists, cached or fresh — after resolve by necessity, and only when no
// query-phase policy matched (first match wins, and pre-resolution policies come first, rules
// spec §5.7 item 3). A rewrite decided here (override host, safe search) clears the answer and
// the pipeline's second resolve resolves the new target before the answer is finalized.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { applyPolicy, skippedBy } from "./apply-policy.ts";
import { endListQuery } from "./list-match.ts";
import { setQueryFields, setResponseFields } from "./rule-fields.ts";

export function createPolicyResponseStage(): Stage {
  return {
    name: "policy-response",
    run(ex: DnsExchange): Outcome {
      const rt = ex.rt;
      const set = rt.snapshot.policies.dns;
      if (ex.policy || !ex.answer || !set.hasPhase("response")) return "next";
      const ctx = rt.ctx;
      ctx.reset();
      setQueryFields(ctx, ex, rt.fields);
      setResponseFields(ctx, ex, ex.answer, rt.fields);
      const p = set.match(ctx, ex.ts, "response", skippedBy(ex));
      endListQuery(ex);
      if (!p) return "next";
      const before = ex.lookupName;
      const outcome = applyPolicy(ex, p, "response");
      if (outcome !== "next" || ex.lookupName === before) return outcome;
      ex.answer = undefined;
      ex.cacheKey = undefined;
      ex.hit = undefined;
      return "next";
    },
  };
}
