// The query-log ring: a fixed array that answering code pushes into without ever waiting.
// When the shipper falls behind, the oldest records are overwritten and counted as dropped,
// so a slow or absent consumer can never slow queries down or grow memory.

import type { QueryLogRecord } from "@gatehouse/contract";

export class QueryLog {
  private readonly buf: (QueryLogRecord | undefined)[];
  private head = 0; // next write position
  private count = 0;
  /** Records overwritten before anyone drained them. */
  dropped = 0;
  /** Records ever pushed. */
  pushed = 0;

  constructor(capacity = 65_536) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError("query log capacity must be a positive integer");
    this.buf = new Array(capacity);
  }

  get capacity(): number {
    return this.buf.length;
  }
  get size(): number {
    return this.count;
  }

  push(record: QueryLogRecord): void {
    this.buf[this.head] = record;
    this.head = (this.head + 1) % this.buf.length;
    this.pushed++;
    if (this.count === this.buf.length) this.dropped++;
    else this.count++;
  }

  /** Remove and return up to `max` records, oldest first. */
  drain(max = this.buf.length): QueryLogRecord[] {
    const n = Math.min(max, this.count);
    const out: QueryLogRecord[] = new Array(n);
    const cap = this.buf.length;
    let tail = (this.head - this.count + cap) % cap;
    for (let i = 0; i < n; i++) {
      out[i] = this.buf[tail]!;
      this.buf[tail] = undefined;
      tail = (tail + 1) % cap;
    }
    this.count -= n;
    return out;
  }

  /** The newest `max` records without removing them, newest first (for local inspection). */
  peekNewest(max = 100): QueryLogRecord[] {
    const n = Math.min(max, this.count);
    const out: QueryLogRecord[] = [];
    const cap = this.buf.length;
    for (let i = 1; i <= n; i++) out.push(this.buf[(this.head - i + cap) % cap]!);
    return out;
  }
}
