import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS, call, openTestApp, type TestApp } from "./helpers.ts";

for (const b of BACKENDS) {
  describe(`smoke (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(b.name);
    });
    after(async () => t?.close());
    it("creates and reads a policy", async () => {
      const r = await call(t.app, t.token, "POST", "/api/v1/policies", {
        name: "block ads",
        type: "dns",
        expression: 'dns.fqdn == "ads.example.com"',
        action: "block",
      });
      assert.equal(r.statusCode, 201, r.body);
      const g = await call(t.app, t.token, "GET", "/api/v1/policies");
      assert.equal(g.statusCode, 200, g.body);
      assert.equal(g.json().items.length, 1);
      const bad = await call(t.app, t.token, "POST", "/api/v1/policies", {
        name: "bad",
        type: "dns",
        expression: "dns.fqdn == ",
        action: "block",
      });
      assert.equal(bad.statusCode, 422, bad.body);
      console.log(bad.body);
    });
  });
}
