// The query the edge sends upstream for a question, in the form a given upstream accepts: with
// an OPT record (our UDP size, the client's DO bit) unless that upstream answered FORMERR to
// EDNS (RFC 6891 §6.2.2), and with the name's letter case randomised (0x20) unless that upstream
// does not echo it. A fresh random ID every time (RFC 5452 §9.2).

import { OUR_UDP_SIZE } from "../wire/edns.ts";
import { emptyMessage, encodeMessage } from "../wire/message.ts";
import { randomCase, randomId } from "./query-id.ts";
import type { ExpectedQuestion } from "./transports.ts";

export interface UpstreamQuestion {
  /** Lowercased, no trailing dot. */
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** DNSSEC OK (RFC 3225): asked for with EDNS. */
  readonly do: boolean;
  /** Checking disabled (RFC 4035 §3.2.2): passed on. */
  readonly cd: boolean;
}

interface UpstreamQuery {
  readonly wire: Buffer;
  readonly expect: ExpectedQuestion;
}

export function buildUpstreamQuery(
  q: UpstreamQuestion,
  edns: boolean,
  mixedCase: boolean,
): UpstreamQuery {
  const id = randomId();
  const name = mixedCase ? randomCase(q.name) : q.name;
  const m = emptyMessage(id);
  m.rd = true;
  m.cd = q.cd;
  m.questions.push({ name, type: q.type, class: q.class });
  if (edns)
    m.edns = { udpSize: OUR_UDP_SIZE, version: 0, extRcode: 0, do: q.do, z: 0, options: [] };
  return {
    wire: encodeMessage(m),
    expect: { id, name, type: q.type, class: q.class, exactCase: mixedCase },
  };
}
