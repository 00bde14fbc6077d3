// Weekly policy schedules in an IANA time zone. Compiled once into a bitmap of the 10,080
// minutes of a week; at run time the local time is the UTC instant plus the zone's offset, and
// the offset is looked up through Intl only once per 15-minute bucket (UTC offsets change on
// quarter-hour boundaries at most), so a query costs a division and an array read.

import type { Schedule } from "@gatehouse/contract";

const MINUTES_PER_WEEK = 7 * 24 * 60;
const BUCKET_MS = 15 * 60_000;
const DAY_INDEX = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 } as const;

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(":");
  return Number(h) * 60 + Number(m);
}

export class CompiledSchedule {
  private readonly week = new Uint8Array(MINUTES_PER_WEEK);
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
    for (const w of schedule.windows) {
      const start = minutesOf(w.start);
      const end = minutesOf(w.end);
      // A window whose end is not after its start runs past midnight into the next day
      // (22:00–06:00); equal start and end means the whole day.
      const length = end > start ? end - start : end + 1440 - start;
      for (const d of w.days) {
        const base = DAY_INDEX[d] * 1440 + start;
        for (let i = 0; i < length; i++) this.week[(base + i) % MINUTES_PER_WEEK] = 1;
      }
    }
  }

  /** UTC offset of the zone at `now`, ms (local = UTC + offset). */
  private offsetAt(now: number): number {
    const b = Math.floor(now / BUCKET_MS);
    if (b !== this.bucket) {
      const at = b * BUCKET_MS;
      const p: Record<string, number> = {};
      for (const part of this.fmt.formatToParts(at))
        if (part.type !== "literal") p[part.type] = Number(part.value);
      const local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
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
