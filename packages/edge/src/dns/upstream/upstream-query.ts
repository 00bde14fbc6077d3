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
  // Names without escapes (all but odd ones) are written straight from their text: no message
  // object, no encoder, no compression table (a query has one name).
  return q.name.indexOf("\\") === -1 && q.name.length <= MAX_PLAIN
    ? plainQuery(q, id, edns, mixedCase)
    : generalQuery(q, id, edns, mixedCase);
}

/** Longest name text written by plainQuery (253: 255 octets on the wire). */
const MAX_PLAIN = 253;
/** The name's text as sent (0x20 case), made into one flat string. */
const text = Buffer.allocUnsafeSlow(MAX_PLAIN);

/**
 * The bytes encodeMessage writes for the same query (header with RD and CD, the question, an
 * OPT record when `edns`), for a name without escapes. Malformed names (an empty label, a label
 * over 63 octets, a char above 0xff) go to the general encoder, which refuses them as before.
 */
function plainQuery(
  q: UpstreamQuestion,
  id: number,
  edns: boolean,
  mixedCase: boolean,
): UpstreamQuery {
  const src = q.name;
  const n = src.endsWith(".") ? src.length - 1 : src.length;
  const nameLen = n === 0 ? 1 : n + 2;
  const wire = Buffer.allocUnsafe(12 + nameLen + 4 + (edns ? 11 : 0));
  wire[0] = id >>> 8;
  wire[1] = id & 0xff;
  wire[2] = 0x01; // RD
  wire[3] = q.cd ? 0x10 : 0;
  wire[4] = 0;
  wire[5] = 1;
  wire.fill(0, 6, 10);
  wire[10] = 0;
  wire[11] = edns ? 1 : 0;
  let o = 12;
  let bits = 0;
  let left = 0;
  let lenAt = o++;
  let label = 0;
  for (let i = 0; i < n; i++) {
    let c = src.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0) return generalQuery(q, id, edns, mixedCase);
      wire[lenAt] = label;
      lenAt = o++;
      label = 0;
      text[i] = c;
      continue;
    }
    if (c > 0xff || ++label > 63) return generalQuery(q, id, edns, mixedCase);
    if (mixedCase && ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))) {
      // One random 16-bit draw per 16 letters (randomCase drew one per letter).
      if (left === 0) {
        bits = randomId();
        left = 16;
      }
      c = bits & 1 ? c | 0x20 : c & ~0x20;
      bits >>>= 1;
      left--;
    }
    text[i] = c;
    wire[o++] = c;
  }
  if (n > 0) {
    if (label === 0) return generalQuery(q, id, edns, mixedCase);
    wire[lenAt] = label;
    wire[o++] = 0;
  } else wire[lenAt] = 0;
  wire.writeUInt16BE(q.type, o);
  wire.writeUInt16BE(q.class, o + 2);
  o += 4;
  if (edns) {
    wire[o] = 0; // root owner
    wire.writeUInt16BE(41, o + 1); // OPT
    wire.writeUInt16BE(OUR_UDP_SIZE, o + 3);
    wire[o + 5] = 0; // extended RCODE
    wire[o + 6] = 0; // version
    wire.writeUInt16BE(q.do ? 0x8000 : 0, o + 7);
    wire.writeUInt16BE(0, o + 9); // no options
  }
  const name = mixedCase ? text.toString("latin1", 0, n) : src.slice(0, n);
  return { wire, expect: { id, name, type: q.type, class: q.class, exactCase: mixedCase } };
}

/** The general encoder's query (it throws WireError for a name it cannot write). */
function generalQuery(
  q: UpstreamQuestion,
  id: number,
  edns: boolean,
  mixedCase: boolean,
): UpstreamQuery {
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
