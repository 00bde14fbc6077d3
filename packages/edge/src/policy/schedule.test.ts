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
