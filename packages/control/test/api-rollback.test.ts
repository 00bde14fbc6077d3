// Rollback (POST /config/rollback): an earlier version's content becomes current as a new,
// higher version that edges pull like any publish; audited; refused for unknown versions,
// malformed bodies, other accounts and bundles that no longer validate. PGlite and PostgreSQL.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { type ConfigBundle, verifyBundleHash } from "@gatehouse/contract";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

/** The bundle without what every version has of its own. */
function contentOf(b: ConfigBundle): Omit<ConfigBundle, "version" | "hash" | "createdAt"> {
  const { version: _v, hash: _h, createdAt: _c, ...rest } = b;
  return rest;
}

for (const b of BACKENDS) {
  describe(`config rollback (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let edge = "";
    let tokenId = "";
    const api = (method: string, url: string, body?: unknown, token = t.token) =>
      call(t.app, token, method as "GET", `/api/v1${url}`, body);
    const pull = (after: number) => call(t.app, edge, "GET", `/api/v1/edge/config?after=${after}`);

    before(async () => {
      t = await openTestApp(b.name, { longPollTimeoutMs: 2000 });
      tokenId = (await api("GET", "/whoami")).json().tokenId;
      const l = await api("POST", "/lists", { name: "ads", type: "domain", items: ["a.example"] });
      assert.equal(l.statusCode, 201, l.body);
      const p = await api("POST", "/policies", {
        name: "block ads",
        type: "dns",
        expression: "dns.fqdn in $ads",
        action: "block",
      });
      assert.equal(p.statusCode, 201, p.body);
      assert.equal((await api("POST", "/config/publish")).json().version, 1);
      // version 2: one more item, one more policy
      await api("POST", `/lists/${l.json().id}/items`, ["b.example"]);
      await api("POST", "/policies", {
        name: "more",
        type: "dns",
        expression: 'dns.fqdn == "more.example"',
        action: "block",
      });
      assert.equal((await api("POST", "/config/publish")).json().version, 2);
      const join = (await api("POST", "/edges/join-tokens")).json().joinToken;
      const e = await call(t.app, undefined, "POST", "/api/v1/edge/enroll", {
        joinToken: join,
        name: "edge-1",
      });
      assert.equal(e.statusCode, 201, e.body);
      edge = e.json().credential;
    });
    after(async () => t?.close());

    it("publishes the old content as the next version; a waiting edge gets it", async () => {
      const v1 = (await api("GET", "/config/versions/1")).json() as ConfigBundle;
      const waiting = pull(2);
      const deadline = Date.now() + 3000;
      while (t.app.gatehouse.notifier.waiting() === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(t.app.gatehouse.notifier.waiting(), 1);
      const r = await api("POST", "/config/rollback", { version: 1 });
      assert.equal(r.statusCode, 200, r.body);
      const res = r.json();
      assert.equal(res.version, 3);
      assert.equal(res.changed, true);
      assert.equal(res.rolledBackTo, 1);
      assert.deepEqual(res.summary, {
        policies: 1,
        lists: 1,
        listItems: 1,
        locations: 0,
        users: 0,
        devices: 0,
      });
      const woke = await waiting;
      assert.equal(woke.statusCode, 200, woke.body);
      const got = woke.json() as ConfigBundle;
      assert.equal(got.version, 3);
      assert.equal(woke.headers["x-gatehouse-config-version"], "3");
      assert.equal(got.hash, res.hash);
      assert.equal(await verifyBundleHash(got), true, "the new version is hashed as its own");
      assert.notEqual(got.hash, v1.hash);
      assert.deepEqual(contentOf(got), contentOf(v1));
      assert.deepEqual(got.lists[0]!.items, ["a.example"]);
      // an edge that asks later gets the same
      const later = await pull(2);
      assert.equal(later.statusCode, 200);
      assert.deepEqual(later.json(), got);
      const stored = (await api("GET", "/config/versions/3")).json();
      assert.deepEqual(stored, got);
    });

    it("the old and the new version do not differ; the versions list shows who rolled back", async () => {
      const d = await api("GET", "/config/versions/1/diff/3");
      assert.equal(d.statusCode, 200, d.body);
      const none = { added: [], removed: [], changed: [] };
      assert.deepEqual(d.json(), {
        from: 1,
        to: 3,
        policies: none,
        lists: { ...none, items: [] },
        locations: none,
        users: none,
        devices: none,
        resolverChanged: false,
        settingsChanged: false,
      });
      const back = (await api("GET", "/config/versions/2/diff/3")).json();
      assert.equal(back.policies.removed.length, 1);
      assert.deepEqual(back.lists.items[0].removed, 1);
      const top = (await api("GET", "/config/versions?limit=1")).json().items[0];
      assert.equal(top.version, 3);
      assert.equal(top.createdBy, `token:${tokenId}`);
    });

    it("records the rollback in the audit log with the actor and both versions", async () => {
      const items = (await api("GET", "/audit?action=rollback")).json().items;
      assert.equal(items.length, 1);
      const a = items[0];
      assert.equal(a.actor, `token:${tokenId}`);
      assert.equal(a.resource, "bundle");
      assert.equal(a.resourceId, "3");
      assert.equal(a.after.version, 3);
      assert.equal(a.after.rolledBackTo, 1);
      assert.equal(a.after.from, 2);
    });

    it("rolling back to what is already current stores nothing", async () => {
      for (const v of [1, 3]) {
        const r = await api("POST", "/config/rollback", { version: v });
        assert.equal(r.statusCode, 200, r.body);
        assert.equal(r.json().changed, false);
        assert.equal(r.json().version, 3);
        assert.equal(r.json().rolledBackTo, v);
      }
      assert.equal((await api("GET", "/config/versions")).json().items.length, 3);
      assert.equal((await api("GET", "/audit?action=rollback")).json().items.length, 1);
    });

    it("the next publish ships the account's configuration again (rollback leaves it as it was)", async () => {
      const r = await api("POST", "/config/publish");
      assert.equal(r.json().changed, true);
      assert.equal(r.json().version, 4);
      const d = (await api("GET", "/config/versions/2/diff/4")).json();
      assert.deepEqual(d.policies, { added: [], removed: [], changed: [] });
      assert.deepEqual(d.lists.items, []);
      const fwd = await api("POST", "/config/rollback", { version: 3 });
      assert.equal(fwd.json().version, 5, "any earlier version, not only the one before");
      assert.equal((await pull(4)).json().version, 5);
    });

    it("404 for an unknown version; 400 naming the field for a malformed body", async () => {
      const missing = await api("POST", "/config/rollback", { version: 99 });
      assert.equal(missing.statusCode, 404, missing.body);
      assert.equal(missing.json().error.code, "GH_ERR_NOT_FOUND");
      assert.match(missing.json().error.message, /version 99/);
      for (const body of [
        {},
        { version: 0 },
        { version: "one" },
        { version: null },
        { version: 1.5 },
        { version: 3_000_000_000 },
        { version: 1, force: true },
        [],
      ]) {
        const r = await api("POST", "/config/rollback", body);
        assert.equal(r.statusCode, 400, `${JSON.stringify(body)}: ${r.body}`);
        assert.equal(r.json().error.code, "GH_ERR_BAD_REQUEST");
        assert.ok(Array.isArray(r.json().error.details), r.body);
      }
      const bad = (await api("POST", "/config/rollback", { version: "x" })).json();
      assert.equal(bad.error.details[0].path, "/version");
      const none = await call(t.app, t.token, "POST", "/api/v1/config/rollback");
      assert.equal(none.statusCode, 400, none.body);
      assert.equal((await api("GET", "/config/versions")).json().items.length, 5, "nothing stored");
    });

    it("only admins may roll back; another account's versions are not found", async () => {
      const mk = async (role: string) =>
        (await api("POST", "/tokens", { name: `rb-${role}`, role })).json().token as string;
      for (const role of ["viewer", "editor"]) {
        const r = await api("POST", "/config/rollback", { version: 1 }, await mk(role));
        assert.equal(r.statusCode, 403, `${role}: ${r.body}`);
        assert.equal(r.json().error.code, "GH_ERR_FORBIDDEN");
      }
      const acc = await api("POST", "/accounts", { name: "other" });
      assert.equal(acc.statusCode, 201, acc.body);
      const other = acc.json().adminToken as string;
      const r = await api("POST", "/config/rollback", { version: 2 }, other);
      assert.equal(r.statusCode, 404, r.body);
      assert.equal((await api("GET", "/config/versions")).json().items.length, 5);
    });

    it("422 when the old bundle no longer passes validation; nothing is stored", async () => {
      const v1 = (await api("GET", "/config/versions/1")).json() as ConfigBundle;
      const broken = {
        ...v1,
        policies: v1.policies.map((p) => ({ ...p, expression: "dns.fqdn ==" })),
      };
      await t.app.gatehouse.db
        .updateTable("bundles")
        .set({ body: null, body_gz_b64: gzipSync(JSON.stringify(broken)).toString("base64") })
        .where("version", "=", 1)
        .execute();
      const r = await api("POST", "/config/rollback", { version: 1 });
      assert.equal(r.statusCode, 422, r.body);
      assert.equal(r.json().error.code, "GH_ERR_CONFIG_REJECTED");
      assert.ok(r.json().error.details.problems.length >= 1);
      assert.equal((await api("GET", "/config/versions")).json().items.length, 5);
    });
  });
}
