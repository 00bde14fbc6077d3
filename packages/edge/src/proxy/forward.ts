// Stage forward: send the request to the origin and wait for its response head. The client's
// body is streamed as it arrives (undici reads the IncomingMessage with backpressure, re-framing
// it with Content-Length or chunked), never buffered whole. After upstream-request, before
// policy-response (which may still replace the answer once the status is known).

import type { Agent, Dispatcher } from "undici";
import type { Exchange, Outcome, Stage } from "./exchange.ts";
import { requestHasBody } from "./request-head.ts";
import { UpstreamCall } from "./upstream-call.ts";

export function createForward(pool: Agent): Stage {
  return {
    name: "forward",
    async run(ex: Exchange): Promise<Outcome> {
      const req = ex.req;
      const hasBody = requestHasBody(req);
      if (hasBody && ex.expectContinue) {
        // RFC 9110 §10.1.1: the client waits for 100 before sending the body. The request passed
        // every policy, so we ask for it now; the origin gets the body without the expectation.
        ex.res?.writeContinue();
      }
      const call = new UpstreamCall();
      // A client that goes away (even before the origin answers) cancels the origin request.
      ex.res?.once("close", call.clientClosed);
      pool.dispatch(
        {
          origin: ex.origin,
          path: ex.query === "" ? ex.path : `${ex.path}?${ex.query}`,
          method: ex.method as Dispatcher.HttpMethod,
          headers: ex.upstreamHeaders ?? [],
          body: hasBody ? req : null,
        },
        call,
      );
      await call.head;
      ex.upstream = call;
      ex.status = call.statusCode;
      return "next";
    },
  };
}
