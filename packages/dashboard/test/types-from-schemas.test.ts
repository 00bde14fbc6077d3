// The dashboard's API types are the types of the schemas control answers with (the contract's
// api.ts, which control's routes declare as their response schemas): none is written out by
// hand, so an answer the server changes cannot drift from what the dashboard expects unseen
// (`npm run typecheck` checks the dashboard against them).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as contract from "@gatehouse/contract";

const TYPES = readFileSync(join(import.meta.dirname, "..", "src", "types.ts"), "utf8");

describe("dashboard types come from the API's schemas", () => {
  it("declares no API object of its own", () => {
    assert.doesNotMatch(TYPES, /^export interface /m);
    assert.doesNotMatch(TYPES, /^export type \w+(<\w+>)? = \{/m);
  });

  it("aliases every API object to a schema of the contract", () => {
    const imported = new Map<string, string>();
    const block = /import type \{([^}]*)\} from "@gatehouse\/contract";/.exec(TYPES);
    assert.ok(block, "types.ts imports the contract's types");
    for (const part of block[1]!.split(",")) {
      const m = /^\s*(\w+)(?:\s+as\s+(\w+))?\s*$/.exec(part);
      if (m) imported.set(m[2] ?? m[1]!, m[1]!);
    }
    const aliases = [...TYPES.matchAll(/^export type (\w+)(?:<\w+>)? = (\w+)/gm)];
    assert.ok(aliases.length >= 15, `${aliases.length} aliases`);
    for (const [, name, target] of aliases) {
      const schema = imported.get(target!);
      assert.ok(schema, `${name} = ${target}: not a contract type`);
      // A schema (runtime value) of that name: the type is Static<typeof schema>.
      assert.ok(
        schema in contract || schema === "LogAction",
        `${name}: the contract has no schema ${schema}`,
      );
    }
  });
});
