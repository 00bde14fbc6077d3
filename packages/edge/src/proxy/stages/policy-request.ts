// Stage policy-request: network policies for every connection, then HTTP policies for plain
// HTTP requests (rules spec §5.7: network before HTTP; inside each, precedence order and first
// match wins). After admit (only admitted clients are evaluated, with their identity), before
// resolve-peer (a blocked request must not even cause a DNS lookup or a connection).

import type { ExecutionContext } from "@gatehouse/rules";
import { policySchemes } from "../../policy/index.ts";
import type { MatchedPolicy } from "../edge-view.ts";
import { answer, type Exchange, type Outcome, type Stage } from "../exchange.ts";
import { fillHttp, fillNet } from "../policy-fields.ts";

/** Evaluation contexts, one per scheme, reused: evaluation is synchronous, so never shared
 * between two exchanges at once. */
export interface PolicyContexts {
  readonly net: ExecutionContext;
  readonly http: ExecutionContext;
}

export function createPolicyContexts(): PolicyContexts {
  const s = policySchemes();
  return { net: s.net.context(), http: s.http.context() };
}

/** Run the network policies; the match (or undefined). `sniSeen`: ClientHello already read. */
export function matchNet(
  ctxs: PolicyContexts,
  ex: Exchange,
  sniSeen: boolean,
): MatchedPolicy | undefined {
  const set = ex.snapshot.policies.net;
  if (set.size === 0) return undefined;
  const ctx = ctxs.net;
  fillNet(ctx, ex, set.queryFields, sniSeen);
  ctx.lists = ex.snapshot.lists;
  return set.match(ctx, Date.now());
}

export function matchHttp(ctxs: PolicyContexts, ex: Exchange): MatchedPolicy | undefined {
  const set = ex.snapshot.policies.http;
  if (set.size === 0) return undefined;
  const ctx = ctxs.http;
  fillHttp(ctx, ex, set.queryFields, set.queryHeaderNames);
  ctx.lists = ex.snapshot.lists;
  return set.match(ctx, Date.now(), "query");
}

/**
 * Record a decision on the exchange; "respond" with 403 for a block. An allow policy that lists
 * internal addresses (settings.allowPrivateDestinations) opens exactly those to resolve-peer;
 * what the expression reads never does (a URL or host test is not consent to reach loopback).
 */
export function decide(ex: Exchange, p: MatchedPolicy | undefined): Outcome {
  if (p === undefined) return "next";
  ex.policy = p;
  if (p.action === "allow" && p.privateDestinations !== undefined)
    ex.privateAllowed = p.privateDestinations;
  if (p.action === "block") {
    ex.action = "block";
    return answer(ex, 403, "policy", p.settings.blockReason ?? `blocked by policy "${p.name}"`);
  }
  ex.action = p.action === "do_not_inspect" ? "do_not_inspect" : "allow";
  return "next";
}

export function createPolicyRequest(ctxs: PolicyContexts): Stage {
  return {
    name: "policy-request",
    run(ex: Exchange): Outcome {
      const net = matchNet(ctxs, ex, false);
      if (decide(ex, net) === "respond" || ex.transport === "connect")
        return ex.answer ? "respond" : "next";
      // HTTP policies see plain-HTTP requests only; inside a CONNECT tunnel TLS hides them.
      return decide(ex, matchHttp(ctxs, ex));
    },
  };
}
