// Blocking paused ("Pause blocking" in the dashboard, `pauses` in the bundle): compiled once per
// config into the end time of the pause for every client and per location, so the check per
// query is a map lookup and two comparisons. An end time in the past is a pause that is over:
// it ends on time on an edge that no longer hears from control.

import type { BlockingPause } from "@gatehouse/contract";

export class BlockingPauses {
  /** When the pause for every client ends (ms since the epoch); -Infinity: none. */
  readonly #everywhere: number;
  readonly #byLocation: ReadonlyMap<string, number>;

  private constructor(everywhere: number, byLocation: ReadonlyMap<string, number>) {
    this.#everywhere = everywhere;
    this.#byLocation = byLocation;
  }

  /** The bundle's pauses, or undefined when there are none (nothing to check per query). */
  static of(pauses: readonly BlockingPause[] | undefined): BlockingPauses | undefined {
    if (!pauses || pauses.length === 0) return undefined;
    let everywhere = Number.NEGATIVE_INFINITY;
    const byLocation = new Map<string, number>();
    for (const p of pauses) {
      const until = p.until ?? Number.POSITIVE_INFINITY;
      if (p.locationId === undefined) everywhere = Math.max(everywhere, until);
      else byLocation.set(p.locationId, Math.max(byLocation.get(p.locationId) ?? 0, until));
    }
    return new BlockingPauses(everywhere, byLocation);
  }

  /** Is blocking paused at `now` for a client of `locationId` (undefined: no location)? */
  isPaused(locationId: string | undefined, now: number): boolean {
    if (now < this.#everywhere) return true;
    if (locationId === undefined) return false;
    const until = this.#byLocation.get(locationId);
    return until !== undefined && now < until;
  }
}
