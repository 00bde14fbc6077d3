// Stage resolve-peer: which address will we dial? Names resolve through the edge's own DNS
// pipeline (the Resolver), so DNS policy applies to proxied traffic. Every candidate address is
// checked by the SSRF guard and the first acceptable one is pinned on the exchange: connect
// dials exactly that IP, never the name again, so a rebinding answer cannot change the target
// between check and use. After the policy stages (a blocked request costs no lookup), before
// connect. An internal address is dialled only when the allow policy that decided the request
// lists it in settings.allowPrivateDestinations (policy-request's decide); nothing inferred
// from an expression lifts the guard.

import { isIP } from "node:net";
import { EdgeError } from "@gatehouse/contract/errors";
import { parseIp } from "@gatehouse/rules";
import type { AddressGuard } from "../address-guard.ts";
import type { ProxyResolver } from "../edge-view.ts";
import { answer, type Exchange, type Outcome, type Stage } from "../exchange.ts";
import { fail } from "../fail.ts";

/** The deciding allow policy opted in to this internal address. */
export function privateAllowed(ex: Exchange, ip: string): boolean {
  const set = ex.privateAllowed;
  if (set === undefined) return false;
  const v = parseIp(ip);
  return v !== undefined && set.has(v);
}

export function createResolvePeer(resolver: ProxyResolver, guard: AddressGuard): Stage {
  function pick(ex: Exchange, addresses: readonly string[]): Outcome {
    let refused = "";
    for (const ip of addresses) {
      const fam = isIP(ip);
      if (fam === 0) continue;
      // Dialling our own listener is a forwarding loop whatever the policies say.
      if (guard.isOwnEndpoint(ip, ex.port)) {
        return answer(ex, 508, "loop_detected", "the target is this proxy");
      }
      const cls = guard.classify(ip);
      if (cls !== undefined) {
        if (!privateAllowed(ex, ip)) {
          refused = cls;
          continue;
        }
        ex.peerPrivate = true;
      }
      ex.peerIp = ip;
      ex.peerFamily = fam as 4 | 6;
      return "next";
    }
    if (refused !== "") {
      ex.action = "block";
      return answer(
        ex,
        403,
        "private_target",
        `the destination is a ${refused.replace("_", "-")} address`,
      );
    }
    return failed(ex, `${ex.host} has no usable address`);
  }

  return {
    name: "resolve-peer",
    run(ex: Exchange): Outcome | Promise<Outcome> {
      if (ex.hostFamily !== 0) return pick(ex, [ex.host]);
      return resolver.resolve(ex.host, { client: ex.clientIp }).then((r) => {
        if (r.blockedBy !== undefined) {
          ex.action = "block";
          return answer(
            ex,
            403,
            "dns_blocked",
            `blocked by DNS policy "${r.blockedBy.policyName}"`,
          );
        }
        if (r.rcode !== "NOERROR" || r.addresses.length === 0) {
          return failed(
            ex,
            r.rcode === "NOERROR" ? `${ex.host} has no address` : `${ex.host}: DNS ${r.rcode}`,
          );
        }
        return pick(ex, r.addresses);
      });
    },
  };
}

/** The name gave no usable address: a failure (fail.ts), answered without a throw. */
function failed(ex: Exchange, detail: string): Outcome {
  fail(ex, new EdgeError("dns_failed", detail, { detail, where: "resolve-peer" }));
  return "respond";
}
