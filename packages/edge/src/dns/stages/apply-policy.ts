// What a matched DNS policy does to the exchange, shared by the query and response phases.

import type { CompiledPolicy, PolicyPhase } from "../../policy/policy-set.ts";
import type { DnsExchange, Outcome } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import {
  addressAnswers,
  blockResponse,
  DEFAULT_SYNTH_TTL,
  responseSkeleton,
  rewriteTarget,
  startRewrite,
} from "../respond.ts";
import { Rcode } from "../wire/constants.ts";
import { explainListMatch } from "./list-match.ts";

/**
 * Apply `p`. Returns "respond" when the answer is complete (block, override by address),
 * "next" when resolution continues (allow, or a CNAME rewrite to resolve further).
 */
export function applyPolicy(ex: DnsExchange, p: CompiledPolicy, phase: PolicyPhase): Outcome {
  ex.policy = p;
  ex.policyPhase = phase;
  const ttl = p.settings.ttl ?? DEFAULT_SYNTH_TTL;
  switch (p.action) {
    case "block": {
      // Blocking paused for this client: answered as if allowed, and logged with the reason.
      if (ex.rt.pauses?.isPaused(ex.location?.id, ex.ts, ex.client.ip)) {
        ex.action = "allow";
        ex.reason = "blocking_paused";
        return "next";
      }
      // Blocking off in the client's own settings: the same, with its own reason.
      if (ex.rt.clientRules?.get(ex.client.ip)?.blocking === false) {
        ex.action = "allow";
        ex.reason = "client_blocking_off";
        return "next";
      }
      ex.action = "block";
      if (p.lists.length > 0) {
        ex.listMatch ??= explainListMatch(ex, parsedQuery(ex).qname);
        const rw = ex.listMatch?.rewrite;
        // A `$dnsrewrite` rule of the list answers instead of the block answer.
        if (rw) {
          const m = responseSkeleton(ex, Rcode[rw.rcode]);
          if (rw.type === "CNAME" && rw.rcode === "NOERROR") {
            ex.action = "override";
            startRewrite(ex, rw.value, ttl);
            return "next";
          }
          if (rw.type) {
            ex.action = "override";
            m.answers = addressAnswers(ex, [rw.value], ttl);
          }
          ex.response = m;
          return "respond";
        }
      }
      ex.response = blockResponse(ex, p);
      return "respond";
    }
    case "override": {
      ex.action = "override";
      const ips = p.settings.overrideIps;
      if (ips && ips.length > 0) {
        const m = responseSkeleton(ex, Rcode.NOERROR);
        m.answers = addressAnswers(ex, ips, ttl);
        ex.response = m;
        return "respond";
      }
      if (p.settings.overrideHost) startRewrite(ex, p.settings.overrideHost, ttl);
      return "next";
    }
    case "safesearch":
    case "ytrestricted": {
      ex.action = p.action;
      const target = rewriteTarget(p.action, parsedQuery(ex).qname);
      if (target) startRewrite(ex, target, ttl);
      return "next";
    }
    default:
      ex.action = "allow";
      return "next";
  }
}

/** The DNS policies this client is exempt from (its settings' `skipPolicies`), if any. */
export function skippedBy(ex: DnsExchange): ReadonlySet<string> | undefined {
  return ex.rt.clientRules?.get(ex.client.ip)?.skip;
}

/**
 * No query-phase policy decided: a client with safe search on in its own settings gets the
 * search engines' safe-search names (as a `safesearch` policy would rewrite them), logged with
 * reason `client_safe_search`.
 */
export function clientSafeSearch(ex: DnsExchange): Outcome {
  const rules = ex.rt.clientRules;
  if (rules === undefined || rules.get(ex.client.ip)?.safeSearch !== true) return "next";
  const target = rewriteTarget("safesearch", parsedQuery(ex).qname);
  if (target === undefined) return "next";
  ex.action = "safesearch";
  ex.reason = "client_safe_search";
  startRewrite(ex, target, DEFAULT_SYNTH_TTL);
  return "next";
}
