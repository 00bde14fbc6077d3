// Stage connect-origin: bind the request to a connection toward the checked address. Plain HTTP takes
// a pooled keep-alive connection keyed `<ip>:<port>` (the pool dials lazily, only that IP).
// After resolve-peer (needs the pinned IP), before upstream-request.

import type { Exchange, Outcome, Stage } from "../exchange.ts";

export function createConnectOrigin(): Stage {
  return {
    name: "connect-origin",
    run(ex: Exchange): Outcome {
      ex.origin = ex.peerFamily === 6 ? `[${ex.peerIp}]:${ex.port}` : `${ex.peerIp}:${ex.port}`;
      return "next";
    },
  };
}
