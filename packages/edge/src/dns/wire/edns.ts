// EDNS(0) helpers (RFC 6891) and Extended DNS Errors (RFC 8914).

import { u16 } from "../../net/bytes.ts";
import { EdnsOption } from "./constants.ts";
import type { Edns, EdnsOptionData } from "./message.ts";

/** What we advertise: 1232 octets avoids IP fragmentation on common paths (DNS Flag Day 2020). */
export const OUR_UDP_SIZE = 1232;

/**
 * The largest UDP response a requester accepts: its advertised size, never below 512
 * (RFC 6891 §6.2.5), capped at ours; 512 without EDNS (RFC 1035 §4.2.1).
 */
export function maxUdpResponse(edns: { udpSize: number } | undefined): number {
  if (!edns) return 512;
  return Math.min(Math.max(edns.udpSize, 512), OUR_UDP_SIZE);
}

/** RFC 8914 §2: INFO-CODE (16 bits) then UTF-8 EXTRA-TEXT. */
export function edeOption(infoCode: number, extraText?: string): EdnsOptionData {
  const text = extraText ? Buffer.from(extraText, "utf8") : Buffer.alloc(0);
  const data = Buffer.allocUnsafe(2 + text.length);
  data.writeUInt16BE(infoCode, 0);
  text.copy(data, 2);
  return { code: EdnsOption.EDE, data };
}

/** Parse the EDE options of a message (for tests and upstream diagnostics). */
export function readEde(edns: Edns | undefined): { infoCode: number; extraText: string }[] {
  const out: { infoCode: number; extraText: string }[] = [];
  for (const o of edns?.options ?? []) {
    if (o.code !== EdnsOption.EDE || o.data.length < 2) continue;
    out.push({
      infoCode: u16(o.data, 0),
      extraText: Buffer.from(o.data.subarray(2)).toString("utf8"),
    });
  }
  return out;
}

/**
 * The OPT record of our response: version 0, our UDP size, the requester's DO bit echoed
 * (RFC 3225 §3), no unknown options or flags echoed (RFC 6891 §6.1.2, §7).
 */
export function responseEdns(doBit: boolean, options: EdnsOptionData[] = []): Edns {
  return { udpSize: OUR_UDP_SIZE, version: 0, extRcode: 0, do: doBit, z: 0, options };
}
