// cname-cloak: a tracker hidden behind a CNAME (`trk.shop.example CNAME trk.adnet.test`) is
// judged by every name of the answer's chain, with the question's semantics (`adnet.test` on a
// list catches `trk.adnet.test`). Runs once an answer exists and only when no query-phase
// policy decided the question: each CNAME target goes through the query-phase policies as if
// it had been asked; the first whose match is a block policy with `settings.cnameCloaking` not
// false blocks the whole answer, and the query log names the chain name (`matchedName`). An
// allow policy matching a chain name does not stop the names after it from being judged.

import { decideQuery } from "../decision-memo.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { RRType } from "../wire/constants.ts";
import { applyPolicy } from "./apply-policy.ts";
import { explainListMatch } from "./list-match.ts";

/** CNAME names judged per answer, at most (a chain longer than this is judged up to here). */
const MAX_CHAIN = 16;

export function createCnameCloakStage(): Stage {
  return {
    name: "cname-cloak",
    run(ex: DnsExchange): Outcome {
      const rt = ex.rt;
      const a = ex.answer;
      if (ex.policy || !a || !rt.cnameCloaking) return "next";
      const q = parsedQuery(ex);
      // The chain: CNAMEs resolve already followed (ex.prefix), then those of the answer.
      let judged = 0;
      for (const records of [ex.prefix, a.answers]) {
        for (const rr of records) {
          if (rr.type !== RRType.CNAME) continue;
          if (++judged > MAX_CHAIN) return "next";
          const target = (rr.data as string).toLowerCase().replace(/\.$/, "");
          if (target === q.qname) continue;
          const p = decideQuery(ex, target);
          if (p?.action !== "block" || p.settings.cnameCloaking === false) continue;
          ex.policy = p;
          ex.chainName = target;
          ex.listMatch = explainListMatch(ex, target);
          // The block answers the question itself, without the chain that led to it (kept
          // when blocking is paused and the answer goes out as it is).
          const chain = ex.prefix;
          ex.prefix = [];
          const outcome = applyPolicy(ex, p, "response");
          if (outcome === "next") ex.prefix = chain;
          return outcome;
        }
      }
      return "next";
    },
  };
}
