// local-zone: names of the config's local zones (dns/local-zones.ts) are answered here,
// authoritatively (AA), before the cache and the upstreams: records, NODATA and NXDOMAIN with
// the zone's SOA, wildcards; a CNAME that leaves the zone is resolved further like a rewrite.
// After the query-phase policies, so a blocked name stays blocked. A zone limited to some
// locations answers only their clients. Also AXFR (over TCP or DoT) of a zone to the addresses
// its `transferTo` lists, called by special-names, which refuses every other zone transfer.

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { Rcode } from "../wire/constants.ts";

/** RFC 5936: the AXFR query type. */
const AXFR = 252;

export function createLocalZoneStage(): Stage {
  return {
    name: "local-zone",
    run(ex: DnsExchange): Outcome {
      const zones = ex.rt.localZones;
      if (zones.size === 0 || ex.prefix.length > 0) return "next";
      const q = parsedQuery(ex);
      const z = zones.find(q.qname, ex.location?.id);
      if (!z) return "next";
      const r = z.lookup(q.qname, q.qnameRaw, q.qtype);
      ex.reason = "local_zone";
      if (r.leaves !== undefined) {
        // A CNAME out of the zone: the chain so far goes first, the target is resolved.
        ex.prefix.push(...r.answers);
        ex.lookupName = r.leaves;
        return "next";
      }
      const m = responseSkeleton(ex, r.rcode === "NXDOMAIN" ? Rcode.NXDOMAIN : Rcode.NOERROR);
      m.aa = true;
      m.answers = r.answers;
      // RFC 2308 §3: the SOA in the authority section of NXDOMAIN and NODATA.
      if (r.answers.length === 0) m.authorities.push(z.negativeSoa());
      ex.response = m;
      ex.action = "allow";
      return "respond";
    },
  };
}

/**
 * AXFR (RFC 5936) of a local zone to an allowed secondary over TCP or DoT: SOA, every record,
 * SOA, as many messages as it takes (the write stage packs and streams them). Undefined when the
 * query is not such a transfer (then it is refused).
 */
export function transferZone(ex: DnsExchange): Outcome | undefined {
  const q = parsedQuery(ex);
  const t = ex.client.transport;
  if (q.qtype !== AXFR || (t !== "tcp" && t !== "dot")) return undefined;
  const z = ex.rt.localZones.byApex(q.qname);
  if (!z?.servesLocation(ex.location?.id) || !z.transferAllowed(ex.client.ip)) return undefined;
  const m = responseSkeleton(ex, Rcode.NOERROR);
  m.aa = true;
  ex.transfer = [z.soa, ...z.records, z.soa];
  ex.response = m;
  ex.action = "allow";
  ex.reason = "zone_transfer";
  return "respond";
}
