// Edge-like DNS query-log records for the analytics benchmarks: skewed domains (every 17th
// blocked by a policy through a list), 1,000 clients, three transports' worth of variety.

import type { QueryLogRecord } from "@gatehouse/contract";

export interface RecordShape {
  /** Time of record 0 (ms since the epoch); record n is `step` ms later per n. */
  start: number;
  step?: number;
  domains?: number;
  clients?: number;
}

export function makeRecords(count: number, offset: number, shape: RecordShape): QueryLogRecord[] {
  const { start, step = 60, domains = 50_000, clients = 1000 } = shape;
  const out: QueryLogRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const n = offset + i;
    const d = (n * 7919) % domains;
    const blocked = d % 17 === 0;
    out[i] = {
      ts: start + n * step,
      kind: "dns",
      id: `i${n}`,
      edgeId: "edge-1",
      location: n % 3 === 0 ? "branch" : "hq",
      client: `10.0.${(n % clients) >> 8}.${n % 256}`,
      action: blocked ? "block" : "allow",
      ...(blocked
        ? { policyId: `pol-${d % 100}`, policyName: `Policy ${d % 100}`, list: "ads" }
        : {}),
      transport: n % 5 === 0 ? "doh" : "udp",
      durationMs: (n % 50) / 2,
      qname: `host${d}.example${d % 97}.com`,
      qtype: n % 4 === 0 ? "AAAA" : "A",
      rcode: "NOERROR",
      cache: n % 2 === 0 ? "hit" : "miss",
      upstream: "udp://9.9.9.9:53",
    };
  }
  return out;
}
