// Which list entry made a policy match, for the query log (`list`, `rule`, `matchedName`) and
// for `$dnsrewrite` rules, whose answer replaces the block answer. Worked out only when a policy
// that references lists matched (a memoized decision carries no detail, so the lists are asked
// again for this one name, with the query's type and client).

import type { DnsRewrite } from "@gatehouse/contract";
import type { DnsExchange } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { typeName } from "../wire/constants.ts";

export interface ListMatch {
  readonly list: string;
  /** The rule's canonical text, or the listed name for a plain entry. */
  readonly rule: string;
  /** The name the entry matched: the question, or a name of its CNAME chain. */
  readonly name: string;
  readonly rewrite: DnsRewrite | undefined;
}

/** Start a list evaluation for this query (query type and client for `$dnstype`/`$client`). */
export function beginListQuery(ex: DnsExchange): void {
  const q = parsedQuery(ex);
  ex.rt.snapshot.lists.query.begin(q.qtype, typeName(q.qtype), ex.client.ip);
}

export function endListQuery(ex: DnsExchange): void {
  ex.rt.snapshot.lists.query.end();
}

/** The first of the matched policy's domain lists whose verdict for `name` is a match. */
export function explainListMatch(ex: DnsExchange, name: string): ListMatch | undefined {
  const p = ex.policy;
  if (!p || p.lists.length === 0 || !ex.query) return undefined;
  const lists = ex.rt.snapshot.lists;
  beginListQuery(ex);
  try {
    for (const l of p.lists) {
      const d = lists.domains(l);
      if (d?.hasOrParent(name)) {
        const q = lists.query;
        return { list: l, rule: q.matchRule, name: q.matchName, rewrite: q.matchRewrite };
      }
    }
    return undefined;
  } finally {
    endListQuery(ex);
  }
}
