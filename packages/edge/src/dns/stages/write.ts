// write: encode the response. Over UDP the size limit is the requester's EDNS buffer (512
// without EDNS); a larger answer goes out with TC set and no records so the client retries over
// TCP (RFC 1035 §4.2.1, RFC 6891 §7, RFC 7766 §5). TCP, DoT and DoH allow 65,535 octets.
// Over DoT and DoH, an answer to a query that carried a Padding option is padded to a multiple
// of 468 octets (RFC 7830, RFC 8467 §4.1 block-length padding); never over plain UDP or TCP,
// where padding hides nothing, and never for a query that did not pad (RFC 7830 §4).
// A zone transfer (ex.transfer) goes out as several messages of about 16 KB each (RFC 5936
// §2.2): the first here, with the question; the rest through `ex.more`, encoded one at a time
// as the connection takes them, with an empty question (§2.2.1) and the same header and OPT.
// Transfer messages are not padded.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { EdnsOption } from "../wire/constants.ts";
import { encodeMessage, type Message, type ResourceRecord } from "../wire/message.ts";
import { writeFromWire } from "./wire-answer.ts";

/** RFC 8467 §4.1: responses are padded to a multiple of this. */
export const RESPONSE_BLOCK = 468;
const MAX_MESSAGE = 65_535;
/** The size a zone-transfer message is packed to (BIND's default is about as large). */
export const TRANSFER_TARGET = 16_384;

export function createWriteStage(): Stage {
  return {
    name: "write",
    run(ex: DnsExchange): Outcome {
      const m = ex.response;
      if (!m) return "next";
      if (ex.transfer) {
        const messages = transferMessages(m, ex.transfer);
        ex.out = messages.next().value;
        ex.more = messages;
        return "next";
      }
      const hit = ex.wire;
      if (hit !== undefined) {
        const bytes = writeFromWire(ex, m, hit);
        if (bytes !== undefined) {
          ex.out = bytes;
          return "next";
        }
      }
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

/**
 * The messages of a zone transfer: `m`'s header, question (first message only) and OPT around
 * `records`, as many per message as fit about `target` octets (the count adapts to the sizes
 * seen; a message over 65,535 octets is split). A record that alone exceeds a message is an error.
 */
export function* transferMessages(
  m: Message,
  records: readonly ResourceRecord[],
  target = TRANSFER_TARGET,
): Generator<Buffer, undefined> {
  let i = 0;
  let count = 32;
  do {
    const answers = records.slice(i, i + count);
    const msg: Message =
      i === 0
        ? { ...m, answers, authorities: [], additionals: [] }
        : { ...m, questions: [], answers, authorities: [], additionals: [] };
    const out = encodeMessage(msg);
    if (out.length > MAX_MESSAGE) {
      const [only] = answers;
      if (answers.length === 1 && only)
        throw new Error(`a record of ${only.name} exceeds a message`);
      count = answers.length >> 1;
      continue;
    }
    yield out;
    i += answers.length;
    // Aim the next message at the target from this one's octets per record.
    count = Math.max(1, Math.floor((answers.length * target) / out.length));
  } while (i < records.length);
  return undefined;
}
