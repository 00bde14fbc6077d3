// Weekly policy schedules: which minutes of the local week a schedule covers. One definition for
// the edge (enforcement), control (validation, policy simulation) and the docs
// (docs/configuration.md "Schedules"):
//   - a window covers [start, end) in local wall-clock time of the schedule's IANA zone;
//   - a window whose end is not after its start runs past midnight: it belongs to the day it
//     starts on, so `{days: [fri], start: "22:00", end: "06:00"}` is Friday 22:00 to Saturday
//     06:00 (and Sunday's runs into Monday);
//   - equal start and end is 24 hours from the start; "24:00" is the end of the day.

import type { Schedule } from "./config-bundle.ts";

export const MINUTES_PER_WEEK = 7 * 24 * 60;
/** Monday is 0, as the week bitmap starts on Monday 00:00. */
export const DAY_INDEX = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 } as const;

function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Minutes a window lasts (1 to 1440): past midnight when its end is not after its start. */
export function windowLength(start: string, end: string): number {
  const s = minutesOf(start);
  const e = minutesOf(end);
  return e > s ? e - s : e + 1440 - s;
}

/** One flag per minute of the local week, Monday 00:00 first: 1 where the schedule is active. */
export function scheduleWeek(schedule: Schedule): Uint8Array {
  const week = new Uint8Array(MINUTES_PER_WEEK);
  for (const w of schedule.windows) {
    const start = minutesOf(w.start);
    const length = windowLength(w.start, w.end);
    for (const d of w.days) {
      const base = DAY_INDEX[d] * 1440 + start;
      for (let i = 0; i < length; i++) week[(base + i) % MINUTES_PER_WEEK] = 1;
    }
  }
  return week;
}
