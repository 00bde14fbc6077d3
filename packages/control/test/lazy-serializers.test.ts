// Response serializers are compiled on first use (src/http/lazy-serializers.ts): answers are
// serialized on first use, and every route's serializers still compile when asked, so a broken
// response schema fails here rather than at some user's first request.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

describe("lazy response serializers", () => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp("pglite");
    await t.app.ready();
  });
  after(async () => t?.close());

  it("answers through the schema's serializer on first use", async () => {
    const r = await call(t.app, t.token, "GET", "/api/v1/whoami");
    assert.equal(r.statusCode, 200, r.body);
    const body = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(typeof body.accountId, "string", r.body);
    const missing = await call(t.app, t.token, "GET", "/api/v1/policies/pol_missing");
    assert.equal(missing.statusCode, 404);
    assert.equal(
      (JSON.parse(missing.body) as { error: { code: string } }).error.code,
      "GH_ERR_NOT_FOUND",
    );
  });

  it("compiles every route's serializers when asked, without an error", () => {
    const compiled = t.app.gatehouse.compileAllSerializers();
    // ~100 operations, each with a success and several error statuses.
    assert.ok(compiled > 200, `only ${compiled} serializers were pending`);
    assert.equal(t.app.gatehouse.compileAllSerializers(), 0, "all compiled the first time");
  });
});
