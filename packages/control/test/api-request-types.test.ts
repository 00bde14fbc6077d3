// Route handlers take their request types from the route's TypeBox schemas (the TypeBox type
// provider), so what a handler reads is what validation checked. A hand-written cast of
// `req.body`, `req.params` or `req.query` would let the two drift apart unseen: none may exist
// in control's routes.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

const SRC = join(import.meta.dirname, "..", "src");
const ROUTE_FILES = [
  ...readdirSync(join(SRC, "routes")).map((f) => join(SRC, "routes", f)),
  join(SRC, "analytics", "routes.ts"),
  join(SRC, "analytics", "ingest-route.ts"),
].filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));

describe("request types come from the schemas", () => {
  it("no route casts req.body, req.params or req.query by hand", () => {
    const casts: string[] = [];
    for (const file of ROUTE_FILES) {
      const lines = readFileSync(file, "utf8").split("\n");
      lines.forEach((line, i) => {
        // `req.body as X`, `(req.body ?? {}) as X`, `(req.params as X).id`; the bulk routes'
        // raw body stream (no schema describes a stream) is the one exception.
        if (
          /\breq(uest)?\.(body|params|query)\b[^;]*?\)? as (?!AsyncIterable<Uint8Array>)/.test(line)
        )
          casts.push(`${file.slice(SRC.length + 1)}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(casts, []);
  });

  it("every route plugin registers its routes through the TypeBox type provider", () => {
    // The log ingest route takes a raw NDJSON buffer that no schema describes.
    for (const file of ROUTE_FILES.filter((f) => !f.endsWith("ingest-route.ts"))) {
      const text = readFileSync(file, "utf8");
      if (!/\b(app|scope)\.(get|post|put|patch|delete)(<[^(]*>)?\(/.test(text)) continue;
      assert.ok(/withTypeProvider<TypeBoxTypeProvider>\(\)/.test(text), file);
      assert.ok(
        !/\.(get|post|put|patch|delete)<\{/.test(text),
        `${file}: hand-written route generics`,
      );
    }
  });
});
