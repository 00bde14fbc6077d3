// Stage admit: may this client use the proxy at all? After identify (needs location and
// identity), before any policy or network work, so unknown clients cost nothing and the proxy is
// never open: a client outside every location gets 403 unless the bundle says otherwise, and a
// location that requires authentication gets 407 with a Basic challenge.

import { answer, type Exchange, type Outcome, type Stage } from "../exchange.ts";
import { proxyConfigOf } from "../proxy-config.ts";

export function createAdmit(): Stage {
  return {
    name: "admit",
    run(ex: Exchange): Outcome {
      if (ex.location === undefined && !proxyConfigOf(ex.snapshot).allowUnknownClients) {
        return answer(
          ex,
          403,
          "unknown_client",
          "this client is not in any location of the gateway",
        );
      }
      if (ex.reason === "auth_failed") {
        return answer(ex, 407, "auth_failed", "the proxy credentials were not accepted");
      }
      if (ex.location?.requireProxyAuth === true && ex.identity === undefined) {
        return answer(ex, 407, "auth_required", "this network requires proxy authentication");
      }
      return "next";
    },
  };
}
