// any-query: a query for ANY (QTYPE 255) is answered with one synthesized HINFO record, CPU
// "RFC8482" and an empty OS (RFC 8482 §4.2), on every transport and without asking upstream. A
// full ANY answer is an amplifier (a few dozen bytes in, every RRset of a name out) and not what
// any client needs; RFC 8482 lets a responder answer with a subset, and the synthesized record
// keeps the answer small and the same for every name. After the query-phase policies, so a
// blocked name stays blocked; before recursion, because the answer is local.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { ownerName, responseSkeleton } from "../respond.ts";
import { Rcode, RRClass, RRType } from "../wire/constants.ts";

/** The HINFO RDATA: character-strings "RFC8482" and "". */
const HINFO_RDATA = Uint8Array.from([7, ...Buffer.from("RFC8482", "ascii"), 0]);
/** RFC 8482 §4.2 leaves the TTL to the implementer; an hour, like other local answers. */
const HINFO_TTL = 3600;

export function createAnyQueryStage(): Stage {
  return {
    name: "any-query",
    run(ex: DnsExchange): Outcome {
      const q = parsedQuery(ex);
      if (q.qtype !== RRType.ANY) return "next";
      const m = responseSkeleton(ex, Rcode.NOERROR);
      // The owner is the name being answered: after a rewrite, the end of the CNAME chain.
      const owner = ownerName(ex, q);
      m.answers = [
        ...ex.prefix,
        { name: owner, type: RRType.HINFO, class: RRClass.IN, ttl: HINFO_TTL, data: HINFO_RDATA },
      ];
      ex.response = m;
      // Counted in gatehouse_dns_minimal_any_total by this reason (telemetry/metrics.ts).
      ex.reason = "rfc8482_any";
      return "respond";
    },
  };
}
