// Failed-authentication limiter: after `max` failures from one client address inside `windowMs`,
// that address gets 429 (with Retry-After) until the window ends, whatever it presents. This
// bounds online guessing and the scrypt work an attacker can make us do.

export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #byClient = new Map<string, { count: number; resetAt: number }>();
  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }
  /** Seconds until the client may try again, or 0 when it may now. */
  blockedFor(client: string, now: number): number {
    const e = this.#byClient.get(client);
    if (!e) return 0;
    if (e.resetAt <= now) {
      this.#byClient.delete(client);
      return 0;
    }
    return e.count >= this.#max ? Math.ceil((e.resetAt - now) / 1000) : 0;
  }
  fail(client: string, now: number): void {
    const e = this.#byClient.get(client);
    if (!e || e.resetAt <= now) {
      // Bound memory under a spray of addresses: drop expired entries when the map grows.
      if (this.#byClient.size > 100_000) this.#sweep(now);
      this.#byClient.set(client, { count: 1, resetAt: now + this.#windowMs });
    } else e.count++;
  }
  #sweep(now: number): void {
    for (const [k, e] of this.#byClient) if (e.resetAt <= now) this.#byClient.delete(k);
  }
}
