// write: encode the response. Over UDP the size limit is the requester's EDNS buffer (512
// without EDNS); a larger answer goes out with TC set and no records so the client retries over
// TCP (RFC 1035 §4.2.1, RFC 6891 §7, RFC 7766 §5). TCP, DoT and DoH allow 65,535 octets.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { encodeMessage } from "../wire/message.ts";

export function createWriteStage(): Stage {
  return {
    name: "write",
    run(ex: DnsExchange): Outcome {
      if (ex.response) ex.out = encodeMessage(ex.response, { maxSize: ex.maxSize });
      return "next";
    },
  };
}
