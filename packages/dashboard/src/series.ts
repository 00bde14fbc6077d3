// The overview chart's bars: one per bucket of the range (empty buckets included, so gaps show
// as gaps), each split into allowed, blocked and every other action.

import type { TimeseriesResult } from "./types.ts";

export const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

export interface Bar {
  /** Bucket start, ms since the epoch (UTC-aligned, as the API's points). */
  t: number;
  allow: number;
  block: number;
  other: number;
}

export function bars(ts: TimeseriesResult, from: number, to: number, bucketMs: number): Bar[] {
  const byT = new Map<number, Bar>();
  const start = Math.floor(from / bucketMs) * bucketMs;
  for (let t = start; t < to; t += bucketMs) byT.set(t, { t, allow: 0, block: 0, other: 0 });
  for (const p of ts.points) {
    const b = byT.get(p.t) ?? { t: p.t, allow: 0, block: 0, other: 0 };
    if (p.key === "allow") b.allow += p.count;
    else if (p.key === "block") b.block += p.count;
    else b.other += p.count;
    byT.set(p.t, b);
  }
  return [...byT.values()].sort((a, b) => a.t - b.t);
}
