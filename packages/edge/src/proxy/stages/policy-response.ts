// Stage policy-response: HTTP policies that read the origin's status code
// (`http.response.status_code`) can only decide once the response head is in. After forward,
// before respond: the head has not been written to the client yet, so a block can still replace
// it with the block page. Skipped entirely when no policy reads response fields.

import { answer, discardUpstream, type Exchange, type Outcome, type Stage } from "../exchange.ts";
import { fillHttp } from "../policy-fields.ts";
import type { PolicyContexts } from "./policy-request.ts";

const STATUS_FIELD = "http.response.status_code";

export function createPolicyResponse(ctxs: PolicyContexts): Stage {
  return {
    name: "policy-response",
    run(ex: Exchange): Outcome {
      const set = ex.snapshot.policies.http;
      if (ex.upstream === undefined || !set.queryFields.has(STATUS_FIELD)) return "next";
      const ctx = ctxs.http;
      fillHttp(ctx, ex, set.queryFields, set.queryHeaderNames);
      ctx.set(STATUS_FIELD, ex.upstream.statusCode);
      ctx.lists = ex.snapshot.lists;
      const p = set.match(ctx, Date.now());
      if (p === undefined || p.action !== "block") return "next";
      // Discard the origin's body: the client gets the block page instead.
      discardUpstream(ex);
      ex.policy = p;
      ex.action = "block";
      return answer(ex, 403, "policy", p.settings.blockReason ?? `blocked by policy "${p.name}"`);
    },
  };
}
