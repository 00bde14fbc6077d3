import assert from "node:assert/strict";
import { test } from "node:test";
import { CompiledSchedule } from "./schedule.ts";

test("weekly windows in a time zone, across DST and midnight", () => {
  const s = new CompiledSchedule({
    timeZone: "Europe/Berlin",
    windows: [
      { days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00" },
      { days: ["sat"], start: "22:00", end: "02:00" },
    ],
  });
  const cases: [string, boolean][] = [
    ["2026-01-05T08:30:00Z", true], // Mon 09:30 CET (UTC+1)
    ["2026-01-05T07:59:00Z", false], // Mon 08:59 CET
    ["2026-07-06T07:30:00Z", true], // Mon 09:30 CEST (UTC+2)
    ["2026-07-06T15:00:00Z", false], // Mon 17:00 CEST: end is exclusive
    ["2026-01-10T21:30:00Z", true], // Sat 22:30
    ["2026-01-11T00:59:00Z", true], // Sun 01:59, window from Saturday
    ["2026-01-11T01:00:00Z", false], // Sun 02:00
    ["2026-01-04T10:00:00Z", false], // Sunday
  ];
  for (const [iso, want] of cases) assert.equal(s.isActive(Date.parse(iso)), want, iso);
  assert.throws(
    () =>
      new CompiledSchedule({
        timeZone: "Mars/Olympus",
        windows: [{ days: ["mon"], start: "00:00", end: "24:00" }],
      }),
    RangeError,
  );
});

test("overnight windows belong to the day they start on, Sunday's runs into Monday, DST nights", () => {
  const s = new CompiledSchedule({
    timeZone: "Europe/Berlin",
    windows: [
      { days: ["sat"], start: "22:00", end: "06:00" },
      { days: ["sun"], start: "23:00", end: "01:00" },
    ],
  });
  const cases: [string, boolean][] = [
    ["2026-03-28T20:59:00Z", false], // Sat 21:59 CET
    ["2026-03-28T21:00:00Z", true], // Sat 22:00 CET
    // The night clocks go forward (Sun 2026-03-29 02:00 CET → 03:00 CEST): the window is
    // local wall-clock time, so it still ends at 06:00 local (7 real hours that night).
    ["2026-03-29T03:59:00Z", true], // Sun 05:59 CEST, Saturday's window
    ["2026-03-29T04:00:00Z", false], // Sun 06:00 CEST
    ["2026-03-29T21:30:00Z", true], // Sun 23:30 CEST
    ["2026-03-29T22:30:00Z", true], // Mon 00:30 CEST: Sunday's window, across the week's end
    ["2026-03-29T23:00:00Z", false], // Mon 01:00 CEST
    ["2026-03-30T21:30:00Z", false], // Mon 23:30: no window starts on Monday
  ];
  for (const [iso, want] of cases) assert.equal(s.isActive(Date.parse(iso)), want, iso);
});
