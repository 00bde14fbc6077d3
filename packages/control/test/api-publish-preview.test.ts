// GET /config/preview: the next publish against the live bundle in names (policies, lists and
// the items they gain and lose), the policy tests, and the draft replayed over the last 24
// hours of the account's logged traffic (a real in-memory DuckDB query log).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DuckDbStore } from "../src/analytics/duckdb-store.ts";
import { dns } from "./analytics-conformance.ts";
import { call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

describe("publish preview", () => {
  let t: TestApp;
  let store: DuckDbStore;
  const api = (method: string, url: string, body?: unknown) =>
    call(t.app, t.token, method as "GET", `/api/v1${url}`, body);
  before(async () => {
    store = await DuckDbStore.open({ path: ":memory:", threads: 1 });
    t = await openTestApp("pglite", { analytics: store });
    const now = Date.now();
    const account = t.app.gatehouse.systemAccountId;
    // The last hours: 5 queries for games.example from two clients, 3 for news.example.
    const records = [
      ...[0, 1, 2, 3, 4].map((i) =>
        dns(i, {
          ts: now - 3600_000 + i,
          id: `g${i}`,
          qname: "games.example",
          client: `10.0.0.${i % 2}`,
        }),
      ),
      ...[0, 1, 2].map((i) =>
        dns(i, { ts: now - 7200_000 + i, id: `n${i}`, qname: "news.example", client: "10.0.0.9" }),
      ),
    ];
    await store.ingest("seed", records, account);
    assert.equal(
      (await api("POST", "/lists", { name: "ads", type: "domain", items: ["a.example"] }))
        .statusCode,
      201,
    );
    assert.equal((await api("POST", "/config/publish")).statusCode, 200);
  });
  after(async () => {
    await t?.close();
    await store?.close();
  });

  it("names what changes and what the change would have blocked yesterday", async () => {
    const list = (await api("GET", "/lists")).json().items[0];
    const added = await call(
      t.app,
      t.token,
      "POST",
      `/api/v1/lists/${list.id}/items`,
      "b.example\nc.example\n",
      { "content-type": "text/plain" },
    );
    assert.equal(added.statusCode, 200, added.body);
    const p = await api("POST", "/policies", {
      name: "Block games",
      type: "dns",
      expression: 'dns.fqdn == "games.example"',
      action: "block",
    });
    assert.equal(p.statusCode, 201, p.body);
    const r = await api("GET", "/config/preview");
    assert.equal(r.statusCode, 200, r.body);
    const v = r.json();
    assert.equal(v.ok, true);
    assert.equal(v.liveVersion, 1);
    assert.deepEqual(v.policies, { added: ["Block games"], removed: [], changed: [] });
    assert.deepEqual(v.lists.changed, ["ads"]);
    assert.deepEqual(v.lists.items, [
      {
        name: "ads",
        added: 2,
        removed: 0,
        addedSample: ["b.example", "c.example"],
        removedSample: [],
      },
    ]);
    assert.equal(v.simulation.newlyBlocked.count, 5);
    assert.deepEqual(v.simulation.newlyBlocked.byDomain, [{ key: "games.example", count: 5 }]);
    assert.deepEqual(v.simulation.newlyBlocked.byClient.map((c: { key: string }) => c.key).sort(), [
      "10.0.0.0",
      "10.0.0.1",
    ]);
    assert.equal(v.simulation.newlyAllowed.count, 0);
    assert.equal(v.tests.failed, 0);
    // Nothing was published by looking.
    assert.equal((await api("GET", "/config/versions")).json().items.length, 1);
  });
});
