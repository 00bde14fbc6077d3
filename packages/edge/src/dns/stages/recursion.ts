// recursion: a query with RD=0 asks the edge to answer from what it holds itself, without
// recursion (RFC 1035 §4.1.1). Local answers (special names, blocks, overrides by address) have
// been given by the stages before this one; anything that would need the cache or an upstream is
// REFUSED with EDE 20 "Not Authoritative" (RFC 8914 §4.21). That is unbound's behaviour with its
// default access control (`allow`): it refuses RD=0 queries even for cached names, because
// answering them would let one client see what others have looked up (cache snooping).

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { Ede, Rcode } from "../wire/constants.ts";
import { edeOption } from "../wire/edns.ts";

const NOT_AUTHORITATIVE = edeOption(Ede.NOT_AUTHORITATIVE);

export function createRecursionStage(): Stage {
  return {
    name: "recursion",
    run(ex: DnsExchange): Outcome {
      if (parsedQuery(ex).rd || ex.client.transport === "internal") return "next";
      ex.action = "refused";
      ex.reason = "no_recursion";
      ex.ede.push(NOT_AUTHORITATIVE);
      ex.response = responseSkeleton(ex, Rcode.REFUSED);
      return "respond";
    },
  };
}
