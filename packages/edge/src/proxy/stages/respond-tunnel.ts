// Stage respond-tunnel: the tunnel pipeline's answer. Before the 200 an HTTP response on the raw
// socket (then close); after it, a TLS alert for an SNI block, else the socket is closed.

import type { Exchange, Outcome, Stage } from "../exchange.ts";
import { endWithAnswer } from "./respond.ts";

// RFC 8446 §6: an alert record (content type 21), fatal (2), access_denied (49). Sent in place
// of a ServerHello so the client reports a refusal instead of a network error.
const TLS_ACCESS_DENIED = Buffer.from([21, 3, 3, 0, 2, 2, 49]);

/** Answers for a CONNECT: an HTTP response before the 200, a TLS alert after it. */
export function createRespondTunnel(): Stage {
  return {
    name: "respond-tunnel",
    run(ex: Exchange): Outcome {
      const socket = ex.socket;
      if (ex.answer === undefined || socket.destroyed) return "next";
      if (ex.established) {
        if (ex.reason === "sni_blocked") {
          // The 200 already went out; the log shows the decision, not that formality.
          ex.status = 403;
          socket.end(TLS_ACCESS_DENIED);
        } else socket.destroy();
        return "next";
      }
      endWithAnswer(ex);
      return "next";
    },
  };
}
