// admit: the per-source token bucket. After identify (only known clients reach it, so a flood
// of spoofed unknown sources cannot fill the bucket table) and before any work that costs
// (policy, cache, upstream). Over the limit: REFUSED or silence, as configured. `admits` is the
// one implementation: the stage and the fast path (dns-service.ts) call it.

import type { DnsExchange, DnsTransport, Outcome, Stage } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import type { DnsRuntime } from "../runtime.ts";
import { Rcode } from "../wire/constants.ts";

/** Whether a query from `ip` at `now` is within the limit (takes a token when it is). */
export function admits(rt: DnsRuntime, transport: DnsTransport, ip: string, now: number): boolean {
  const limiter = rt.limiter;
  return !limiter || transport === "internal" || limiter.take(ip, now);
}

export function createAdmitStage(): Stage {
  return {
    name: "admit",
    run(ex: DnsExchange): Outcome {
      if (admits(ex.rt, ex.client.transport, ex.client.ip, ex.ts)) return "next";
      ex.action = "ratelimited";
      ex.reason = "rate_limit";
      if (ex.rt.limitAction === "drop") return "drop";
      ex.response = responseSkeleton(ex, Rcode.REFUSED);
      return "respond";
    },
  };
}
