// Blocking paused ("Pause blocking" in the dashboard, `pauses` in the bundle): compiled once per
// config into the end time of the pause for every client, per location and per client address,
// so the check per query is at most two map lookups and a few comparisons (the client lookup
// only when some client is paused). An end time in the past is a pause that is over: it ends on
// time on an edge that no longer hears from control.

import type { BlockingPause } from "@gatehouse/contract";
import { clientKeys } from "./client-keys.ts";

export class BlockingPauses {
  /** When the pause for every client ends (ms since the epoch); -Infinity: none. */
  readonly #everywhere: number;
  readonly #byLocation: ReadonlyMap<string, number>;
  /** By client address as the servers report it (both forms of an IPv4 address); undefined: none. */
  readonly #byClient: ReadonlyMap<string, number> | undefined;

  private constructor(
    everywhere: number,
    byLocation: ReadonlyMap<string, number>,
    byClient: ReadonlyMap<string, number> | undefined,
  ) {
    this.#everywhere = everywhere;
    this.#byLocation = byLocation;
    this.#byClient = byClient;
  }

  /** The bundle's pauses, or undefined when there are none (nothing to check per query). */
  static of(pauses: readonly BlockingPause[] | undefined): BlockingPauses | undefined {
    if (!pauses || pauses.length === 0) return undefined;
    let everywhere = Number.NEGATIVE_INFINITY;
    const byLocation = new Map<string, number>();
    let byClient: Map<string, number> | undefined;
    for (const p of pauses) {
      const until = p.until ?? Number.POSITIVE_INFINITY;
      if (p.client !== undefined) {
        byClient ??= new Map();
        for (const k of clientKeys(p.client))
          byClient.set(k, Math.max(byClient.get(k) ?? 0, until));
      } else if (p.locationId === undefined) everywhere = Math.max(everywhere, until);
      else byLocation.set(p.locationId, Math.max(byLocation.get(p.locationId) ?? 0, until));
    }
    return new BlockingPauses(everywhere, byLocation, byClient);
  }

  /**
   * True when every pause is a client's: answers of other clients do not depend on the time,
   * so the packet cache and the decision memo stay on for them (the paused clients bypass both).
   */
  get clientsOnly(): boolean {
    return this.#everywhere === Number.NEGATIVE_INFINITY && this.#byLocation.size === 0;
  }

  /** The client addresses paused (as keys the servers report), for the memo bypass. */
  clients(): Iterable<string> {
    return this.#byClient?.keys() ?? [];
  }

  /**
   * Is blocking paused at `now` for a client of `locationId` (undefined: no location) from
   * address `ip` (undefined: not known, e.g. a policy test without a source)?
   */
  isPaused(locationId: string | undefined, now: number, ip?: string): boolean {
    if (now < this.#everywhere) return true;
    if (this.#byClient !== undefined && ip !== undefined) {
      const c = this.#byClient.get(ip);
      if (c !== undefined && now < c) return true;
    }
    if (locationId === undefined) return false;
    const until = this.#byLocation.get(locationId);
    return until !== undefined && now < until;
  }
}
