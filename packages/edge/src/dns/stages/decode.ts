// decode: parse header, question and OPT from the raw bytes (nothing else is decoded). First,
// because every later stage reads the question; malformed input is answered here with
// FORMERR/NOTIMP/BADVERS or dropped, before any state (rate-limit buckets, cache) is touched.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { maxUdpResponse, responseEdns } from "../wire/edns.ts";
import { parseQuery } from "../wire/query.ts";
import { locate } from "./identify.ts";

export function createDecodeStage(): Stage {
  return {
    name: "decode",
    run(ex: DnsExchange): Outcome {
      const p = parseQuery(ex.raw);
      if (p.ok) {
        ex.query = p.query;
        ex.lookupName = p.query.qname;
        if (ex.client.transport === "udp") ex.maxSize = maxUdpResponse(p.query.edns);
        return "next";
      }
      ex.action = "error";
      ex.reason = p.reason;
      if (p.action === "drop") return "drop";
      // BADVERS, NOTIMP and FORMERR keep the question when it was readable (FORMERR to a
      // QDCOUNT other than 1 answers with the header and OPT only). The client is located so RA says whether it may recurse here.
      if (p.query) ex.query = p.query;
      locate(ex);
      ex.response = responseSkeleton(ex, p.rcode);
      // No question to echo (QDCOUNT ≠ 1), but the query's OPT gets one back (RFC 6891 §6.1.1).
      if (p.edns) ex.response.edns = responseEdns(p.edns.do);
      return "respond";
    },
  };
}
