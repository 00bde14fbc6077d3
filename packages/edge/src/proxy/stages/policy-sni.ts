// Stage policy-sni: the network policies again, now with the SNI the client really sent (and
// `net.sni.mismatch`). After peek-client-hello, before connect-destination; a block ends the
// tunnel with a TLS alert (respond-tunnel).

import { answer, type Exchange, type Outcome, type Stage } from "../exchange.ts";
import { decide, matchNet, type PolicyContexts } from "./policy-request.ts";
import { privateAllowed } from "./resolve-peer.ts";

export function createPolicySni(ctxs: PolicyContexts): Stage {
  return {
    name: "policy-sni",
    run(ex: Exchange): Outcome {
      // Same network policies, now with the SNI the client really sent (and net.sni.mismatch).
      const before = ex.policy;
      ex.policy = undefined;
      ex.privateAllowed = undefined;
      const o = decide(ex, matchNet(ctxs, ex, true));
      if (o === "respond") ex.reason = "sni_blocked";
      else if (ex.policy === undefined) ex.policy = before;
      // An internal destination was opened by the policy that matched the presumed SNI; the
      // one that matches the real ClientHello must open it too, or the tunnel is refused.
      if (o === "next" && ex.peerPrivate && !privateAllowed(ex, ex.peerIp)) {
        ex.action = "block";
        return answer(ex, 403, "private_target", "the destination is an internal address");
      }
      return o;
    },
  };
}
