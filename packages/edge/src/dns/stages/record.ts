// record: the query's query-log record and one event on `gatehouse:dns.query`
// (telemetry/events.ts), which the metrics, the query log and the operational log subscribe to.
// Always runs — for answers, refusals, drops and failures alike — so every query the edge
// received is accounted for. `publishQuery` is the one implementation of recording: the stage
// and the fast path (`recordFast`, for a packet-cache answer) both end in it, with one event
// object reused for every query, so the fast path allocates nothing.

import type { QueryLogRecord } from "@gatehouse/contract";
import { u16 } from "../../net/bytes.ts";
import type { PolicyPhase } from "../../policy/policy-set.ts";
import { dnsQueryChannel, newDnsQueryEvent } from "../../telemetry/events.ts";
import type { PendingCount } from "../../telemetry/pending-counts.ts";
import { queryId, type RecordTemplate } from "../../telemetry/query-log.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import type { PacketEntry } from "../packet-cache.ts";
import { rcodeName, typeName } from "../wire/constants.ts";
import { answerText } from "../wire/rdata-text.ts";
import { explainListMatch } from "./list-match.ts";

/** Queries of this thread, numbered for their record ids. */
let seq = 0;

/** The event every query is published as; valid only during `publish` (events.ts). */
const event = newDnsQueryEvent({});

/** The list behind a match: the first referenced list whose verdict for the name is a match. */
export function matchedList(ex: DnsExchange): string | undefined {
  const p = ex.policy;
  if (!p || !ex.query || p.lists.length === 0) return undefined;
  ex.listMatch ??= explainListMatch(ex, ex.query.qname);
  return ex.listMatch?.list ?? p.lists[0];
}

/** Publish one finished query (when anything listens). */
function publishQuery(
  origin: object,
  ts: number,
  client: string,
  transport: string,
  durationMs: number,
  fields: RecordTemplate,
  record: QueryLogRecord | undefined,
  n: number,
  policyAction: string | undefined,
  policyPhase: PolicyPhase | undefined,
  errorDetail: string | undefined,
  memo: (PendingCount | undefined)[] | undefined,
): void {
  if (!dnsQueryChannel.hasSubscribers) return;
  const ev = event;
  ev.origin = origin;
  ev.ts = ts;
  ev.client = client;
  ev.transport = transport;
  ev.durationMs = durationMs;
  ev.fields = fields;
  ev.record = record;
  ev.seq = n;
  ev.policyAction = policyAction;
  ev.policyPhase = policyPhase;
  ev.errorDetail = errorDetail;
  ev.memo = memo;
  dnsQueryChannel.publish(ev);
}

/** Record a fast-path answer from `e` as the pipeline would have recorded it, allocating nothing. */
export function recordFast(
  origin: object,
  e: PacketEntry,
  ip: string,
  transport: string,
  ts: number,
  durationMs: number,
): void {
  if (!dnsQueryChannel.hasSubscribers) return;
  publishQuery(
    origin,
    ts,
    ip,
    transport,
    durationMs,
    e.template,
    undefined,
    ++seq,
    e.policyAction,
    e.policyPhase,
    undefined,
    e.tallies,
  );
}

export function createRecordStage(): Stage {
  return {
    name: "record",
    run(ex: DnsExchange): Outcome {
      const durationMs = Math.round((performance.now() - ex.t0) * 1000) / 1000;
      const q = ex.query;
      const n = ++seq;
      const rec: QueryLogRecord = {
        ts: ex.ts,
        kind: "dns",
        id: queryId(n),
        client: ex.client.ip,
        action: ex.action,
        transport: ex.client.transport,
        durationMs,
        rcode: ex.out ? rcodeName(ex.response?.rcode ?? 0) : "NONE",
        cache: ex.cache,
      };
      const shared = ex.rt.shared;
      if (shared.edgeId) rec.edgeId = shared.edgeId;
      if (ex.location) rec.location = ex.location.id;
      const device = ex.device;
      if (device) {
        rec.device = device.name;
        if (device.email !== undefined) rec.identity = device.email;
      }
      if (q) {
        rec.qname = q.qname.slice(0, 255);
        rec.qtype = typeName(q.qtype);
      }
      if (ex.policy) {
        rec.policyId = ex.policy.id;
        rec.policyName = ex.policy.name;
        const list = matchedList(ex);
        if (list) rec.list = list;
        const m = ex.listMatch;
        if (m) rec.rule = m.rule.slice(0, 512);
        if (ex.chainName) rec.matchedName = ex.chainName.slice(0, 255);
      }
      const answers = ex.out ? ex.response?.answers : undefined;
      if (answers && answers.length > 0) {
        const t = answerText(answers);
        if (t.answer !== undefined) rec.answer = t.answer;
        if (t.cnames !== undefined) rec.cnames = t.cnames;
      }
      if (ex.upstream) rec.upstream = ex.upstream;
      if (ex.dnssec) rec.dnssec = ex.dnssec;
      const ede = ex.ede[0];
      if (ede && ede.data.length >= 2) rec.ede = u16(ede.data, 0);
      if (ex.reason) rec.reason = ex.reason;
      ex.record = rec;
      publishQuery(
        shared,
        ex.ts,
        ex.client.ip,
        ex.client.transport,
        durationMs,
        rec,
        rec,
        n,
        ex.policy?.action,
        ex.policyPhase,
        ex.errorDetail,
        undefined,
      );
      return "next";
    },
  };
}
