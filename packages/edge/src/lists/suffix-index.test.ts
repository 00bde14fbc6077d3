import assert from "node:assert/strict";
import { test } from "node:test";
import type { List } from "@gatehouse/contract";
import { domainsOf } from "@gatehouse/contract/schemes";
import type { DomainList } from "./domain-list.ts";
import { buildListSet } from "./list-set.ts";

const lists: List[] = [
  { id: "a", name: "a", type: "domain", items: ["ads.example", "shared.example", "x.y.z.test"] },
  {
    id: "b",
    name: "b",
    type: "domain",
    format: "adblock",
    items: ["||shared.example^", "||tracker.test^", "@@||ok.tracker.test^"],
  },
  { id: "c", name: "c", type: "domain", items: ["example"] },
  // A rule a hash cannot answer: not filed, answers by itself.
  { id: "r", name: "r", type: "domain", format: "adblock", items: ["/^ads[0-9]+\\./"] },
  // Its lists' hashes only: no other list shares them.
  { id: "d", name: "d", type: "domain", items: [] },
];

const names = [
  "ads.example",
  "sub.ads.example",
  "shared.example",
  "a.b.shared.example",
  "example",
  "other.example",
  "tracker.test",
  "deep.tracker.test",
  "ok.tracker.test",
  "a.ok.tracker.test",
  "x.y.z.test",
  "y.z.test",
  "ads12.net",
  "nothing.invalid",
];

test("the suffix index files the small plain lists and changes no verdict", () => {
  const set = buildListSet(lists);
  const index = set.query.index;
  assert.ok(index, "two or more plain lists are filed");
  const filed = (n: string) => (set.domains(n) as DomainList).indexSlot >= 0;
  assert.deepEqual(
    ["a", "b", "c", "r", "d"].map(filed),
    [true, true, true, false, false],
    "plain lists with names are filed, a list with rules or none is not",
  );
  for (const name of names) {
    const chain = domainsOf(name);
    for (const l of ["a", "b", "c", "r", "d"]) {
      const list = set.domains(l) as DomainList;
      assert.equal(
        list.hasAny(chain),
        list.hasOrParent(name),
        `$${l} on ${name}: the index agrees with the list's own verdict`,
      );
      // An array that is not a name chain is read element by element, as without the index.
      const loose = [chain[chain.length - 1] ?? "", name];
      assert.equal(
        list.hasAny(loose),
        loose.some((v) => list.has(v)),
        `$${l} on ${loose.join(",")}`,
      );
    }
  }
  // The same array asked again after another name: looked up afresh.
  const b = set.domains("b") as DomainList;
  const hit = domainsOf("deep.tracker.test");
  const miss = domainsOf("deep.other.test");
  assert.equal(b.hasAny(hit), true);
  assert.equal(b.hasAny(miss), false);
  assert.equal(b.hasAny(hit), true);
});

test("one plain list, or lists over the size bound, are not indexed", () => {
  assert.equal(buildListSet([lists[0] as List]).query.index, undefined);
  const big: List = {
    id: "big",
    name: "big",
    type: "domain",
    items: Array.from({ length: 70_000 }, (_, i) => `n${i}.big.example`),
  };
  const set = buildListSet([big, lists[0] as List, lists[2] as List]);
  assert.ok(set.query.index);
  assert.equal((set.domains("big") as DomainList).indexSlot, -1);
  assert.equal((set.domains("big") as DomainList).hasAny(domainsOf("x.n5.big.example")), true);
});
