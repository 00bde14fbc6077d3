// Stage forward-upgrade: send the request on the fresh origin connection (connect-origin) with
// the upgrade asked for again (Connection and Upgrade are hop-by-hop, so this hop re-states
// them) and wait for the 101, or any final response. After upstream-request, before
// policy-response.

import { type Exchange, type Outcome, required, type Stage } from "../exchange.ts";
import type { OriginPool } from "../http1/origin-pool.ts";
import { originRequest } from "./forward.ts";

/** Send the request with the upgrade asked for; wait for the 101 (or any final response). */
export function createForwardUpgrade(pool: OriginPool): Stage {
  return {
    name: "forward",
    async run(ex: Exchange): Promise<Outcome> {
      const call = required(ex.originCall, "the origin call");
      const upgrade = required(ex.req.header("upgrade"), "the Upgrade field");
      pool.send(originRequest(ex, undefined, upgrade), call);
      try {
        await call.head;
      } finally {
        ex.socket.off("close", call.clientClosed);
      }
      // Inspected (wss): the TLS connection to the origin verified its certificate.
      if (ex.inspection !== undefined) ex.originCert = call.certVerdict ?? "valid";
      ex.upstream = call;
      ex.status = call.statusCode;
      return "next";
    },
  };
}
