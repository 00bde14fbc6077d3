// Stage forward: send the request on the connection connect-origin got and wait for the
// response head. The client's
// body is streamed as it arrives (the origin pool reads it from the client connection with
// backpressure, re-framed with Content-Length or chunked), never buffered whole. After
// upstream-request, before policy-response (which may still replace the answer once the status
// is known).

import { sourceKey } from "../../net/source-key.ts";
import { type Exchange, type Outcome, required, type Stage, type Step, WAIT } from "../exchange.ts";
import type { ClientRequest } from "../http1/message.ts";
import type { OriginCall } from "../http1/origin-call.ts";
import type { OriginPool, OriginRequest } from "../http1/origin-pool.ts";

/** The request for the pinned origin, from what the earlier stages decided. */
export function originRequest(
  ex: Exchange,
  body: ClientRequest | undefined,
  upgrade: string | undefined,
): OriginRequest {
  return {
    key: ex.origin,
    client: sourceKey(ex.clientIp),
    ip: ex.peerIp,
    port: ex.port,
    family: ex.peerFamily,
    method: ex.method,
    path: ex.query === "" ? ex.path : `${ex.path}?${ex.query}`,
    headers: ex.upstreamHeaders ?? [],
    body,
    upgrade,
  };
}

/** The response head is in (or failed: thrown, fail.ts answers it). */
function headIn(ex: Exchange, call: OriginCall): Outcome {
  const failure = call.headFailure;
  if (failure !== undefined) throw failure;
  if (ex.inspection !== undefined) ex.originCert = call.certVerdict ?? "valid";
  ex.upstream = call;
  ex.status = call.statusCode;
  return "next";
}

export function createForward(pool: OriginPool): Stage {
  return {
    name: "forward",
    run(ex: Exchange): Step {
      const req = ex.req;
      const hasBody = req.hasBody;
      if (hasBody && ex.expectContinue) {
        // RFC 9110 §10.1.1: the client waits for 100 before sending the body. The request passed
        // every policy, so we ask for it now; the origin gets the body without the expectation.
        ex.res?.writeContinue();
      }
      const call = required(ex.originCall, "the origin call");
      pool.send(originRequest(ex, hasBody ? req : undefined, undefined), call);
      // The head wakes the exchange (no promise): resume below.
      if (call.waitHead(ex)) return WAIT;
      return headIn(ex, call);
    },
    resume(ex: Exchange): Outcome {
      return headIn(ex, required(ex.originCall, "the origin call"));
    },
  };
}
