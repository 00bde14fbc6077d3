// Stage connect-origin: a connection to exactly the checked address resolve-peer pinned (the
// pool dials only that IP literal, never the name). Plain HTTP takes a kept-alive connection
// from the pool keyed `<ip>:<port>` or dials a new one, waiting its turn when the origin or this
// client is at its limit (fair share, http1/origin-pool.ts); an upgrade gets a fresh connection
// of its own. A failure to connect is thrown as an edge error (fail.ts answers it). After
// resolve-peer, before upstream-request; forward then sends on the connection. A request that
// waits for a connection waits without a promise (WAIT; the connection wakes the exchange).

import { sourceKey } from "../../net/source-key.ts";
import { originTrustOf } from "../../tls/origin-trust.ts";
import { type Exchange, type Outcome, required, type Stage, type Step, WAIT } from "../exchange.ts";
import { OriginCall } from "../http1/origin-call.ts";
import type { OriginPool } from "../http1/origin-pool.ts";
import { untrustedOriginCertOf } from "../proxy-config.ts";

/** `fresh`: a connection of its own, never pooled (the upgrade pipeline). */
export function createConnectOrigin(pool: OriginPool, fresh: boolean): Stage {
  return {
    name: "connect-origin",
    run(ex: Exchange): Step {
      const addr = ex.peerFamily === 6 ? `[${ex.peerIp}]:${ex.port}` : `${ex.peerIp}:${ex.port}`;
      // Inspected: TLS toward the origin, pooled apart per name it is verified for.
      // `untrustedOriginCert: inspect` connections accept any certificate: a key space of their
      // own, so a request that needs a verified origin never gets one of them.
      const anyCert =
        ex.inspection !== undefined && untrustedOriginCertOf(ex.snapshot, ex.policy) === "inspect";
      const key =
        ex.inspection === undefined ? addr : `${anyCert ? "tls-any" : "tls"}:${ex.host}@${addr}`;
      ex.origin = key;
      const call = new OriginCall();
      ex.originCall = call;
      // A client that goes away (even while waiting for a connection) cancels the origin
      // request; an upgrade's raw socket is watched until the origin's answer is in.
      if (ex.res !== undefined) ex.res.onClientClose = call.clientClosed;
      else ex.socket.once("close", call.clientClosed);
      pool.connect(
        {
          key,
          client: sourceKey(ex.clientIp),
          ip: ex.peerIp,
          port: ex.port,
          family: ex.peerFamily,
          fresh,
          // No spread of an empty object per plain request: `tls` is left undefined.
          tls:
            ex.inspection === undefined
              ? undefined
              : {
                  servername: ex.hostFamily === 0 ? ex.host : undefined,
                  trust: originTrustOf(ex.snapshot),
                  acceptUntrusted: anyCert,
                },
        },
        call,
      );
      // A connection wakes the exchange (no promise): resume below.
      if (call.waitConnected(ex)) return WAIT;
      return connectedOutcome(call);
    },
    resume(ex: Exchange): Outcome {
      return connectedOutcome(required(ex.originCall, "the origin call"));
    },
  };
}

/** The call has its connection, or there will be none (thrown: fail.ts answers it). */
function connectedOutcome(call: OriginCall): Outcome {
  const failure = call.connectFailure;
  if (failure !== undefined) throw failure;
  return "next";
}
