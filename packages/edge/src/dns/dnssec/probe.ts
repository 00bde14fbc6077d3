// Does an upstream pass DNSSEC records? Asks it for the root's DNSKEY RRset with DO and CD set: a
// resolver that does answers with the keys and their RRSIG; one that strips them (some home
// routers, some filtering resolvers) answers without the signature, and behind it every signed
// answer would be bogus. `gatehouse up` asks this of the machine's nameservers before it seeds
// them as upstreams, and turns validation off (saying so) when they strip.

import { parseUpstream } from "../upstream/pool.ts";
import { exchange } from "../upstream/transports.ts";
import { buildUpstreamQuery } from "../upstream/upstream-query.ts";
import { Rcode, RRClass, RRType } from "../wire/constants.ts";
import { decodeMessage } from "../wire/message.ts";

export type DnssecProbe = "passes" | "strips" | "unreachable";

export async function probeUpstreamDnssec(address: string, timeoutMs = 1500): Promise<DnssecProbe> {
  try {
    const target = parseUpstream({ address, timeoutMs });
    const q = buildUpstreamQuery(
      { name: "", type: RRType.DNSKEY, class: RRClass.IN, do: true, cd: true },
      true,
      false,
    );
    const m = decodeMessage(await exchange(target, q.wire, q.expect));
    if (m.rcode !== Rcode.NOERROR) return "unreachable";
    const keys = m.answers.some((r) => r.type === RRType.DNSKEY);
    const sigs = m.answers.some((r) => r.type === RRType.RRSIG);
    return keys && sigs ? "passes" : "strips";
  } catch {
    return "unreachable";
  }
}
