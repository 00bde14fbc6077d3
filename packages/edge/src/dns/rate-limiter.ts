// Per-source token bucket (admit stage). Buckets live in a Map keyed by client address; the
// map is swept when it grows past a bound, dropping buckets that have refilled completely
// (a full bucket carries no state worth keeping), so a spoofed-source flood cannot grow memory
// without limit.

interface RateLimitSettings {
  readonly queriesPerSecond: number;
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxBuckets: number;

  constructor(s: RateLimitSettings, maxBuckets = 100_000) {
    this.rate = s.queriesPerSecond / 1000; // tokens per ms
    this.burst = s.burst;
    this.maxBuckets = maxBuckets;
  }

  /** Take one token for `source`; false when over the limit. */
  take(source: string, now: number): boolean {
    const b = this.refilled(source, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * The tokens `source` holds at `now` (the burst for a source with no bucket yet), without
   * taking one: what a copy of this bucket elsewhere starts from (the batch socket's C answers).
   */
  tokens(source: string, now: number): number {
    const b = this.buckets.get(source);
    if (!b) return this.burst;
    return Math.min(this.burst, b.tokens + Math.max(0, now - b.last) * this.rate);
  }

  /**
   * Spend `n` tokens of `source` at `now` for answers given elsewhere (the batch socket's C
   * answers, which its copy of the bucket admitted): never below zero.
   */
  charge(source: string, n: number, now: number): void {
    const b = this.refilled(source, now);
    b.tokens = Math.max(0, b.tokens - n);
  }

  /** `source`'s bucket (a full one when it has none yet), refilled for the time up to `now`. */
  private refilled(source: string, now: number): Bucket {
    let b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= this.maxBuckets) this.sweep(now);
      b = { tokens: this.burst, last: now };
      this.buckets.set(source, b);
    } else if (now > b.last) {
      // A clock set back (Date.now() is the wall clock: an NTP step, a resumed VM) refills
      // nothing: it must not drain the bucket by the step, which refused every known source for
      // as long as the clock had been set back.
      b.tokens = Math.min(this.burst, b.tokens + (now - b.last) * this.rate);
      b.last = now;
    }
    return b;
  }

  /** Tokens added per millisecond, and the most a bucket holds. */
  get perMs(): number {
    return this.rate;
  }

  get capacity(): number {
    return this.burst;
  }

  private sweep(now: number): void {
    for (const [k, b] of this.buckets)
      if (b.tokens + (now - b.last) * this.rate >= this.burst) this.buckets.delete(k);
    // Still full of active sources: forget the oldest half rather than grow.
    if (this.buckets.size >= this.maxBuckets) {
      let n = this.buckets.size >> 1;
      for (const k of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(k);
      }
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
