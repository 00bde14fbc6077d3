// Stage respond-upgrade: the upgrade pipeline's answer on the raw socket. Our own answer, or the
// origin's non-101 response relayed as a response that ends the connection (nothing after an
// upgrade request on that socket is read as HTTP); past the 101, only a close.

import { type Exchange, type Outcome, required, type Stage } from "../exchange.ts";
import { downstreamResponseHeaders } from "../hop-by-hop.ts";
import { socketWriter } from "../http1/origin-call.ts";
import { endWithAnswer, rawHead } from "./respond.ts";

/** Our own answer, or a non-101 answer from the origin, on the raw socket; then close. */
export function createRespondUpgrade(via: string): Stage {
  return {
    name: "respond-upgrade",
    async run(ex: Exchange): Promise<Outcome> {
      const socket = ex.socket;
      if (socket.destroyed) return "next";
      if (ex.established) {
        // Past the 101 nothing can be said in HTTP any more.
        if (ex.answer !== undefined) socket.destroy();
        return "next";
      }
      if (ex.answer !== undefined) {
        endWithAnswer(ex);
        return "next";
      }
      const call = required(ex.upstream, "the origin's response");
      const headers = downstreamResponseHeaders(required(call.headers, "the response head"), via);
      // The body is relayed de-chunked: Content-Length still holds when the origin sent one;
      // otherwise the body ends with the connection (RFC 9112 §6.3).
      headers.push("connection", "close");
      socket.write(rawHead(call.statusCode, headers), "latin1");
      socket.once("close", call.clientClosed);
      await call.attach(socketWriter(socket));
      socket.off("close", call.clientClosed);
      if (!socket.writableFinished) {
        ex.reason ??= call.error === undefined ? "client_aborted" : "upstream_failed";
        socket.destroy();
      }
      return "next";
    },
  };
}
