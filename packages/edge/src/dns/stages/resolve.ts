// resolve: ask the upstreams (singleflight, conditional forwarding, strategy) when the cache had
// nothing fresh. When every upstream fails, an expired entry is served with TTL 30 and EDE 3
// "Stale Answer" (RFC 8767 §4–5); without one the answer is SERVFAIL with EDE 22 "No Reachable
// Authority" or 23 "Network Error" (RFC 8914 §4). An answer (cached or fresh) that ends at a
// CNAME without the target's records is continued at the target, as unbound does (RFC 1034
// §4.3.2 step 3a): the chain so far goes into `ex.prefix`, up to MAX_CHAIN names.

import { dnsMetrics } from "../../telemetry/metrics.ts";
import { agedRecords } from "../cache/dns-cache.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { resolveInto } from "../resolve-name.ts";
import { responseSkeleton } from "../respond.ts";
import { MAX_CHAIN } from "../scrub.ts";
import { UpstreamError } from "../upstream/transports.ts";
import { Ede, Rcode, RRType } from "../wire/constants.ts";
import { edeOption } from "../wire/edns.ts";
import type { ResourceRecord } from "../wire/message.ts";
import { lowerName } from "../wire/name.ts";

/** RFC 8767 §4: TTL of stale answers. */
const STALE_TTL = 30;
/** RFC 8914 §4.23 and §4.24, with fixed texts. */
const NO_ANSWER = edeOption(Ede.NO_REACHABLE_AUTHORITY, "no upstream answered in time");
const UNREACHABLE = edeOption(Ede.NETWORK_ERROR, "no upstream gave a usable answer");

export function createResolveStage(): Stage {
  return {
    name: "resolve",
    async run(ex: DnsExchange): Promise<Outcome> {
      try {
        if (!ex.answer) await resolveInto(ex);
        await continueChain(ex);
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

/**
 * The name a NOERROR answer for `name` leaves dangling: the end of its CNAME chain when no record
 * of `type` is there (undefined when the answer has the data or no CNAME).
 */
export function danglingTarget(
  answers: readonly ResourceRecord[],
  name: string,
  type: number,
): string | undefined {
  let current = name;
  for (let hops = 0; hops <= MAX_CHAIN; hops++) {
    let next: string | undefined;
    for (const r of answers) {
      if (lowerName(r.name) !== current) continue;
      if (r.type === type) return undefined;
      if (r.type === RRType.CNAME) next ??= lowerName(r.data as string);
    }
    if (next === undefined) return current === name ? undefined : current;
    current = next;
  }
  return undefined;
}

/** Resolve on from a CNAME whose target's records the answer lacks (see the header). */
async function continueChain(ex: DnsExchange): Promise<void> {
  const type = ex.query!.qtype;
  if (type === RRType.CNAME) return;
  for (let hops = 0; ex.answer && ex.answer.rcode === Rcode.NOERROR; hops++) {
    const target = danglingTarget(ex.answer.answers, ex.lookupName, type);
    if (target === undefined) return;
    if (hops >= MAX_CHAIN || ex.prefix.length > MAX_CHAIN) {
      ex.answer = undefined;
      throw new UpstreamError("malformed", "CNAME chain too long");
    }
    for (const r of ex.answer.answers)
      if (r.type === RRType.CNAME || r.type === RRType.DNAME) ex.prefix.push(r);
    ex.lookupName = target;
    ex.answer = undefined;
    ex.cacheKey = undefined;
    await resolveInto(ex);
  }
}
