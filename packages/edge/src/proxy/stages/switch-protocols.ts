// Stage switch-protocols: the origin answered 101, so the proxy does too, then relays bytes both
// ways until either side closes or goes idle. After policy-response, before respond-upgrade. Any
// other answer from the origin passes through untouched (respond-upgrade relays it).

import { type Exchange, type Outcome, required, type Stage } from "../exchange.ts";
import { downstreamResponseHeaders, headerValue } from "../hop-by-hop.ts";
import type { ProxyLimits } from "../limits.ts";
import type { ProxyMetrics } from "../proxy-metrics.ts";
import { relayExchange } from "../relay.ts";
import { rawHead } from "./respond.ts";

/** After policy-response: the origin switched protocols, so do we, then relay both ways. */
export function createSwitchProtocols(
  via: string,
  limits: ProxyLimits,
  metrics: ProxyMetrics,
): Stage {
  return {
    name: "switch-protocols",
    async run(ex: Exchange): Promise<Outcome> {
      const call = ex.upstream;
      const up = call?.upgradedSocket;
      if (call === undefined || up === undefined) return "next";
      const raw = required(call.headers, "the response head");
      const headers = downstreamResponseHeaders(raw, via);
      // Connection and Upgrade are hop-by-hop: stated again for this hop (RFC 9110 §7.8).
      headers.push(
        "connection",
        "upgrade",
        "upgrade",
        headerValue(raw, "upgrade") ?? required(ex.req.header("upgrade"), "the Upgrade field"),
      );
      ex.socket.write(rawHead(101, headers), "latin1");
      // Bytes the origin sent right after its 101 go to the client first.
      const early = call.upgradeHead;
      if (early !== undefined && early.length > 0) ex.socket.write(early);
      ex.established = true;
      const moved = await relayExchange(ex, up, limits, metrics);
      ex.splicedUp = moved.kernelUp;
      ex.splicedDown = moved.kernelDown;
      return "next";
    },
  };
}
