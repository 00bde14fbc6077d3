// Stage connect-destination: dial the tunnel's pinned, checked address (resolve-peer), never the
// name. After policy-sni (only a tunnel every policy let through touches the destination), before
// relay-tunnel.

import type { Exchange, Outcome, Stage } from "../exchange.ts";
import { answer } from "../exchange.ts";
import type { ProxyLimits } from "../limits.ts";
import type { ProxyMetrics } from "../proxy-metrics.ts";
import { connectForRelay } from "../relay.ts";

export function createConnectDestination(limits: ProxyLimits, metrics: ProxyMetrics): Stage {
  return {
    name: "connect-destination",
    run(ex: Exchange): Promise<Outcome> {
      return new Promise<Outcome>((resolve) => {
        const t0 = performance.now();
        // The pinned, checked address: never the name (resolve-peer).
        const up = connectForRelay({
          host: ex.peerIp,
          port: ex.port,
          family: ex.peerFamily || undefined,
          noDelay: true,
        });
        const timer = setTimeout(() => {
          up.destroy();
          resolve(answer(ex, 504, "connect_timeout", "connecting to the destination timed out"));
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
        // splice never finds the socket without a listener.
        const onError = (err: NodeJS.ErrnoException) => {
          if (connected) return;
          clearTimeout(timer);
          resolve(
            answer(
              ex,
              502,
              "connect_failed",
              `could not reach the destination (${err.code ?? "error"})`,
            ),
          );
        };
        up.on("error", onError);
      });
    },
  };
}
