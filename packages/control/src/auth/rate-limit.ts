// Failed-authentication limits. A key (a client address, or a credential's non-secret id) with
// `max` failures inside `windowMs` is over its limit until the window ends. Being over the limit
// never refuses a credential that verifies: it only turns that key's further failures into 429
// and bounds the verification work (scrypt) spent on its unproven credentials (WorkBudget).

import { formatIp, parseIp } from "@gatehouse/rules";

/**
 * The key a client address is counted under: IPv4 as is (also IPv4-mapped, what a dual-stack
 * socket reports), IPv6 by its /64 — the prefix one host or LAN usually holds whole (RFC 4291
 * §2.5.4, RFC 7421), so rotating interface identifiers does not escape the limit. The edge's
 * per-source limits count the same way.
 */
export function addressKey(ip: string): string {
  if (!ip.includes(":")) return ip;
  const a = parseIp(ip);
  if (a?.family !== 6) return ip;
  const [w0, w1, w2, w3] = a.w;
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return formatIp({ family: 4, v4: w3 });
  return `${w0.toString(16)}:${w1.toString(16)}::/64`;
}

export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #byKey = new Map<string, { count: number; resetAt: number }>();
  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }
  /** Seconds until the key's window ends when it is over the limit, else 0. */
  blockedFor(key: string, now: number): number {
    const e = this.#byKey.get(key);
    if (!e) return 0;
    if (e.resetAt <= now) {
      this.#byKey.delete(key);
      return 0;
    }
    return e.count >= this.#max ? Math.ceil((e.resetAt - now) / 1000) : 0;
  }
  fail(key: string, now: number): void {
    const e = this.#byKey.get(key);
    if (!e || e.resetAt <= now) {
      // Bound memory under a spray of addresses: drop expired entries when the map grows, and
      // the oldest ones when that is not enough (they lose their count, never a valid client).
      if (this.#byKey.size >= 100_000) this.#sweep(now);
      this.#byKey.set(key, { count: 1, resetAt: now + this.#windowMs });
    } else e.count++;
  }
  #sweep(now: number): void {
    for (const [k, e] of this.#byKey) if (e.resetAt <= now) this.#byKey.delete(k);
    for (const k of this.#byKey.keys()) {
      if (this.#byKey.size < 90_000) break;
      this.#byKey.delete(k);
    }
  }
}

/**
 * A token bucket for the checks made for keys over their limit: a valid credential presented
 * from a throttled address still gets verified, but attackers there cannot make control do
 * more than `perSecond` lookups and scrypts a second between them.
 */
export class WorkBudget {
  readonly #perSecond: number;
  #tokens: number;
  #at = 0;
  constructor(perSecond: number) {
    this.#perSecond = perSecond;
    this.#tokens = perSecond;
  }
  take(now: number): boolean {
    this.#tokens = Math.min(
      this.#perSecond,
      this.#tokens + ((now - this.#at) / 1000) * this.#perSecond,
    );
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
