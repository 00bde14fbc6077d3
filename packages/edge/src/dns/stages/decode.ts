// decode: parse header, question and OPT from the raw bytes (nothing else is decoded). First,
// because every later stage reads the question; malformed input is answered here with
// FORMERR/NOTIMP/BADVERS or dropped, before any state (rate-limit buckets, cache) is touched.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { maxUdpResponse } from "../wire/edns.ts";
import { parseQuery } from "../wire/query.ts";

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
      // BADVERS keeps the question (it was readable); FORMERR/NOTIMP answer with the header only.
      if (p.query) ex.query = p.query;
      ex.response = responseSkeleton(ex, p.rcode);
      return "respond";
    },
  };
}
