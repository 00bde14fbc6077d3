// The generated shape checks (src/shape-checks.ts, written by `node packages/contract/src/generate-shape-checks.ts`)
// are TypeBox's compiled checks of today's schemas, and edge-checks.ts answers as validate.ts and
// edge-config.ts do: the same problems for a value that fails, none for one that fits.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  checkBundle,
  checkBundleShape,
  checkEdgeConfigFileShape,
  checkEdgeLocalShape,
  LIST_ITEM_MAX_LENGTH,
  LIST_MAX_ITEMS,
  List,
  listItemProblem,
} from "@gatehouse/contract";
import * as edge from "@gatehouse/contract/edge-checks";
import fc from "fast-check";
import { SHAPE_CHECKS_FILE, shapeChecksSource } from "../src/generate-shape-checks.ts";
import {
  isConfigBundle,
  isEdgeConfigFile,
  isEdgeLocalSettings,
  isListItem,
} from "../src/shape-checks.ts";
import { bundle as bundle0 } from "./bundle-fixture.ts";

test("src/shape-checks.ts is what generate-shape-checks.ts writes from the schemas now", () => {
  assert.equal(
    readFileSync(SHAPE_CHECKS_FILE, "utf8"),
    shapeChecksSource(),
    "a schema changed: run `node packages/contract/src/generate-shape-checks.ts`",
  );
});

test("a list item is a string of at most LIST_ITEM_MAX_LENGTH or an integer, LIST_MAX_ITEMS of them", () => {
  // The edge checks packed items by their length alone (edge snapshot.ts) and counts them
  // against LIST_MAX_ITEMS: the schema must ask no more than that of them.
  const items = List.properties.items;
  assert.equal(items.maxItems, LIST_MAX_ITEMS);
  assert.deepEqual(JSON.parse(JSON.stringify(items.items.anyOf)), [
    { type: "string", maxLength: LIST_ITEM_MAX_LENGTH },
    { type: "integer" },
  ]);
});

const bundle = bundle0({
  lists: [{ id: "l1", name: "ads", type: "domain", items: ["ads.example", 7] }],
});

/** Values near a valid bundle: a member replaced, dropped or added at some depth. */
const nearBundles = fc
  .tuple(
    fc.constantFrom(
      [],
      ["version"],
      ["schemaVersion"],
      ["resolver", "upstreams", 0, "address"],
      ["locations", 0, "networks"],
      ["lists", 0, "items", 1],
      ["lists", 0, "type"],
      ["policies", 0, "precedence"],
      ["policies", 0, "action"],
      ["hash"],
      ["pauses"],
    ),
    fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 2000 })),
  )
  .map(([path, v]) => {
    const b = structuredClone(bundle) as unknown as Record<string | number, unknown>;
    if (path.length === 0) return v;
    let at = b;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
    const last = path[path.length - 1] as string | number;
    if (v === undefined) delete at[last];
    else at[last] = v;
    return b;
  });

test("each generated check agrees with TypeBox's compiled check of its schema", () => {
  fc.assert(
    fc.property(nearBundles, (v) => {
      assert.equal(isConfigBundle(v), checkBundleShape(v).length === 0);
      assert.equal(isEdgeConfigFile(v), checkEdgeConfigFileShape(v).length === 0);
      assert.equal(isEdgeLocalSettings(v), checkEdgeLocalShape(v).length === 0);
    }),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.string({ maxLength: 1100 })), (v) => {
      assert.equal(isListItem(v), listItemProblem(v) === undefined);
    }),
    { numRuns: 400 },
  );
});

test("edge-checks gives the problems validate.ts and edge-config.ts give", () => {
  fc.assert(
    fc.property(nearBundles, (v) => {
      assert.deepEqual(edge.checkBundleShape(v), checkBundleShape(v));
      assert.deepEqual(edge.checkBundleShape(v, 2), checkBundleShape(v, 2));
      assert.deepEqual(edge.checkBundle(v), checkBundle(v));
      assert.deepEqual(edge.checkEdgeConfigFileShape(v), checkEdgeConfigFileShape(v));
      assert.deepEqual(edge.checkEdgeLocalShape(v), checkEdgeLocalShape(v));
    }),
    { numRuns: 300 },
  );
  assert.deepEqual(edge.checkBundle(bundle), []);
  const dup = { ...bundle, policies: [...bundle.policies, ...bundle.policies] };
  assert.ok(edge.checkBundle(dup).length > 0, "a duplicate policy id is refused");
  assert.deepEqual(edge.checkBundle(dup), checkBundle(dup));
  assert.equal(
    edge.listItemProblem("x".repeat(LIST_ITEM_MAX_LENGTH + 1)),
    listItemProblem("x".repeat(LIST_ITEM_MAX_LENGTH + 1)),
  );
  assert.equal(edge.listItemProblem(1.5), listItemProblem(1.5));
  assert.equal(edge.listItemProblem("ok.example"), undefined);
});
