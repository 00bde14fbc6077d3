// finalize: turn the exchange's answer into the response message — question echoed with the
// client's case, RA set for clients this resolver serves (RFC 1035 §4.1.1), rewrite CNAMEs
// prepended, AD only for clients that asked for DNSSEC data (RFC 6840 §5.8), and an OPT record
// only when the query had one (RFC 6891 §7), carrying our UDP size, the client's DO bit, the
// NSID when asked for and configured (RFC 5001) and any Extended DNS Errors (RFC 8914). Runs for every answer, whichever stage produced it.

import { u16 } from "../../net/bytes.ts";
import { type DnsExchange, type Outcome, type Stage, worstState } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import { EdnsOption, Rcode } from "../wire/constants.ts";
import { edeOption, responseEdns } from "../wire/edns.ts";
import { recursionAvailable } from "./identify.ts";
import { wireHit } from "./wire-answer.ts";

export function createFinalizeStage(): Stage {
  return {
    name: "finalize",
    run(ex: DnsExchange): Outcome {
      let m = ex.response;
      const q = ex.query;
      ex.wire = undefined;
      if (!m) {
        const a = ex.answer;
        m = responseSkeleton(ex, a ? a.rcode : Rcode.SERVFAIL);
        if (a) {
          m.answers =
            ex.prefix.length > 0 ? [...ex.prefix, ...a.answers] : (a.answers as typeof m.answers);
          m.authorities = a.authorities as typeof m.authorities;
          m.additionals = a.additionals as typeof m.additionals;
          ex.wire = wireHit(ex, a);
          // RFC 6840 §5.7–5.8: AD only for data considered authentic (none of ours: a
          // rewrite's CNAME is not; a chain followed across answers only when every answer on
          // it was), and only to a client that showed it understands AD by setting it or DO.
          const chainOk =
            ex.prefix.length === 0 ||
            (ex.prefix.length === ex.chainRecords && ex.chainDnssec === "secure");
          m.ad = a.ad && chainOk && (q?.ad === true || q?.edns?.do === true);
          if (a.dnssec)
            ex.dnssec = ex.chainRecords > 0 ? worstState(a.dnssec, ex.chainDnssec) : a.dnssec;
          const code = a.ede;
          if (
            code !== undefined &&
            !ex.ede.some((o) => o.data.length >= 2 && u16(o.data, 0) === code)
          )
            ex.ede.push(edeOption(code));
        }
        ex.response = m;
      }
      m.ra = recursionAvailable(ex);
      if (q?.edns) {
        // RFC 5001 §2.3: the identifier only to a query that asked for it.
        const nsid = q.edns.nsid ? ex.rt.shared.nsid : undefined;
        m.edns = responseEdns(
          q.edns.do,
          nsid ? [{ code: EdnsOption.NSID, data: nsid }, ...ex.ede] : ex.ede,
        );
      }
      return "next";
    },
  };
}
