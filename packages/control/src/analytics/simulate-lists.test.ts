import assert from "node:assert/strict";
import { test } from "node:test";
import { buildLists } from "./simulate.ts";

test("simulation lists: a domain list's @@ exceptions form <name>.allow, as on the edge", () => {
  const warnings: string[] = [];
  const reg = buildLists(
    [
      {
        id: "l1",
        name: "ads",
        type: "domain",
        items: ["Ads.Example.", "@@||good.ads.example^"],
      },
    ],
    warnings,
  );
  assert.deepEqual(warnings, []);
  assert.ok(reg.bytes("ads")!.has("ads.example"));
  assert.ok(!reg.bytes("ads")!.has("good.ads.example"));
  assert.ok(!reg.bytes("ads")!.has("@@||good.ads.example^"));
  assert.ok(reg.bytes("ads.allow")!.has("good.ads.example"));
});
