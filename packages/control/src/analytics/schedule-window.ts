// Whether a policy schedule is active at an instant, for replaying logged traffic. Semantics
// match the edge's enforcement: windows are weekly, in the schedule's IANA time zone; a window
// whose end is not after its start runs past midnight into the next day; equal start and end
// is the whole day; "24:00" is the end of the day. Local time comes from Intl once per minute
// and zone, cached.

import type { Schedule } from "@gatehouse/contract";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const WEEKDAY_INDEX: Readonly<Record<string, number>> = {
  Mon: 0,
  Tue: 1,
  Wed: 2,
  Thu: 3,
  Fri: 4,
  Sat: 5,
  Sun: 6,
};
const WEEK_MINUTES = 7 * 1440;

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

export class ScheduleWindow {
  /** One flag per minute of the local week, Monday 00:00 first. */
  private readonly week = new Uint8Array(WEEK_MINUTES);
  private readonly fmt: Intl.DateTimeFormat;
  /** Minute → active, for the minutes seen so far (bounded; cleared when full). */
  private readonly seen = new Map<number, boolean>();

  /** Throws RangeError for an unknown time zone. */
  constructor(schedule: Schedule) {
    this.fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: schedule.timeZone,
      weekday: "short",
      hour: "numeric",
      minute: "numeric",
      hourCycle: "h23",
    });
    for (const w of schedule.windows) {
      const start = minutes(w.start);
      const end = minutes(w.end);
      const length = end > start ? end - start : end + 1440 - start;
      for (const d of w.days) {
        const base = DAYS.indexOf(d) * 1440 + start;
        for (let i = 0; i < length; i++) this.week[(base + i) % WEEK_MINUTES] = 1;
      }
    }
  }

  isActive(ts: number): boolean {
    const minute = Math.floor(ts / 60_000);
    const cached = this.seen.get(minute);
    if (cached !== undefined) return cached;
    let day = 0;
    let hour = 0;
    let min = 0;
    for (const part of this.fmt.formatToParts(minute * 60_000)) {
      if (part.type === "weekday") day = WEEKDAY_INDEX[part.value] ?? 0;
      else if (part.type === "hour") hour = Number(part.value);
      else if (part.type === "minute") min = Number(part.value);
    }
    const active = this.week[day * 1440 + hour * 60 + min] === 1;
    if (this.seen.size >= 100_000) this.seen.clear();
    this.seen.set(minute, active);
    return active;
  }
}
