// Control serves the built dashboard at `/`: files with their media types and caching, the SPA
// fallback for client-side routes, 404 for missing assets, a Content-Security-Policy, nothing
// outside dist, and the API left exactly as it was (JSON 404s, bearer tokens still required).

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DASHBOARD_CSP } from "../src/http/dashboard.ts";
import { call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

const INDEX =
  '<!doctype html><html><head><script type="module" src="/assets/index-AbC123.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = 'console.log("dashboard");';
const STYLE = "body { margin: 0 }";
const ICON = '<svg xmlns="http://www.w3.org/2000/svg"/>';

function fakeDist(): { root: string; dist: string } {
  const root = mkdtempSync(join(tmpdir(), "gh-dashboard-"));
  const dist = join(root, "dist");
  mkdirSync(join(dist, "assets"), { recursive: true });
  writeFileSync(join(dist, "index.html"), INDEX);
  writeFileSync(join(dist, "assets", "index-AbC123.js"), SCRIPT);
  writeFileSync(join(dist, "assets", "index-DeF456.css"), STYLE);
  writeFileSync(join(dist, "favicon.svg"), ICON);
  // Beside dist, never served.
  writeFileSync(join(root, "secret.txt"), "not for the web");
  return { root, dist };
}

describe("dashboard files served by control", () => {
  let t: TestApp;
  let dir: { root: string; dist: string };
  before(async () => {
    dir = fakeDist();
    t = await openTestApp("pglite", { dashboardDir: dir.dist });
  });
  after(async () => {
    await t?.close();
    rmSync(dir.root, { recursive: true, force: true });
  });
  const get = (url: string, method: "GET" | "HEAD" = "GET") => t.app.inject({ method, url });

  it("serves index.html at / with a CSP and no-cache", async () => {
    const r = await get("/");
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(r.headers["cache-control"], "no-cache");
    assert.equal(r.headers["content-security-policy"], DASHBOARD_CSP);
    assert.match(DASHBOARD_CSP, /script-src 'self'(;|$)/);
    assert.match(DASHBOARD_CSP, /frame-ancestors 'none'/);
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    assert.equal(r.body, INDEX);
    const h = await get("/", "HEAD");
    assert.equal(h.statusCode, 200);
    assert.equal(h.headers["content-type"], "text/html; charset=utf-8");
  });

  it("revalidates with a weak ETag: 304 when unchanged, the file when it changed", async () => {
    const first = await get("/");
    const etag = String(first.headers.etag);
    assert.match(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    const again = await t.app.inject({
      method: "GET",
      url: "/",
      headers: { "if-none-match": etag },
    });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, "");
    assert.equal(again.headers.etag, etag);
    assert.equal(again.headers["content-security-policy"], DASHBOARD_CSP);
    const other = await t.app.inject({
      method: "GET",
      url: "/policies",
      headers: { "if-none-match": '"something-else", W/"0-0"' },
    });
    assert.equal(other.statusCode, 200);
    assert.equal(other.body, INDEX);
    // A rebuilt index.html (another size) is sent again.
    writeFileSync(join(dir.dist, "index.html"), `${INDEX}\n`);
    try {
      const changed = await t.app.inject({
        method: "GET",
        url: "/",
        headers: { "if-none-match": etag },
      });
      assert.equal(changed.statusCode, 200);
      assert.notEqual(changed.headers.etag, etag);
    } finally {
      writeFileSync(join(dir.dist, "index.html"), INDEX);
    }
  });

  it("answers client-side routes with index.html (SPA fallback)", async () => {
    for (const path of [
      "/policies",
      "/lists/lst_123",
      "/clients/192.168.1.23",
      "/clients/2001:db8::1",
      "/logs?action=block",
      "/edges/",
      "/index.html",
    ]) {
      const r = await get(path);
      assert.equal(r.statusCode, 200, path);
      assert.equal(r.headers["content-type"], "text/html; charset=utf-8", path);
      assert.equal(r.body, INDEX, path);
    }
  });

  it("serves assets with their media types; hashed ones are immutable", async () => {
    const js = await get("/assets/index-AbC123.js");
    assert.equal(js.statusCode, 200);
    assert.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(js.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal(js.body, SCRIPT);
    const css = await get("/assets/index-DeF456.css");
    assert.equal(css.headers["content-type"], "text/css; charset=utf-8");
    assert.equal(css.body, STYLE);
    const icon = await get("/favicon.svg");
    assert.equal(icon.statusCode, 200);
    assert.equal(icon.headers["content-type"], "image/svg+xml");
    assert.equal(icon.headers["cache-control"], "no-cache");
  });

  it("404 (plain text, not the app) for missing assets and files", async () => {
    for (const path of ["/assets/index-old999.js", "/assets/nothing", "/missing.png", "/a/b.css"]) {
      const r = await get(path);
      assert.equal(r.statusCode, 404, path);
      assert.equal(r.headers["content-type"], "text/plain; charset=utf-8", path);
      assert.doesNotMatch(r.body, /<html/, path);
    }
  });

  it("never serves a file outside dist", async () => {
    for (const path of [
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/..%5csecret.txt",
      "/%00index.html",
      "/%E0%A4%A",
      "/.hidden",
    ]) {
      const r = await get(path);
      assert.ok(r.statusCode === 404 || r.statusCode === 400, `${path}: ${r.statusCode}`);
      assert.doesNotMatch(r.body, /not for the web/, path);
    }
  });

  it("leaves the API alone: JSON 404s under /api, tokens still required", async () => {
    for (const path of ["/api/v1/nope", "/api/v1/policies/x/y/z", "/api", "/api/"]) {
      const r = await get(path);
      assert.equal(r.statusCode, 404, path);
      assert.equal(r.json().error.code, "GH_ERR_NOT_FOUND", path);
    }
    assert.equal((await get("/api/v1/health")).json().ok, true);
    const anon = await get("/api/v1/policies");
    assert.equal(anon.statusCode, 401);
    assert.equal(anon.json().error.code, "GH_ERR_UNAUTHENTICATED");
    assert.equal((await call(t.app, t.token, "GET", "/api/v1/policies")).statusCode, 200);
    assert.equal((await get("/metrics")).statusCode, 401);
    const docs = await get("/api/v1/docs");
    assert.ok(docs.statusCode < 400, `docs: ${docs.statusCode}`);
    // Only GET (and HEAD) reach the files.
    const post = await t.app.inject({ method: "POST", url: "/", payload: {} });
    assert.equal(post.statusCode, 404);
    assert.equal(post.json().error.code, "GH_ERR_NOT_FOUND");
  });
});

describe("dashboard not built", () => {
  let t: TestApp;
  let root: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), "gh-dashboard-missing-"));
    t = await openTestApp("pglite", { dashboardDir: join(root, "dist") });
  });
  after(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("/ says how to build it; the API still works", async () => {
    for (const path of ["/", "/policies"]) {
      const r = await t.app.inject({ method: "GET", url: path });
      assert.equal(r.statusCode, 503, path);
      assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
      assert.match(r.body, /npm run build -w packages\/dashboard/);
    }
    assert.equal((await t.app.inject({ method: "GET", url: "/api/v1/health" })).statusCode, 200);
  });
});
