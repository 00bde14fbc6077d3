// admit: the per-source token bucket. After identify (only known clients reach it, so a flood
// of spoofed unknown sources cannot fill the bucket table) and before any work that costs
// (policy, cache, upstream). Over the limit: REFUSED or silence, as configured.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { Rcode } from "../wire/constants.ts";

export function createAdmitStage(): Stage {
  return {
    name: "admit",
    run(ex: DnsExchange): Outcome {
      const limiter = ex.rt.limiter;
      if (!limiter || ex.client.transport === "internal" || limiter.take(ex.client.ip, ex.ts))
        return "next";
      ex.action = "ratelimited";
      ex.reason = "rate_limit";
      if (ex.rt.limitAction === "drop") return "drop";
      ex.response = responseSkeleton(ex, Rcode.REFUSED);
      return "respond";
    },
  };
}
