// Stage upstream-request: the request head the origin will see. Hop-by-hop fields stripped
// (RFC 9110 §7.6.1), Host from the target, Via appended, Max-Forwards decremented. After connect, before forward; it is
// separate from forward so the head is complete (and loggable) before any byte leaves. Host
// carries the port only when it is not the scheme's default (RFC 9110 §7.2): 80 for http, 443
// for the https of an inspected tunnel (its requests are https, whatever port the tunnel names).

import type { Exchange, Outcome, Stage } from "../exchange.ts";
import { fieldName } from "../field-list.ts";
import { upstreamRequestHeaders } from "../hop-by-hop.ts";

export function createUpstreamRequest(via: string): Stage {
  return {
    name: "upstream-request",
    run(ex: Exchange): Outcome {
      const defaultPort = ex.port === (ex.inspection === undefined ? 80 : 443);
      const host = ex.hostFamily === 6 ? `[${ex.host}]` : ex.host;
      const headers = upstreamRequestHeaders(
        ex.req.rawHeaders,
        defaultPort ? host : `${host}:${ex.port}`,
        via,
      );
      // RFC 9110 §7.6.2: a TRACE or OPTIONS goes on with its Max-Forwards decremented.
      if (ex.maxForwards >= 0) {
        for (let i = 0; i < headers.length; i += 2) {
          if (fieldName(headers, i).toLowerCase() === "max-forwards")
            headers[i + 1] = String(ex.maxForwards);
        }
      }
      ex.upstreamHeaders = headers;
      return "next";
    },
  };
}
