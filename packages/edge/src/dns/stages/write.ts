// write: encode the response. Over UDP the size limit is the requester's EDNS buffer (512
// without EDNS); a larger answer goes out with TC set and no records so the client retries over
// TCP (RFC 1035 §4.2.1, RFC 6891 §7, RFC 7766 §5). TCP, DoT and DoH allow 65,535 octets.
// Over DoT and DoH, an answer to a query that carried a Padding option is padded to a multiple
// of 468 octets (RFC 7830, RFC 8467 §4.1 block-length padding); never over plain UDP or TCP,
// where padding hides nothing, and never for a query that did not pad (RFC 7830 §4).

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { EdnsOption } from "../wire/constants.ts";
import { encodeMessage } from "../wire/message.ts";

/** RFC 8467 §4.1: responses are padded to a multiple of this. */
export const RESPONSE_BLOCK = 468;
const MAX_MESSAGE = 65_535;

export function createWriteStage(): Stage {
  return {
    name: "write",
    run(ex: DnsExchange): Outcome {
      const m = ex.response;
      if (!m) return "next";
      let out = encodeMessage(m, { maxSize: ex.maxSize });
      const t = ex.client.transport;
      if (m.edns && ex.query?.edns?.padding && (t === "dot" || t === "doh")) {
        // The option's own 4 octets count; the message keeps its compression, so its length
        // only grows by the option.
        const pad = (RESPONSE_BLOCK - ((out.length + 4) % RESPONSE_BLOCK)) % RESPONSE_BLOCK;
        if (out.length + 4 + pad <= MAX_MESSAGE) {
          m.edns.options = [
            ...m.edns.options,
            { code: EdnsOption.PADDING, data: new Uint8Array(pad) },
          ];
          out = encodeMessage(m);
        }
      }
      ex.out = out;
      return "next";
    },
  };
}
