// Stage relay-tunnel: bytes both ways between the client and the destination, the ClientHello
// first, with backpressure, until either side closes or goes idle (relay.ts: spliced by the
// kernel where the addon is built). After connect-destination, before respond-tunnel.

import { type Exchange, type Outcome, required, type Stage } from "../exchange.ts";
import type { ProxyLimits } from "../limits.ts";
import type { ProxyMetrics } from "../proxy-metrics.ts";
import { relayExchange } from "../relay.ts";

export function createRelayTunnel(limits: ProxyLimits, metrics: ProxyMetrics): Stage {
  return {
    name: "relay-tunnel",
    async run(ex: Exchange): Promise<Outcome> {
      if (ex.inspection !== undefined) return "next"; // inspect-tls served it
      const up = required(ex.upstreamSocket, "the destination socket");
      const moved = await relayExchange(ex, up, limits, metrics);
      ex.bytesUp = moved.up;
      ex.bytesDown = moved.down;
      return "next";
    },
  };
}
