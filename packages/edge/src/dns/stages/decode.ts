// decode: parse header, question and OPT from the raw bytes (nothing else is decoded). First,
// because every later stage reads the question; malformed input is answered here with
// FORMERR/NOTIMP/BADVERS or dropped, before any state (rate-limit buckets, cache) is touched.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { maxUdpResponse } from "../wire/edns.ts";
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
      // BADVERS and NOTIMP keep the question when it was readable; FORMERR answers with the
      // header only. The client is located so RA says whether it may recurse here.
      if (p.query) ex.query = p.query;
      locate(ex);
      ex.response = responseSkeleton(ex, p.rcode);
      return "respond";
    },
  };
}
