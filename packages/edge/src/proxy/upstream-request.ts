// Stage upstream-request: the request head the origin will see. Hop-by-hop fields stripped
// (RFC 9110 §7.6.1), Host from the target, Via appended. After connect, before forward; it is
// separate from forward so the head is complete (and loggable) before any byte leaves.

import type { Exchange, Outcome, Stage } from "./exchange.ts";
import { upstreamRequestHeaders } from "./hop-by-hop.ts";

export function createUpstreamRequest(via: string): Stage {
  return {
    name: "upstream-request",
    run(ex: Exchange): Outcome {
      const defaultPort = ex.port === 80;
      const host = ex.hostFamily === 6 ? `[${ex.host}]` : ex.host;
      ex.upstreamHeaders = upstreamRequestHeaders(
        ex.req.rawHeaders,
        defaultPort ? host : `${host}:${ex.port}`,
        via,
      );
      return "next";
    },
  };
}
