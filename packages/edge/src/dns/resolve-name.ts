// Asking upstream for `ex.lookupName`: one query per (name, type, class, DO, CD, view) in flight
// (singleflight — concurrent identical misses share it), the answer decoded, checked and cached.

import { EdgeError } from "@gatehouse/contract/errors";
import { countValidation, recordsDroppedCount } from "../telemetry/metrics.ts";
import type { PendingCount } from "../telemetry/pending-counts.ts";
import { type CachedAnswer, cacheKey } from "./cache/dns-cache.ts";
import type { Validator, Verdict } from "./dnssec/validator.ts";
import type { DnsExchange } from "./exchange.ts";
import type { DnsRuntime, Resolved } from "./runtime.ts";
import { type ScrubDropReason, scrubAnswer } from "./scrub.ts";
import type { UpstreamAnswer } from "./upstream/pool.ts";
import { upstreamError } from "./upstream/transports.ts";
import type { UpstreamQuestion } from "./upstream/upstream-query.ts";
import { decodeMessage, type Message } from "./wire/message.ts";
import { WireError } from "./wire/name.ts";

/** What is looked up: the cache key's parts and what is asked upstream. */
export interface LookupKey extends UpstreamQuestion {
  /** The answer is DNSSEC-validated (validator on, client CD=0, location not opted out). */
  readonly validate: boolean;
}

export function keyOf(rt: DnsRuntime, k: LookupKey): string {
  // Validated and unvalidated answers never share an entry ("v" in the view).
  const view = rt.router.route(k.name).view;
  return cacheKey(k.name, k.type, k.class, k.do, k.cd, k.validate ? `${view}v` : view);
}

/** Whether this exchange's lookups are validated (see LookupKey.validate). */
export function validates(ex: DnsExchange): boolean {
  return (
    ex.rt.validator !== undefined &&
    ex.query?.cd !== true &&
    !(ex.location !== undefined && ex.rt.dnssecOff.has(ex.location.id))
  );
}

/**
 * An upstream answer that failed DNSSEC validation, as the edge's one error: SERVFAIL with the
 * RFC 8914 code of the verdict's cause and its short text (dns/fail.ts).
 */
export function bogusAnswerError(verdict: Verdict, upstream: string): EdgeError {
  const why = verdict.why ?? "DNSSEC validation failed";
  return new EdgeError("dnssec_bogus", why, {
    where: upstream,
    ede: verdict.ede,
    detail: why.slice(0, 200),
  });
}

/** Query upstream (deduplicated) and cache the result. Throws an upstream EdgeError. */
export function fetchUpstream(rt: DnsRuntime, k: LookupKey, key: string): Promise<Resolved> {
  const inflight = rt.shared.inflight;
  const existing = inflight.get(key);
  if (existing) return existing;
  // A bogus answer is remembered for a while (dnssec/validator.ts BOGUS_TTL): repeats are
  // SERVFAIL without asking upstream or checking signatures again.
  const validator = k.validate ? rt.validator : undefined;
  const bogus = validator?.bogusAnswer(key);
  if (bogus) return Promise.reject(bogusAnswerError(bogus.verdict, bogus.upstream));
  const p = queryAndStore(rt, k, key, validator);
  inflight.set(key, p);
  return p;
}

/**
 * One upstream lookup of fetchUpstream: the answer cached, and the key out of the in-flight
 * table once settled. The table's entry for `key` is this call's: fetchUpstream sets it right
 * after this returns (before any await here ends) and sets none for a key already in it. One
 * async function for the query, its check and its store (each async layer of a miss costs a
 * promise, a frame and a microtask turn).
 */
async function queryAndStore(
  rt: DnsRuntime,
  k: LookupKey,
  key: string,
  validator: Validator | undefined,
): Promise<Resolved> {
  try {
    const { group } = rt.router.route(k.name);
    // Validating: ask with DO (the signatures) and CD (a validating upstream hands over what it
    // has, and the verdict and its EDE are ours).
    const r = await group.query(validator ? { ...k, do: true, cd: true } : k, rt.use0x20);
    const msg = decodeUpstream(r);
    let verdict: Verdict | undefined;
    if (validator) {
      verdict = await validator.validate(msg, k.name, k.type);
      countValidation(verdict);
      if (verdict.security === "bogus") throw bogusAnswerError(verdict, r.upstream);
    }
    const answer = answerOf(msg, k, r, verdict);
    // Answer with what the cache holds (clamped TTLs, negative TTL on the SOA) so the first
    // client sees the same answer as the next ones.
    const e = rt.shared.cache.store(key, answer, Date.now());
    return { answer: e ?? answer, upstream: r.upstream };
  } catch (e) {
    if (e instanceof EdgeError && e.kind === "dnssec_bogus") {
      const verdict: Verdict = { security: "bogus", ede: e.ede, why: e.message };
      validator?.rememberBogus(key, verdict, e.where ?? "");
    }
    throw e;
  } finally {
    rt.shared.inflight.delete(key);
  }
}

const dropped: Record<ScrubDropReason, PendingCount | undefined> = {
  unrelated: undefined,
  authority: undefined,
  additional: undefined,
  dnssec: undefined,
};
const countDropped = (reason: ScrubDropReason, n: number) => {
  let c = dropped[reason];
  if (c === undefined) {
    c = recordsDroppedCount(reason);
    dropped[reason] = c;
  }
  c.n += n;
};

/** The upstream's reply decoded; a reply that does not decode is upstream_malformed. */
function decodeUpstream(r: UpstreamAnswer): Message {
  try {
    return decodeMessage(r.wire);
  } catch (e) {
    if (e instanceof WireError) {
      const err = upstreamError("upstream_malformed", `${r.upstream}: ${e.message}`, { cause: e });
      err.where = r.upstream;
      throw err;
    }
    throw e;
  }
}

/** What is kept of a decoded (and, when validating, validated) reply to `k`. */
function answerOf(
  msg: Message,
  k: LookupKey,
  r: UpstreamAnswer,
  verdict: Verdict | undefined,
): CachedAnswer {
  // Only what answers the question is kept (scrub.ts); a looping CNAME chain is no answer.
  const s = scrubAnswer(msg, k, countDropped);
  if (s.loop) {
    const err = upstreamError("upstream_malformed", `${r.upstream}: CNAME chain loops`);
    err.where = r.upstream;
    throw err;
  }
  const answer: { -readonly [K in keyof CachedAnswer]: CachedAnswer[K] } = {
    rcode: msg.rcode,
    // Validated: AD is our verdict. Not validated (validation off): the upstream's AD is
    // believed only when the upstream was authenticated (DoT/DoH) and checking was not
    // disabled (CD=1 asks the upstream not to validate, so its AD says nothing).
    ad: verdict ? verdict.security === "secure" : msg.ad && r.authenticated && !k.cd,
    answers: s.answers,
    authorities: s.authorities,
    additionals: s.additionals,
  };
  if (verdict) {
    answer.dnssec = verdict.security as "secure" | "insecure";
    if (verdict.ede !== undefined) answer.ede = verdict.ede;
  }
  return answer;
}
