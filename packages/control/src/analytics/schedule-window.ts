// Whether a policy schedule is active at an instant, for replaying logged traffic. The minutes a
// schedule covers come from the contract's scheduleWeek, as on the edge (an overnight window
// belongs to the day it starts on). Local time comes from Intl once per minute and zone, cached.

import { type Schedule, scheduleWeek } from "@gatehouse/contract";

const WEEKDAY_INDEX: Readonly<Record<string, number>> = {
  Mon: 0,
  Tue: 1,
  Wed: 2,
  Thu: 3,
  Fri: 4,
  Sat: 5,
  Sun: 6,
};

export class ScheduleWindow {
  /** One flag per minute of the local week, Monday 00:00 first. */
  private readonly week: Uint8Array;
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
    this.week = scheduleWeek(schedule);
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
