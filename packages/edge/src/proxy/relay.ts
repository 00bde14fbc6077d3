// Relaying bytes both ways between a client socket and an origin socket, once neither side
// speaks HTTP to us any more: a CONNECT tunnel after the ClientHello peek (tunnel.ts) and a
// protocol upgrade (WebSocket) after the origin's 101 (upgrade.ts). No per-chunk JS work:
// pipe() moves the buffers with backpressure both ways and forwards half-closes (FIN) in order.

import type { Socket } from "node:net";
import type { Exchange } from "./exchange.ts";
import type { ProxyLimits } from "./limits.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";

/**
 * Relay until either side is closed (then both are), or both were idle for
 * `upstreamIdleTimeoutMs`. `first` is written to the origin before anything else (bytes the
 * client sent ahead of the relay). Resolves once both sockets are closed.
 */
export function relay(
  ex: Exchange,
  client: Socket,
  up: Socket,
  first: Buffer | undefined,
  limits: ProxyLimits,
  metrics: ProxyMetrics,
): Promise<void> {
  metrics.activeTunnels.inc();
  return new Promise<void>((resolve) => {
    let open = 2;
    const onClose = () => {
      // Once one side is fully closed nothing more can be relayed: tear the other down.
      client.destroy();
      up.destroy();
      if (--open === 0) {
        metrics.activeTunnels.dec();
        resolve();
      }
    };
    // A side that closed while the relay was being set up has already fired its "close".
    if (client.closed) queueMicrotask(onClose);
    else client.once("close", onClose);
    if (up.closed) queueMicrotask(onClose);
    else up.once("close", onClose);
    client.on("error", () => up.destroy());
    up.on("error", () => client.destroy());
    const idle = () => {
      ex.reason ??= "upstream_timeout";
      client.destroy();
      up.destroy();
    };
    client.setTimeout(limits.upstreamIdleTimeoutMs, idle);
    up.setTimeout(limits.upstreamIdleTimeoutMs, idle);
    if (first !== undefined && first.length > 0) up.write(first);
    client.pipe(up);
    up.pipe(client);
    client.resume();
  });
}
