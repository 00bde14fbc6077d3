// Failed proxy authentication, limited per client address. Every Basic credential the proxy has
// not verified yet costs a scrypt run (tens of ms of CPU), so without a limit one client could
// guess passwords as fast as it likes and keep the cores busy doing it. Each unverified attempt
// counts against the client's address for a fixed window (IPv6 clients by their /64, which one
// host usually holds whole); a verified success takes its own attempt back, so neither
// legitimate users nor an attacker who owns one valid credential gain or lose anything by
// succeeding. At the limit the client is refused (identify.ts answers 429 with Retry-After)
// without running the KDF until the window ends. Credentials already verified keep working.
//
// Memory is bounded: at most `maxClients` addresses are remembered, the least recently active
// dropped first (a Map keeps insertion order; every attempt moves its entry to the end). A client
// spraying more addresses than that within one window escapes the limit, which is why the
// table is large; each worker process keeps its own.

import { sourceKey } from "../net/source-key.ts";

interface Entry {
  count: number;
  resetAt: number;
}

export interface AuthLimiterSettings {
  /** Unverified attempts per client address and window; more are refused. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** Addresses remembered at once; default 65,536. */
  readonly maxClients?: number;
}

export class AuthFailureLimiter {
  readonly #byClient = new Map<string, Entry>();
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxClients: number;

  constructor(s: AuthLimiterSettings) {
    this.#max = s.maxFailures;
    this.#windowMs = s.windowMs;
    this.#maxClients = s.maxClients ?? 65_536;
  }

  /**
   * Count one attempt that needs the KDF. Returns 0 when it may go ahead, else the ms until
   * the client's window ends (nothing is counted then).
   */
  attempt(client: string, now: number): number {
    const key = clientKey(client);
    const e = this.#byClient.get(key);
    // A window that ends further away than a window's length began in the future: the wall
    // clock was set back (an NTP step, a resumed VM). It ends now, or the step would be added
    // to a refused client's wait.
    if (e !== undefined && e.resetAt > now && e.resetAt - now <= this.#windowMs) {
      // Most recently active last, refused or not: eviction takes the quietest address first.
      this.#byClient.delete(key);
      this.#byClient.set(key, e);
      if (e.count >= this.#max) return e.resetAt - now;
      e.count++;
      return 0;
    }
    if (e !== undefined) this.#byClient.delete(key);
    else if (this.#byClient.size >= this.#maxClients) {
      const oldest = this.#byClient.keys().next().value;
      if (oldest !== undefined) this.#byClient.delete(oldest);
    }
    this.#byClient.set(key, { count: 1, resetAt: now + this.#windowMs });
    return 0;
  }

  /** The attempt counted at `attemptAt` verified: take it back (if its window still runs). */
  succeeded(client: string, attemptAt: number): void {
    const e = this.#byClient.get(clientKey(client));
    if (e !== undefined && e.count > 0 && e.resetAt - this.#windowMs <= attemptAt) e.count--;
  }

  /** Addresses remembered now (for tests and the bound). */
  get size(): number {
    return this.#byClient.size;
  }
}

/** The address a client is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export const clientKey = sourceKey;
