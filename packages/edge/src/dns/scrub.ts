// scrub: what of an upstream's answer the edge keeps, before it is cached or shown to a policy.
// An upstream (or whoever spoofs it) decides what it sends; the edge passes on only what answers
// the question, as unbound does:
//  - answer section: records of the question's class on the chain from the question name —
//    records of the question's type, CNAMEs followed to their targets, DNAMEs owned by an
//    ancestor of a name on the chain (RFC 6672 §2.3), and RRSIGs there for DO=1 clients;
//    anything else (an unrelated name, another class) is dropped ("unrelated");
//  - authority section: when the answer holds the data, only NSEC, NSEC3 and RRSIG records for
//    DO=1 clients (the proof a wildcard answer needs, RFC 4035 §3.1.3.3; minimal responses
//    otherwise); for NXDOMAIN and NODATA the SOA, plus NSEC, NSEC3 and RRSIG records for DO=1
//    clients (RFC 2308 §3, RFC 4035 §3.1.3); NS records and the rest are dropped. Like unbound forwarding ".",
//    the SOA's owner is not checked against the name: every zone is the upstream's bailiwick;
//  - additional section: dropped (glue from a forwarder is not needed by a stub, and an
//    attacker's glue is where poisoning starts);
//  - DNSSEC records (RRSIG, NSEC, NSEC3) only to clients that set DO (RFC 4035 §3.2.1), unless
//    the question asks for that type.
// A TTL with its top bit set counts as 0 (RFC 2181 §8), as in unbound.
// A CNAME chain that loops, or is longer than MAX_CHAIN, is no answer: the caller fails it.
// Every dropped record is counted in gatehouse_dns_upstream_records_dropped_total by reason.

import { nth } from "../indexed.ts";
import { RRType } from "./wire/constants.ts";
import type { ResourceRecord } from "./wire/message.ts";
import { isSubdomainOf, lowerName } from "./wire/name.ts";

/** CNAME/DNAME hops followed within one upstream answer (unbound: 8 restarts, BIND 16). */
export const MAX_CHAIN = 16;

export type ScrubDropReason = "unrelated" | "authority" | "additional" | "dnssec";

interface ScrubInput {
  rcode: number;
  answers: readonly ResourceRecord[];
  authorities: readonly ResourceRecord[];
  additionals: readonly ResourceRecord[];
}

interface ScrubQuestion {
  name: string;
  type: number;
  class: number;
  do: boolean;
}

interface Scrubbed {
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
  /** The CNAME chain loops or is too long. */
  loop: boolean;
  /** The name the chain ends at (the question name when there is no CNAME). */
  last: string;
}

const isDnssec = (t: number) => t === RRType.RRSIG || t === RRType.NSEC || t === RRType.NSEC3;

export function scrubAnswer(
  m: ScrubInput,
  q: ScrubQuestion,
  dropped: (reason: ScrubDropReason, n: number) => void,
): Scrubbed {
  const dnssecOk = q.do || isDnssec(q.type);
  const all = m.answers;
  // Which answers are kept, by position (a flag array and the chain's names in an array: a
  // chain is at most MAX_CHAIN + 1 names, and a Set of each per miss was garbage to collect).
  const kept: boolean[] = new Array(all.length).fill(false);
  let keptCount = 0;
  const keep = (i: number) => {
    if (!kept[i]) {
      kept[i] = true;
      keptCount++;
    }
  };
  let current = lowerName(q.name);
  const seen: string[] = [current];
  let loop = false;
  let hasData = false;
  let unsigned = 0;
  for (let hops = 0; ; hops++) {
    let next: string | undefined;
    for (let i = 0; i < all.length; i++) {
      const r = nth(all, i);
      if (r.class !== q.class) continue;
      const owner = lowerName(r.name);
      if (owner !== current) {
        // A DNAME above a name on the chain (its synthesized CNAME follows).
        if (r.type === RRType.DNAME && isSubdomainOf(current, owner)) keep(i);
        continue;
      }
      if (r.type === q.type) {
        keep(i);
        hasData = true;
      } else if (r.type === RRType.CNAME) {
        keep(i);
        next ??= lowerName(r.data as string);
      } else if (r.type === RRType.RRSIG) {
        if (dnssecOk) keep(i);
        else unsigned++;
      }
    }
    if (next === undefined) break;
    if (seen.includes(next) || hops >= MAX_CHAIN) {
      loop = true;
      break;
    }
    seen.push(next);
    current = next;
  }
  // The kept answers in their order, with RFC 2181 §8 TTLs.
  const answers: ResourceRecord[] = [];
  if (keptCount > 0)
    for (let i = 0; i < all.length; i++) if (kept[i]) answers.push(signedTtl(nth(all, i)));
  if (unsigned > 0) dropped("dnssec", unsigned);
  if (answers.length + unsigned < all.length)
    dropped("unrelated", all.length - answers.length - unsigned);

  // With the data: only the NSEC/NSEC3 proof of a wildcard expansion (and its signatures), for
  // DO=1 clients that validate it (RFC 4035 §3.1.3.3). Without: the SOA and the denial proof.
  const keepSoa = !(m.rcode === 0 && hasData);
  const authorities = m.authorities.filter(
    (r) =>
      r.class === q.class && ((keepSoa && r.type === RRType.SOA) || (dnssecOk && isDnssec(r.type))),
  );
  if (authorities.length < m.authorities.length)
    dropped("authority", m.authorities.length - authorities.length);
  if (m.additionals.length > 0) dropped("additional", m.additionals.length);
  return {
    answers,
    authorities: authorities.map(signedTtl),
    additionals: [],
    loop,
    last: current,
  };
}

/** RFC 2181 §8: a TTL with the most significant bit set is taken as zero. */
function signedTtl(r: ResourceRecord): ResourceRecord {
  return r.ttl > 0x7fffffff ? { ...r, ttl: 0 } : r;
}
