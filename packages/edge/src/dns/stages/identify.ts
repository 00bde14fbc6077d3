// identify: which location the query belongs to — DoH path token, then DoT server-name label,
// then source network. Before admit so that refused unknown clients do not consume rate-limit
// state, and before policy so `dns.location` is known. Unknown clients are REFUSED unless the
// config opts into being an open resolver.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { Rcode } from "../wire/constants.ts";

export function createIdentifyStage(): Stage {
  return {
    name: "identify",
    run(ex: DnsExchange): Outcome {
      const locs = ex.rt.snapshot.locations;
      const c = ex.client;
      ex.location =
        (c.dohToken !== undefined ? locs.byDohToken(c.dohToken) : undefined) ??
        (c.transport === "dot" && c.serverName ? locs.byServerName(c.serverName) : undefined) ??
        locs.bySource(c.ip);
      if (ex.location || ex.rt.allowUnknownClients || c.transport === "internal") return "next";
      ex.action = "refused";
      ex.reason = "unknown_client";
      ex.response = responseSkeleton(ex, Rcode.REFUSED);
      return "respond";
    },
  };
}
