// Request validators and response serializers are compiled on first use
// (src/http/lazy-compilers.ts): a request is validated (a bad body refused with the field named,
// a query parameter coerced to its type) and an answer serialized on first use, and every route's
// schemas still compile when asked, so a broken schema fails here rather than at some user's
// first request.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

describe("schemas compiled on first use", () => {
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

  it("validates and coerces requests on first use", async () => {
    const limited = await call(t.app, t.token, "GET", "/api/v1/policies?limit=1");
    assert.equal(limited.statusCode, 200, limited.body);
    const outOfRange = await call(t.app, t.token, "GET", "/api/v1/policies?limit=100000");
    assert.equal(outOfRange.statusCode, 400, outOfRange.body);
    assert.match(outOfRange.body, /limit/);
    const notANumber = await call(t.app, t.token, "GET", "/api/v1/policies?limit=many");
    assert.equal(notANumber.statusCode, 400, notANumber.body);
    const badBody = await call(t.app, t.token, "POST", "/api/v1/policies", { name: 7 });
    assert.equal(badBody.statusCode, 400, badBody.body);
  });

  it("compiles every route's validators and serializers when asked, without an error", () => {
    const compiled = t.app.gatehouse.compileAllSchemas();
    // ~100 operations, each with a success and several error statuses.
    assert.ok(compiled > 200, `only ${compiled} schemas were pending`);
    assert.equal(t.app.gatehouse.compileAllSchemas(), 0, "all compiled the first time");
  });
});
