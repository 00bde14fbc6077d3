// Asking upstream for `ex.lookupName`: one query per (name, type, class, DO, CD, view) in flight
// (singleflight — concurrent identical misses share it), the answer decoded, checked and cached.

import { agedRecords, cacheKey } from "./cache/dns-cache.ts";
import type { DnsExchange } from "./exchange.ts";
import type { DnsRuntime, Resolved } from "./runtime.ts";
import { randomCase, randomId } from "./upstream/query-id.ts";
import { UpstreamError } from "./upstream/transports.ts";
import { OUR_UDP_SIZE } from "./wire/edns.ts";
import { decodeMessage, emptyMessage, encodeMessage } from "./wire/message.ts";
import { WireError } from "./wire/name.ts";

export interface LookupKey {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly do: boolean;
  readonly cd: boolean;
}

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

async function queryUpstream(rt: DnsRuntime, k: LookupKey): Promise<Resolved> {
  const { group } = rt.router.route(k.name);
  const id = randomId();
  const sentName = rt.use0x20 ? randomCase(k.name) : k.name;
  const m = emptyMessage(id);
  m.rd = true;
  m.cd = k.cd;
  m.questions.push({ name: sentName, type: k.type, class: k.class });
  m.edns = { udpSize: OUR_UDP_SIZE, version: 0, extRcode: 0, do: k.do, z: 0, options: [] };
  const wire = encodeMessage(m);
  const r = await group.query(wire, {
    id,
    name: sentName,
    type: k.type,
    class: k.class,
    exactCase: rt.use0x20,
  });
  let msg: ReturnType<typeof decodeMessage>;
  try {
    msg = decodeMessage(r.wire);
  } catch (e) {
    if (e instanceof WireError)
      throw new UpstreamError("malformed", `${r.upstream}: ${e.message}`, { cause: e });
    throw e;
  }
  return {
    upstream: r.upstream,
    answer: {
      rcode: msg.rcode,
      ad: msg.ad,
      answers: msg.answers,
      authorities: msg.authorities,
      additionals: msg.additionals,
    },
  };
}

/** Resolve the exchange's lookup name into `ex.answer` (used by resolve and policy-response). */
export async function resolveInto(ex: DnsExchange): Promise<void> {
  const q = ex.query!;
  const k: LookupKey = {
    name: ex.lookupName,
    type: q.qtype,
    class: q.qclass,
    do: q.edns?.do ?? false,
    cd: q.cd,
  };
  const key = ex.cacheKey ?? keyOf(ex.rt, k);
  const hit = ex.rt.shared.cache.lookup(key, Date.now());
  if (hit.kind === "hit") {
    ex.answer = {
      ...hit.entry,
      answers: agedRecords(hit.entry.answers, hit.age),
      authorities: agedRecords(hit.entry.authorities, hit.age),
    };
    ex.cache = "hit";
    return;
  }
  const r = await fetchUpstream(ex.rt, k, key);
  ex.answer = r.answer;
  ex.upstream = r.upstream;
}
