// Weekly policy schedules in an IANA time zone. Compiled once into a bitmap of the 10,080
// minutes of a week; at run time the local time is the UTC instant plus the zone's offset, and
// the offset is looked up through Intl only once per 15-minute bucket (UTC offsets change on
// quarter-hour boundaries at most), so a query costs a division and an array read.

import type { Schedule } from "@gatehouse/contract";
import { MINUTES_PER_WEEK, scheduleWeek } from "@gatehouse/contract/schedule";

const BUCKET_MS = 15 * 60_000;

export class CompiledSchedule {
  /** The contract's week bitmap: overnight windows belong to the day they start on. */
  private readonly week: Uint8Array;
  private readonly fmt: Intl.DateTimeFormat;
  private bucket = Number.NaN;
  private offsetMs = 0;
  readonly timeZone: string;

  /** Throws RangeError for an unknown time zone. */
  constructor(schedule: Schedule) {
    this.timeZone = schedule.timeZone;
    this.fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: schedule.timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    this.week = scheduleWeek(schedule);
  }

  /** UTC offset of the zone at `now`, ms (local = UTC + offset). */
  private offsetAt(now: number): number {
    const b = Math.floor(now / BUCKET_MS);
    if (b !== this.bucket) {
      const at = b * BUCKET_MS;
      const p: Record<string, number> = {};
      for (const part of this.fmt.formatToParts(at))
        if (part.type !== "literal") p[part.type] = Number(part.value);
      const { year = NaN, month = NaN, day = NaN, hour = NaN, minute = NaN, second = NaN } = p;
      const local = Date.UTC(year, month - 1, day, hour, minute, second);
      if (Number.isNaN(local))
        throw new Error(
          `internal: no local time in ${this.timeZone} for ${new Date(at).toISOString()}`,
        );
      this.offsetMs = local - at;
      this.bucket = b;
    }
    return this.offsetMs;
  }

  isActive(now: number): boolean {
    const localMinutes = Math.floor((now + this.offsetAt(now)) / 60_000);
    // 1970-01-01 was a Thursday: minute 0 of the epoch is Thursday 00:00 (index 3 from Monday).
    const m =
      (((localMinutes + 3 * 1440) % MINUTES_PER_WEEK) + MINUTES_PER_WEEK) % MINUTES_PER_WEEK;
    return this.week[m] === 1;
  }
}
