// record: one query-log record into the ring (never blocks) and the gatehouse_dns_* counters.
// Always runs — for answers, refusals, drops and failures alike — so the log and metrics account
// for every query the edge received.

import type { QueryLogRecord } from "@gatehouse/contract";
import { countDnsQuery, dnsMetrics } from "../../telemetry/metrics.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { rcodeName, typeName } from "../wire/constants.ts";

let seq = 0;
const prefix = Date.now().toString(36);

/** The list behind a block: the first referenced list that holds the name or a parent. */
export function matchedList(ex: DnsExchange): string | undefined {
  const p = ex.policy;
  const q = ex.query;
  if (!p || !q || p.lists.length === 0) return undefined;
  for (const name of p.lists) {
    const set = ex.rt.snapshot.lists.domains(name);
    if (set?.hasOrParent(q.qname)) return name;
  }
  return p.lists[0];
}

export function createRecordStage(): Stage {
  return {
    name: "record",
    run(ex: DnsExchange): Outcome {
      const durationMs = performance.now() - ex.t0;
      const q = ex.query;
      const rcode = ex.out ? rcodeName(ex.response?.rcode ?? 0) : "NONE";
      const m = dnsMetrics();
      countDnsQuery(ex.client.transport, ex.action, rcode);
      m.duration.observe({ transport: ex.client.transport }, durationMs / 1000);
      const log = ex.rt.shared.log;
      const rec: QueryLogRecord = {
        ts: ex.ts,
        kind: "dns",
        id: `${prefix}-${(++seq).toString(36)}`,
        client: ex.client.ip,
        action: ex.action,
        transport: ex.client.transport,
        durationMs: Math.round(durationMs * 1000) / 1000,
        rcode,
        cache: ex.cache,
      };
      if (ex.rt.shared.edgeId) rec.edgeId = ex.rt.shared.edgeId;
      if (ex.location) rec.location = ex.location.id;
      if (q) {
        rec.qname = q.qname.slice(0, 255);
        rec.qtype = typeName(q.qtype);
      }
      if (ex.policy) {
        rec.policyId = ex.policy.id;
        rec.policyName = ex.policy.name;
        const list = matchedList(ex);
        if (list) rec.list = list;
      }
      if (ex.upstream) rec.upstream = ex.upstream;
      if (ex.reason) rec.reason = ex.reason;
      log.push(rec);
      ex.record = rec;
      ex.rt.shared.requestLog?.record(rec, ex.errorDetail);
      // The gauge is sampled, not set per query: it only needs to be roughly current.
      if ((seq & 0xff) === 0) m.cacheEntries.set(ex.rt.shared.cache.size);
      return "next";
    },
  };
}
