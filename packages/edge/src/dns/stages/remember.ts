// remember: keep the pipeline's encoded answer in the packet cache (packet-cache.ts) when a
// repeat of the query may be answered with the same bytes — a config whose policies read only
// memoizable fields, a plain query over UDP, TCP or DoT, an answer that is a fresh cache entry or
// a policy's synthesized one, with nothing per-query in it (no rewrite prefix, no EDE cause, no
// truncation). After record: the entry keeps the record's fields as the template its repeats
// are logged with.

import { u8 } from "../../net/bytes.ts";
import type { RecordTemplate } from "../../telemetry/query-log.ts";
import type { EntryUse } from "../cache/dns-cache.ts";
import type { DnsExchange, Outcome, Stage } from "../exchange.ts";
import { findTtls, packetEntryBytes, parseFastQuery } from "../packet-cache.ts";
import { memoFor } from "../runtime.ts";

const NO_TTLS: readonly number[] = [];

export function createRememberStage(): Stage {
  return {
    name: "remember",
    run(ex: DnsExchange): Outcome {
      const rt = ex.rt;
      const out = ex.out;
      const t = ex.client.transport;
      if (!out || !memoFor(rt, ex.client.ip) || (t !== "udp" && t !== "tcp" && t !== "dot"))
        return "next";
      if (
        !ex.query ||
        !ex.record ||
        ex.prefix.length > 0 ||
        ex.reason !== undefined ||
        ex.cache === "stale" ||
        u8(out, 2) & 0x02
      )
        return "next";
      if (ex.action !== "allow" && ex.action !== "block" && ex.action !== "override") return "next";
      if (ex.response && ex.response.rcode > 15) return "next";
      const q = parseFastQuery(ex.raw);
      if (!q) return "next";
      const now = Date.now();
      let expiresAt: number;
      let refreshAt = 0;
      let ttls = NO_TTLS;
      let use: EntryUse | undefined;
      if (ex.cache === "hit" || ex.cache === "miss") {
        const entry = ex.cacheKey === undefined ? undefined : rt.shared.cache.peek(ex.cacheKey);
        if (!entry || entry.expiresAt <= now) return "next";
        expiresAt = entry.expiresAt;
        // The last tenth of the entry's life goes through the pipeline, which may prefetch.
        if (rt.cacheSettings.prefetch && entry.ttl >= 10)
          refreshAt = entry.expiresAt - entry.ttl * 100;
        use = entry.use;
        ttls = findTtls(out);
      } else {
        // Synthesized by policy (constant TTLs): valid for this config.
        expiresAt = now + 300_000;
      }
      // Repeats log what this answer logged, as cache hits, with their own time, id, client and
      // duration; no upstream was asked for them.
      const {
        ts: _ts,
        id: _id,
        client: _client,
        transport: _transport,
        durationMs: _durationMs,
        upstream: _upstream,
        // Per client: a DoH device's name and owner never go to the location's other clients.
        device: _device,
        identity: _identity,
        ...shared
      } = ex.record;
      const template: RecordTemplate = { ...shared, cache: ex.cache === "none" ? "none" : "hit" };
      const packets = rt.packets;
      // A copy in memory of its own: `out` is a slice of a 512-byte (or larger) buffer from
      // Node's shared 8 KiB pool, and a kept slice keeps the whole pool buffer alive (measured:
      // 1.3 KB of external memory an entry).
      const bytes = Buffer.allocUnsafeSlow(out.length);
      out.copy(bytes);
      const question = lowerQuestion(ex.raw, q.questionEnd);
      packets.set(packets.key(q, ex.location), {
        bytes,
        ttls,
        storedAt: now,
        expiresAt,
        refreshAt,
        questionEnd: q.questionEnd,
        question,
        edns: q.edns,
        adcd: q.adcd,
        location: ex.location,
        use,
        template,
        policyAction: ex.policy?.action,
        policyPhase: ex.policyPhase,
        tallies: [],
        size: packetEntryBytes(bytes, question, ttls, template),
      });
      return "next";
    },
  };
}

/** The question (name, type, class) of `raw`, lowercased, as the packet cache confirms it. */
function lowerQuestion(raw: Uint8Array, questionEnd: number): string {
  const out = Buffer.from(raw.subarray(12, questionEnd));
  for (let i = 0; i < out.length; i++) {
    const c = u8(out, i);
    if (c >= 0x41 && c <= 0x5a) out[i] = c | 0x20;
  }
  return out.toString("latin1");
}
