// identify: which location the query belongs to — DoH path token, then DoT server-name label,
// then source network. Before admit so that refused unknown clients do not consume rate-limit
// state, and before policy so `dns.location` is known. Unknown clients are REFUSED unless the
// config opts into being an open resolver.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { Rcode } from "../wire/constants.ts";

/** Set `ex.location` from the client; true when the client may use this resolver. */
export function locate(ex: DnsExchange): boolean {
  const locs = ex.rt.snapshot.locations;
  const c = ex.client;
  ex.location =
    (c.dohToken !== undefined ? locs.byDohToken(c.dohToken) : undefined) ??
    (c.transport === "dot" && c.serverName ? locs.byServerName(c.serverName) : undefined) ??
    locs.bySource(c.ip);
  return recursionAvailable(ex);
}

/** RA (RFC 1035 §4.1.1): recursion is available to clients we serve, not to refused ones. */
export function recursionAvailable(ex: DnsExchange): boolean {
  return (
    ex.location !== undefined || ex.rt.allowUnknownClients || ex.client.transport === "internal"
  );
}

export function createIdentifyStage(): Stage {
  return {
    name: "identify",
    run(ex: DnsExchange): Outcome {
      if (locate(ex)) return "next";
      ex.action = "refused";
      ex.reason = "unknown_client";
      ex.response = responseSkeleton(ex, Rcode.REFUSED);
      return "respond";
    },
  };
}
