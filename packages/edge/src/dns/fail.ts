// The DNS pipeline's one mapping from a failure to an answer: SERVFAIL with the Extended DNS
// Error the edge's error catalogue (`EDGE_ERRORS` in @gatehouse/contract) gives the failure's
// kind, and the kind's query-log reason. Upstream failures (resolve, when no stale answer can
// stand in) keep the CNAME chain answered so far; anything else is an internal error: the
// answer starts over, EDE 0 "Other".

import { asEdgeError } from "@gatehouse/contract/errors";
import type { DnsExchange } from "./exchange.ts";
import { responseSkeleton } from "./respond.ts";
import { Ede, Rcode } from "./wire/constants.ts";
import { edeOption } from "./wire/edns.ts";
import type { EdnsOptionData } from "./wire/message.ts";

/**
 * RFC 8914 §4.1, §4.23 and §4.24 with fixed texts: the client learns what kind of failure it
 * was, never which upstream or why in detail (addresses, certificate errors): those go to the
 * query log (`upstream`, `reason`) and the operational log.
 */
const EDE_TEXT: ReadonlyMap<number, EdnsOptionData> = new Map([
  [Ede.OTHER, edeOption(Ede.OTHER, "internal error")],
  [
    Ede.NO_REACHABLE_AUTHORITY,
    edeOption(Ede.NO_REACHABLE_AUTHORITY, "no upstream answered in time"),
  ],
  [Ede.NETWORK_ERROR, edeOption(Ede.NETWORK_ERROR, "no upstream gave a usable answer")],
]);

/** Make the exchange's answer SERVFAIL for `error`; the pipeline's tail stages encode it. */
export function fail(ex: DnsExchange, error: unknown): void {
  const e = asEdgeError(error);
  const info = e.info;
  ex.action = "error";
  ex.reason = info.reason;
  ex.out = undefined;
  // A zone transfer that failed is one SERVFAIL message, not the zone.
  ex.transfer = undefined;
  ex.more = undefined;
  const ede =
    e.ede !== undefined || e.detail !== undefined
      ? edeOption(e.ede ?? info.ede, e.detail)
      : (EDE_TEXT.get(info.ede) ?? edeOption(info.ede));
  if (e.kind === "dnssec_bogus") {
    // RFC 4035 §5.5: nothing of a bogus answer is handed out; RFC 8914 says why.
    ex.dnssec = "bogus";
    ex.answer = undefined;
  }
  if (info.source === "upstream") {
    if (e.where !== undefined) ex.upstream = e.where;
    ex.errorDetail = e.message;
    ex.ede.push(ede);
  } else {
    ex.ede = [ede];
    ex.prefix = [];
    ex.answer = undefined;
  }
  ex.response = responseSkeleton(ex, Rcode.SERVFAIL);
}
