// resolve: ask the upstreams (singleflight, conditional forwarding, strategy) when the cache had
// nothing fresh. When every upstream fails, an expired entry is served with TTL 30 and EDE 3
// "Stale Answer" (RFC 8767 §4–5); without one the answer is SERVFAIL with EDE 22 "No Reachable
// Authority" or 23 "Network Error" (RFC 8914 §4).

import { dnsMetrics } from "../../telemetry/metrics.ts";
import { agedRecords } from "../cache/dns-cache.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { resolveInto } from "../resolve-name.ts";
import { responseSkeleton } from "../respond.ts";
import { UpstreamError } from "../upstream/transports.ts";
import { Ede, Rcode } from "../wire/constants.ts";
import { edeOption } from "../wire/edns.ts";

/** RFC 8767 §4: TTL of stale answers. */
const STALE_TTL = 30;
/** RFC 8914 §4.23 and §4.24, with fixed texts. */
const NO_ANSWER = edeOption(Ede.NO_REACHABLE_AUTHORITY, "no upstream answered in time");
const UNREACHABLE = edeOption(Ede.NETWORK_ERROR, "no upstream gave a usable answer");

export function createResolveStage(): Stage {
  return {
    name: "resolve",
    async run(ex: DnsExchange): Promise<Outcome> {
      if (ex.answer) return "next";
      try {
        await resolveInto(ex);
        return "next";
      } catch (e) {
        if (!(e instanceof UpstreamError)) throw e;
        ex.reason = `upstream_${e.reason}`;
        if (e.upstream !== undefined) ex.upstream = e.upstream;
        ex.errorDetail = e.message;
        const stale = ex.stale;
        if (stale) {
          ex.answer = {
            rcode: stale.rcode,
            ad: stale.ad,
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
          ex.cache = "stale";
          ex.ede.push(edeOption(Ede.STALE_ANSWER));
          dnsMetrics().cache.inc({ result: "stale" });
          return "next";
        }
        ex.action = "error";
        // The client learns what kind of failure it was, never which upstream or why in detail
        // (addresses, certificate errors): those go to the query log (`upstream`, `reason`)
        // and the operational log.
        ex.ede.push(e.reason === "timeout" ? NO_ANSWER : UNREACHABLE);
        ex.response = responseSkeleton(ex, Rcode.SERVFAIL);
        return "respond";
      }
    },
  };
}
