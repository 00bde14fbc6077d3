// The query log's one-click Block and Allow (POST /quick-rules, /quick-rules/remove): managed
// lists and policies created on first use and placed ahead of every other DNS policy, the
// change published at once (the bundle has it), moved between the lists, undone, audited.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

interface Bundle {
  version: number;
  lists: { name: string; items?: string[] }[];
  policies: { name: string; precedence: number; expression: string; action: string }[];
}

for (const b of BACKENDS) {
  describe(`quick Block and Allow (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    const api = (method: string, url: string, body?: unknown, token = t.token) =>
      call(t.app, token, method as "GET", `/api/v1${url}`, body);
    const latest = async (): Promise<Bundle> => {
      const v = (await api("GET", "/config/versions?limit=1")).json().items[0].version;
      return (await api("GET", `/config/versions/${v}`)).json();
    };
    const itemsOf = (bundle: Bundle, name: string) =>
      bundle.lists.find((l) => l.name === name)?.items;

    before(async () => {
      t = await openTestApp(b.name);
      await api("POST", "/lists", { name: "ads", type: "domain", items: ["x.example"] });
      // A policy at precedence 0: the managed ones still have to come first.
      const p = await api("POST", "/policies", {
        name: "ads",
        type: "dns",
        precedence: 0,
        expression: "any(dns.domains[*] in $ads)",
        action: "block",
      });
      assert.equal(p.statusCode, 201, p.body);
      await api("POST", "/config/publish");
    });
    after(async () => t?.close());

    it("Block adds the name to $blocked_by_admin, whose policy runs first, and publishes it", async () => {
      const before = (await latest()).version;
      const r = await api("POST", "/quick-rules", {
        domain: "Ads.Tracker.Example.",
        action: "block",
      });
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json();
      assert.equal(body.domain, "ads.tracker.example");
      assert.equal(body.changed, true);
      assert.equal(body.removedFrom, null);
      assert.equal(body.publishedVersion, before + 1);
      const bundle = await latest();
      assert.equal(bundle.version, body.publishedVersion);
      assert.deepEqual(itemsOf(bundle, "blocked_by_admin"), ["ads.tracker.example"]);
      const dns = bundle.policies;
      assert.equal(dns[0]!.name, "Blocked by admin", "first in precedence order");
      assert.equal(dns[0]!.expression, "any(dns.domains[*] in $blocked_by_admin)");
      assert.equal(dns[0]!.action, "block");
      assert.ok(dns[0]!.precedence < dns.find((p) => p.name === "ads")!.precedence);

      const again = (
        await api("POST", "/quick-rules", { domain: "ads.tracker.example", action: "block" })
      ).json();
      assert.equal(again.changed, false);
    });

    it("Allow moves a blocked name to $allowed_by_admin, whose policy runs before Blocked by admin", async () => {
      const r = (
        await api("POST", "/quick-rules", { domain: "ads.tracker.example", action: "allow" })
      ).json();
      assert.equal(r.changed, true);
      assert.equal(r.removedFrom, "block");
      const bundle = await latest();
      assert.deepEqual(itemsOf(bundle, "allowed_by_admin"), ["ads.tracker.example"]);
      assert.deepEqual(itemsOf(bundle, "blocked_by_admin"), []);
      assert.deepEqual(
        bundle.policies.slice(0, 3).map((p) => [p.name, p.action]),
        [
          ["Allowed by admin", "allow"],
          ["Blocked by admin", "block"],
          ["ads", "block"],
        ],
      );
      const precedences = bundle.policies.map((p) => p.precedence);
      assert.deepEqual(
        precedences,
        [...precedences].sort((a, b) => a - b),
      );
    });

    it("remove undoes it and publishes; a name not in the list changes nothing", async () => {
      const r = await api("POST", "/quick-rules/remove", {
        domain: "ads.tracker.example",
        action: "allow",
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().changed, true);
      assert.deepEqual(itemsOf(await latest(), "allowed_by_admin"), []);
      const none = (
        await api("POST", "/quick-rules/remove", { domain: "nope.example", action: "block" })
      ).json();
      assert.equal(none.changed, false);
    });

    it("each managed list names the policy that uses it; an unused list names none", async () => {
      const lists = (await api("GET", "/lists")).json().items as { id: string; name: string }[];
      const usersOf = async (name: string) =>
        (await api("GET", `/lists/${lists.find((l) => l.name === name)!.id}/policies`)).json()
          .policies as { name: string; type: string; enabled: boolean }[];
      assert.deepEqual(
        (await usersOf("blocked_by_admin")).map((p) => [p.name, p.type, p.enabled]),
        [["Blocked by admin", "dns", true]],
      );
      const unused = await api("POST", "/lists", { name: "unused", type: "domain" });
      assert.equal(unused.statusCode, 201, unused.body);
      assert.equal((await api("GET", `/lists/${unused.json().id}`)).json().subscribed, false);
      assert.deepEqual((await api("GET", `/lists/${unused.json().id}/policies`)).json(), {
        policies: [],
      });
    });

    it("each change is in the audit log with who made it", async () => {
      const items = (await api("GET", "/audit?resource=list&limit=100")).json().items as {
        action: string;
        actor: string;
        after: { domain?: string; removedFrom?: string };
      }[];
      const quick = items.filter((i) => i.action.startsWith("quick."));
      assert.deepEqual(
        quick.map((i) => [i.action, i.after.domain, i.after.removedFrom]),
        [
          ["quick.unallow", "ads.tracker.example", undefined],
          ["quick.allow", "ads.tracker.example", "blocked_by_admin"],
          ["quick.block", "ads.tracker.example", undefined],
        ],
      );
      assert.match(quick[0]!.actor, /^token:/);
    });

    it("refuses a name that is not a domain (422) and a viewer (403)", async () => {
      const bad = await api("POST", "/quick-rules", { domain: "*.wild.example", action: "block" });
      assert.equal(bad.statusCode, 422, bad.body);
      assert.match(bad.json().error.message, /wildcards are not list items/);
      const viewer = (await api("POST", "/tokens", { name: "v", role: "viewer" })).json().token;
      const r = await api("POST", "/quick-rules", { domain: "a.example", action: "block" }, viewer);
      assert.equal(r.statusCode, 403);
    });

    it("a list of that name of another type is a clear 409", async () => {
      const other = await openTestApp(b.name);
      try {
        await call(other.app, other.token, "POST", "/api/v1/lists", {
          name: "allowed_by_admin",
          type: "ip",
        });
        const r = await call(other.app, other.token, "POST", "/api/v1/quick-rules", {
          domain: "a.example",
          action: "allow",
        });
        assert.equal(r.statusCode, 409, r.body);
        assert.match(r.json().error.message, /\$allowed_by_admin exists as a list of type ip/);
        const removed = await call(other.app, other.token, "POST", "/api/v1/quick-rules/remove", {
          domain: "a.example",
          action: "block",
        });
        assert.equal(removed.statusCode, 404, removed.body);
      } finally {
        await other.close();
      }
    });
  });
}
