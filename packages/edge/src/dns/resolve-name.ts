// Asking upstream for `ex.lookupName`: one query per (name, type, class, DO, CD, view) in flight
// (singleflight — concurrent identical misses share it), the answer decoded, checked and cached.

import { dnsMetrics } from "../telemetry/metrics.ts";
import { cacheKey } from "./cache/dns-cache.ts";
import type { DnsRuntime, Resolved } from "./runtime.ts";
import { type ScrubDropReason, scrubAnswer } from "./scrub.ts";
import { UpstreamError } from "./upstream/transports.ts";
import type { UpstreamQuestion } from "./upstream/upstream-query.ts";
import { decodeMessage } from "./wire/message.ts";
import { WireError } from "./wire/name.ts";

/** What is looked up: the cache key's parts and what is asked upstream. */
export type LookupKey = UpstreamQuestion;

export function keyOf(rt: DnsRuntime, k: LookupKey): string {
  return cacheKey(k.name, k.type, k.class, k.do, k.cd, rt.router.route(k.name).view);
}

/** Query upstream (deduplicated) and cache the result. Throws UpstreamError. */
export function fetchUpstream(rt: DnsRuntime, k: LookupKey, key: string): Promise<Resolved> {
  const inflight = rt.shared.inflight;
  const existing = inflight.get(key);
  if (existing) return existing;
  const p = queryUpstream(rt, k).then((r) => {
    // Answer with what the cache holds (clamped TTLs, negative TTL on the SOA) so the first
    // client sees the same answer as the next ones.
    const e = rt.shared.cache.store(key, r.answer, Date.now());
    return e ? { answer: e, upstream: r.upstream } : r;
  });
  inflight.set(key, p);
  const clear = () => {
    if (inflight.get(key) === p) inflight.delete(key);
  };
  p.then(clear, clear);
  return p;
}

const countDropped = (reason: ScrubDropReason, n: number) =>
  dnsMetrics().upstreamRecordsDropped.inc({ reason }, n);

async function queryUpstream(rt: DnsRuntime, k: LookupKey): Promise<Resolved> {
  const { group } = rt.router.route(k.name);
  const r = await group.query(k, rt.use0x20);
  let msg: ReturnType<typeof decodeMessage>;
  try {
    msg = decodeMessage(r.wire);
  } catch (e) {
    if (e instanceof WireError) {
      const err = new UpstreamError("malformed", `${r.upstream}: ${e.message}`, { cause: e });
      err.upstream = r.upstream;
      throw err;
    }
    throw e;
  }
  // Only what answers the question is kept (scrub.ts); a looping CNAME chain is no answer.
  const s = scrubAnswer(msg, k, countDropped);
  if (s.loop) {
    const err = new UpstreamError("malformed", `${r.upstream}: CNAME chain loops`);
    err.upstream = r.upstream;
    throw err;
  }
  return {
    upstream: r.upstream,
    answer: {
      rcode: msg.rcode,
      // The edge does not validate DNSSEC itself: the upstream's AD is believed only when the
      // upstream was authenticated (DoT/DoH) and checking was not disabled (CD=1 asks the
      // upstream not to validate, so its AD says nothing about this answer).
      ad: msg.ad && r.authenticated && !k.cd,
      answers: s.answers,
      authorities: s.authorities,
      additionals: s.additionals,
    },
  };
}
