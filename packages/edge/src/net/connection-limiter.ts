// Connection slots for a listener that must not let one client take them all: a bound on the
// connections open at once in total, and a smaller one per source (sourceKey: IPv4 address,
// IPv6 /64), so a client that opens connections and never closes them exhausts its own share
// and nobody else's. Neutral (no DNS or proxy import): each listener owns one limiter.
//
// Memory is bounded by `total`: a source with no open connection has no entry.

import type { Socket } from "node:net";
import { sourceKey } from "./source-key.ts";

interface ConnectionLimits {
  /** Connections open at once from one source (IPv4 address, IPv6 /64). */
  readonly perSource: number;
  /** Connections open at once in total. */
  readonly total: number;
}

/** Why a connection was refused, for metrics labels. */
export type ConnectionRefusal = "per_source" | "total";

export class ConnectionLimiter {
  readonly #bySource = new Map<string, number>();
  readonly #perSource: number;
  readonly #total: number;
  #open = 0;

  constructor(limits: ConnectionLimits) {
    if (!(limits.perSource >= 1 && limits.total >= 1))
      throw new RangeError("connection limits must be at least 1");
    this.#perSource = limits.perSource;
    this.#total = limits.total;
  }

  /**
   * Take a slot for a connection from `ip`. Returns undefined when it is admitted (give the slot
   * back with release(ip) exactly once), else why it is refused (nothing was taken).
   */
  acquire(ip: string): ConnectionRefusal | undefined {
    if (this.#open >= this.#total) return "total";
    const key = sourceKey(ip);
    const n = this.#bySource.get(key) ?? 0;
    if (n >= this.#perSource) return "per_source";
    this.#bySource.set(key, n + 1);
    this.#open++;
    return undefined;
  }

  release(ip: string): void {
    const key = sourceKey(ip);
    const n = this.#bySource.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#bySource.delete(key);
    else this.#bySource.set(key, n - 1);
    this.#open--;
  }

  /**
   * Admit an accepted socket by its peer address; its slot is given back when it closes. On
   * refusal nothing is taken and the caller decides how to close it.
   */
  admit(sock: Socket): ConnectionRefusal | undefined {
    const ip = sock.remoteAddress ?? "";
    const refused = this.acquire(ip);
    if (refused === undefined) sock.once("close", () => this.release(ip));
    return refused;
  }

  /** Connections holding a slot now. */
  get open(): number {
    return this.#open;
  }

  /** Connections holding a slot now from the source of `ip`. */
  openFrom(ip: string): number {
    return this.#bySource.get(sourceKey(ip)) ?? 0;
  }
}
