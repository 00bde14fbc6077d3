// Stage connect-destination: dial the tunnel's pinned, checked address (resolve-peer), never the
// name. After policy-sni (only a tunnel every policy let through touches the destination), before
// relay-tunnel. A failure is thrown as an edge error (fail.ts's `socketFailure`, the same mapping
// as the origin pool's), so a timeout or an unreachable destination gets the same answer here as
// on every other path.

import { EdgeError } from "@gatehouse/contract/errors";
import type { Exchange, Outcome, Stage } from "../exchange.ts";
import { socketFailure } from "../fail.ts";
import type { ProxyLimits } from "../limits.ts";
import type { ProxyMetrics } from "../proxy-metrics.ts";
import { connectForRelay } from "../relay.ts";

export function createConnectDestination(limits: ProxyLimits, metrics: ProxyMetrics): Stage {
  return {
    name: "connect-destination",
    run(ex: Exchange): Outcome | Promise<Outcome> {
      if (ex.inspection !== undefined) return "next"; // inspect-tls served it
      return new Promise<Outcome>((resolve, reject) => {
        const t0 = performance.now();
        const where = ex.peerFamily === 6 ? `[${ex.peerIp}]:${ex.port}` : `${ex.peerIp}:${ex.port}`;
        const up = connectForRelay({
          host: ex.peerIp,
          port: ex.port,
          family: ex.peerFamily || undefined,
          noDelay: true,
        });
        const timer = setTimeout(() => {
          up.destroy();
          reject(new EdgeError("connect_timeout", `${where}: connecting timed out`, { where }));
        }, limits.connectTimeoutMs);
        let connected = false;
        up.once("connect", () => {
          clearTimeout(timer);
          connected = true;
          metrics.connectLatency((performance.now() - t0) / 1000);
          ex.upstreamSocket = up;
          resolve("next");
        });
        // Stays registered after connecting (a no-op then), so an error between this stage and
        // relay-tunnel never finds the socket without a listener.
        up.on("error", (err: NodeJS.ErrnoException) => {
          if (connected) return;
          clearTimeout(timer);
          reject(socketFailure(err, true, where));
        });
      });
    },
  };
}
