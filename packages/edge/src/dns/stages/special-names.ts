// special-names: names that must never leave the resolver. Before policy so no rule can send
// them upstream, after admit so they are rate limited like anything else.
//  - `localhost` and below → loopback (RFC 6761 §6.3); `invalid` → NXDOMAIN (§6.4).
//  - reverse zones of private, loopback and link-local space → answered locally (RFC 6303 §4),
//    unless a conditional forwarder covers the name; 1.0.0.127.in-addr.arpa PTR → localhost.
//  - `use-application-dns.net` → NXDOMAIN: the canary that tells browsers not to switch to
//    their own DoH resolver and bypass this one (Mozilla's documented mechanism).
//  - non-IN classes and zone transfers (AXFR, IXFR) are REFUSED, as unbound refuses them,
//    except AXFR of a local zone to the secondaries it names (local-zone.ts).

import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { Rcode, RRClass, RRType } from "../wire/constants.ts";
import { isSubdomainOf } from "../wire/name.ts";
import { transferZone } from "./local-zone.ts";

const LOCAL_TTL = 3600;

/** RFC 6303 §4 zones (subset: IPv4 private/loopback/link-local, IPv6 ULA/link-local/loopback). */
const PRIVATE_REVERSE: readonly string[] = [
  "10.in-addr.arpa",
  "127.in-addr.arpa",
  "254.169.in-addr.arpa",
  "168.192.in-addr.arpa",
  ...Array.from({ length: 16 }, (_, i) => `${16 + i}.172.in-addr.arpa`),
  "d.f.ip6.arpa",
  "8.e.f.ip6.arpa",
  "9.e.f.ip6.arpa",
  "a.e.f.ip6.arpa",
  "b.e.f.ip6.arpa",
  `1.${"0.".repeat(31)}ip6.arpa`,
];

export function createSpecialNamesStage(): Stage {
  return {
    name: "special-names",
    run(ex: DnsExchange): Outcome {
      const q = parsedQuery(ex);
      const name = q.qname;
      if (q.qclass !== RRClass.IN) return refuse(ex, Rcode.REFUSED, "class");
      if (q.qtype === 252) {
        // AXFR of a local zone to a secondary it names; every other transfer is refused.
        const sent = transferZone(ex);
        if (sent) return sent;
      }
      if (q.qtype === 251 || q.qtype === 252) return refuse(ex, Rcode.REFUSED, "zone_transfer");
      if (isSubdomainOf(name, "localhost")) {
        const m = responseSkeleton(ex, Rcode.NOERROR);
        m.aa = true;
        if (q.qtype === RRType.A)
          m.answers.push({
            name: q.qnameRaw,
            type: RRType.A,
            class: RRClass.IN,
            ttl: LOCAL_TTL,
            data: "127.0.0.1",
          });
        if (q.qtype === RRType.AAAA)
          m.answers.push({
            name: q.qnameRaw,
            type: RRType.AAAA,
            class: RRClass.IN,
            ttl: LOCAL_TTL,
            data: "::1",
          });
        return local(ex, m);
      }
      if (name === "use-application-dns.net" || isSubdomainOf(name, "invalid")) {
        return local(ex, responseSkeleton(ex, Rcode.NXDOMAIN));
      }
      if (name.endsWith(".arpa")) {
        if (name === "1.0.0.127.in-addr.arpa") {
          const m = responseSkeleton(ex, Rcode.NOERROR);
          m.aa = true;
          if (q.qtype === RRType.PTR)
            m.answers.push({
              name: q.qnameRaw,
              type: RRType.PTR,
              class: RRClass.IN,
              ttl: LOCAL_TTL,
              data: "localhost",
            });
          return local(ex, m);
        }
        // A conditional forwarder the admin configured for the name (Pi-hole's "conditional
        // forwarding" of 168.192.in-addr.arpa to the router) wins over the built-in empty zone.
        // A local zone for the name (a LAN's own reverse zone) wins too.
        const router = ex.rt.router;
        const forwarded =
          router.route(name).group !== router.defaultGroup ||
          ex.rt.localZones.find(name, ex.location?.id) !== undefined;
        for (const zone of PRIVATE_REVERSE) {
          if (!forwarded && isSubdomainOf(name, zone)) {
            const m = responseSkeleton(ex, name === zone ? Rcode.NOERROR : Rcode.NXDOMAIN);
            m.aa = true;
            // RFC 6303 §3: the empty zone's SOA lets clients cache the negative answer.
            m.authorities.push({
              name: zone,
              type: RRType.SOA,
              class: RRClass.IN,
              ttl: 10800,
              data: {
                mname: zone,
                rname: "nobody.invalid",
                serial: 1,
                refresh: 3600,
                retry: 1200,
                expire: 604800,
                minimum: 10800,
              },
            });
            return local(ex, m);
          }
        }
      }
      return "next";
    },
  };
}

function local(ex: DnsExchange, m: ReturnType<typeof responseSkeleton>): Outcome {
  ex.response = m;
  ex.action = "allow";
  ex.reason = "special_name";
  return "respond";
}

function refuse(ex: DnsExchange, rcode: number, reason: string): Outcome {
  ex.response = responseSkeleton(ex, rcode);
  ex.action = "refused";
  ex.reason = reason;
  return "respond";
}
