import assert from "node:assert/strict";
import { test } from "node:test";
import { LocationMatcher } from "./location-matcher.ts";

const m = new LocationMatcher([
  {
    id: "office",
    name: "Office",
    networks: ["10.0.0.0/8", "2001:db8::/32"],
    dohToken: "tok-office-1",
    dotLabel: "office",
  },
  { id: "lab", name: "Lab", networks: ["10.1.0.0/16", "2001:db8:1::/48"] },
  { id: "home", name: "Home", networks: ["192.0.2.7", "0.0.0.0/0"] },
]);

test("bySource: most specific network wins, v4-mapped normalised", () => {
  const cases: [string, string | undefined][] = [
    ["10.2.3.4", "office"],
    ["10.1.3.4", "lab"],
    ["::ffff:10.1.3.4", "lab"],
    ["192.0.2.7", "home"],
    ["8.8.8.8", "home"],
    ["2001:db8:1::9", "lab"],
    ["2001:db8:2::9", "office"],
    ["2001:db9::1", undefined],
    ["not an ip", undefined],
  ];
  for (const [ip, want] of cases) assert.equal(m.bySource(ip)?.id, want, ip);
});

test("DoH token and DoT label", () => {
  assert.equal(m.byDohToken("tok-office-1")?.id, "office");
  assert.equal(m.byDohToken("nope"), undefined);
  assert.equal(m.byDotLabel("OFFICE")?.id, "office");
  assert.equal(m.byServerName("office.dot.example.net")?.id, "office");
  assert.equal(m.byServerName("other.dot.example.net"), undefined);
});

test("conflicts and bad networks are rejected", () => {
  assert.throws(
    () => new LocationMatcher([{ id: "a", name: "A", networks: ["10.0.0.0/33"] }]),
    /location "a"/,
  );
  assert.throws(
    () =>
      new LocationMatcher([
        { id: "a", name: "A", networks: ["10.0.0.0/8"] },
        { id: "b", name: "B", networks: ["10.0.0.0/8"] },
      ]),
    /already used/,
  );
});
