// Security headers on the API and on the docs page: nosniff and no Referer everywhere, no caching
// of any answer to a guarded route (401s included), and a CSP on the Swagger UI page and its
// files that allows only this origin and no inline script.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DOCS_CSP } from "../src/http/security-headers.ts";
import { call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

describe("security headers on the API and the docs page", () => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp("pglite");
  });
  after(async () => t?.close());

  const common = (r: { headers: Record<string, unknown> }, what: string) => {
    assert.equal(r.headers["x-content-type-options"], "nosniff", what);
    assert.equal(r.headers["referrer-policy"], "no-referrer", what);
  };

  it("authenticated answers, successes and refusals alike, are never cached", async () => {
    for (const [token, method, url, status] of [
      [t.token, "GET", "/api/v1/policies", 200],
      [t.token, "GET", "/api/v1/whoami", 200],
      [t.token, "POST", "/api/v1/policies", 400],
      [t.token, "GET", "/api/v1/policies/pol_missing", 404],
      [undefined, "GET", "/api/v1/policies", 401],
      ["ght_nope_nope", "GET", "/api/v1/config/export", 401],
    ] as const) {
      const r = await call(t.app, token, method, url, method === "POST" ? {} : undefined);
      assert.equal(r.statusCode, status, `${method} ${url}: ${r.body}`);
      assert.equal(r.headers["cache-control"], "no-store", `${method} ${url}`);
      common(r, `${method} ${url}`);
    }
  });

  it("public API answers carry nosniff and no-referrer too", async () => {
    for (const url of ["/api/v1/health", "/api/v1/openapi.json", "/api/v1/nothing-here"]) {
      const r = await call(t.app, undefined, "GET", url);
      common(r, url);
    }
  });

  it("the docs page and its files carry the docs CSP", async () => {
    assert.match(DOCS_CSP, /default-src 'none'/);
    assert.match(DOCS_CSP, /script-src 'self'(;|$)/);
    assert.doesNotMatch(DOCS_CSP, /unsafe-inline|unsafe-eval|https:/);
    assert.match(DOCS_CSP, /frame-ancestors 'none'/);
    for (const url of [
      "/api/v1/docs/",
      "/api/v1/docs/static/swagger-initializer.js",
      "/api/v1/docs/static/swagger-ui.css",
    ]) {
      const r = await call(t.app, undefined, "GET", url);
      assert.equal(r.statusCode, 200, url);
      assert.equal(r.headers["content-security-policy"], DOCS_CSP, url);
      common(r, url);
    }
    // The page loads only scripts of its own (no inline script a CSP without 'unsafe-inline'
    // would block).
    const page = await call(t.app, undefined, "GET", "/api/v1/docs/");
    assert.doesNotMatch(page.body, /<script(?![^>]*\ssrc=)[^>]*>/);
  });
});
