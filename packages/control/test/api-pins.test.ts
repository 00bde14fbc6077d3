// Staged rollout (PUT/DELETE /edges/:id/pin): a pinned edge gets its version, the others the
// latest; a pin or unpin wakes that edge's poll only; audited; refused for unknown edges and
// versions, decommissioned edges, older versions than the edge runs, other roles and accounts.
// PGlite and PostgreSQL.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildApp } from "../src/app.ts";
import { BACKENDS, call, closeSharedPglite, openTestApp, PG_URL, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

for (const b of BACKENDS) {
  describe(`edge pins (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    const edges: Record<"a" | "b", { id: string; credential: string }> = {
      a: { id: "", credential: "" },
      b: { id: "", credential: "" },
    };
    const api = (method: string, url: string, body?: unknown, token = t.token) =>
      call(t.app, token, method as "GET", `/api/v1${url}`, body);
    const pull = (e: "a" | "b", after: number) =>
      call(t.app, edges[e].credential, "GET", `/api/v1/edge/config?after=${after}`);
    const publish = async () => (await api("POST", "/config/publish", { force: true })).json();
    const pin = (e: "a" | "b", version: number, token?: string) =>
      api("PUT", `/edges/${edges[e].id}/pin`, { version }, token);
    const unpin = (e: "a" | "b", token?: string) =>
      api("DELETE", `/edges/${edges[e].id}/pin`, undefined, token);
    const waitingIs = async (n: number) => {
      const deadline = Date.now() + 3000;
      while (t.app.gatehouse.notifier.waiting() !== n && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(t.app.gatehouse.notifier.waiting(), n);
    };
    const heartbeat = (e: "a" | "b", configVersion: number) =>
      call(t.app, edges[e].credential, "POST", "/api/v1/edge/heartbeat", {
        version: "0.1.0",
        configVersion,
        uptimeSeconds: 1,
      });

    before(async () => {
      t = await openTestApp(b.name, { longPollTimeoutMs: 4000 });
      const p = await api("POST", "/policies", {
        name: "p",
        type: "dns",
        expression: 'dns.fqdn == "x.example"',
        action: "block",
      });
      assert.equal(p.statusCode, 201, p.body);
      assert.equal((await publish()).version, 1);
      for (const e of ["a", "b"] as const) {
        const join = (await api("POST", "/edges/join-tokens")).json().joinToken;
        const r = await call(t.app, undefined, "POST", "/api/v1/edge/enroll", {
          joinToken: join,
          name: `edge-${e}`,
        });
        assert.equal(r.statusCode, 201, r.body);
        edges[e] = { id: r.json().edgeId, credential: r.json().credential };
      }
      assert.equal((await publish()).version, 2);
    });
    after(async () => t?.close());

    it("a pinned edge gets its version, the others the latest", async () => {
      const r = await pin("b", 1);
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().pinnedVersion, 1);
      assert.equal(r.json().id, edges.b.id);
      const got = await pull("b", 0);
      assert.equal(got.statusCode, 200, got.body);
      assert.equal(got.json().version, 1);
      assert.equal(got.headers["x-gatehouse-config-version"], "1");
      assert.equal((await pull("a", 0)).json().version, 2);
      const list = (await api("GET", "/edges")).json().items as {
        id: string;
        pinnedVersion: number | null;
      }[];
      assert.deepEqual(
        list.map((e) => [e.id, e.pinnedVersion]).sort(),
        [
          [edges.a.id, null],
          [edges.b.id, 1],
        ].sort(),
      );
      const hb = await heartbeat("b", 1);
      assert.equal(hb.json().pinnedVersion, 1);
      assert.equal(hb.json().latestVersion, 2);
      assert.equal((await heartbeat("a", 2)).json().pinnedVersion, null);
    });

    it("a publish does not move a pinned edge; the unpinned one gets it", async () => {
      const held = pull("b", 1);
      const moving = pull("a", 2);
      await waitingIs(2);
      const t0 = Date.now();
      const v3 = await publish();
      assert.equal(v3.version, 3);
      assert.equal((await moving).json().version, 3);
      const h = await held;
      assert.equal(h.statusCode, 304, "woken by the publish, but nothing is due");
      assert.ok(Date.now() - t0 < 3000, "answered on the publish, not after the 4 s wait");
    });

    it("moving the pin forward wakes that edge only (the canary takes the new version)", async () => {
      const held = pull("b", 1);
      const other = pull("a", 3);
      await waitingIs(2);
      const r = await pin("b", 3);
      assert.equal(r.statusCode, 200, r.body);
      const woke = await held;
      assert.equal(woke.statusCode, 200, woke.body);
      assert.equal(woke.json().version, 3);
      await waitingIs(1); // edge a still waits: another edge's pin is no news for it
      await publish(); // v4 releases a's poll
      assert.equal((await other).json().version, 4);
      await heartbeat("b", 3);
    });

    it("audits pins with before and after; unpinning lets the edge follow the latest", async () => {
      const held = pull("b", 3);
      await waitingIs(1);
      const r = await unpin("b");
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().pinnedVersion, null);
      const woke = await held;
      assert.equal(woke.statusCode, 200, woke.body);
      assert.equal(woke.json().version, 4);
      const again = await unpin("b");
      assert.equal(again.statusCode, 200, "unpinning an edge without a pin changes nothing");
      const pins = (await api("GET", `/audit?resource=edge&resourceId=${edges.b.id}`)).json()
        .items as { action: string; before: unknown; after: unknown }[];
      const rows = pins
        .filter((x) => x.action === "pin" || x.action === "unpin")
        .map((x) => [x.action, x.before, x.after])
        .reverse();
      assert.deepEqual(rows, [
        ["pin", { pinnedVersion: null }, { pinnedVersion: 1 }],
        ["pin", { pinnedVersion: 1 }, { pinnedVersion: 3 }],
        ["unpin", { pinnedVersion: 3 }, { pinnedVersion: null }],
      ]);
    });

    it("a pin wakes the edge's poll waiting on another replica (LISTEN/NOTIFY)", {
      skip: b.name === "pglite" ? "PGlite is one process: there are no other replicas" : false,
    }, async () => {
      const replica = await buildApp({
        databaseUrl: PG_URL!,
        schema: t.schema,
        logger: false,
        autoPublishDelayMs: 0,
        longPollTimeoutMs: 5000,
      });
      try {
        assert.equal((await pin("b", 4)).statusCode, 200);
        const latest = (await publish()).version;
        const waiting = call(replica, edges.b.credential, "GET", "/api/v1/edge/config?after=4");
        const deadline = Date.now() + 3000;
        while (replica.gatehouse.notifier.waiting() === 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 10));
        assert.equal(replica.gatehouse.notifier.waiting(), 1);
        const t0 = Date.now();
        assert.equal((await pin("b", latest)).statusCode, 200);
        const woke = await waiting;
        assert.equal(woke.statusCode, 200, woke.body);
        assert.equal(woke.json().version, latest);
        assert.ok(Date.now() - t0 < 4000, "woken by the pin, not the end of the wait");
        assert.equal((await unpin("b")).statusCode, 200);
      } finally {
        await replica.close();
      }
    });

    it("a pin read that was in flight during a pin change does not overwrite it in memory", async () => {
      const { publisher, db } = t.app.gatehouse;
      const acc = (await api("GET", "/whoami")).json().accountId as string;
      // The stored pin says 1; this replica then commits 3 while a poll's read of 1 is on its way.
      await db
        .updateTable("edges")
        .set({ pinned_version: 1 })
        .where("id", "=", edges.b.id)
        .execute();
      publisher.remotePinChanged(acc, edges.b.id, 1); // forget what memory had
      const inFlight = publisher.dueFor(acc, edges.b.id, 0);
      publisher.pinChanged(acc, edges.b.id, 3, 3);
      assert.equal((await inFlight)?.version, 1, "that read saw the row as it was");
      assert.equal((await publisher.dueFor(acc, edges.b.id, 0))?.version, 3);
      await db
        .updateTable("edges")
        .set({ pinned_version: null })
        .where("id", "=", edges.b.id)
        .execute();
      publisher.remotePinChanged(acc, edges.b.id, 0);
      const latest = (await api("GET", "/config/versions?limit=1")).json().items[0].version;
      assert.equal((await publisher.dueFor(acc, edges.b.id, 0))?.version, latest);
    });

    it("refuses an unknown edge or version, an older version than the edge runs, a bad body", async () => {
      const unknown = await pin("b", 99);
      assert.equal(unknown.statusCode, 404, unknown.body);
      assert.match(unknown.json().error.message, /version 99/);
      const noEdge = await api("PUT", "/edges/nope/pin", { version: 1 });
      assert.equal(noEdge.statusCode, 404, noEdge.body);
      assert.equal((await api("DELETE", "/edges/nope/pin")).statusCode, 404);
      const older = await pin("b", 2); // b reported running 3
      assert.equal(older.statusCode, 409, older.body);
      assert.equal(older.json().error.code, "GH_ERR_CONFLICT");
      assert.equal(older.json().error.details.configVersion, 3);
      for (const body of [{}, { version: 0 }, { version: "x" }, { version: 1, edge: "b" }]) {
        const r = await api("PUT", `/edges/${edges.b.id}/pin`, body);
        assert.equal(r.statusCode, 400, `${JSON.stringify(body)}: ${r.body}`);
        assert.equal(r.json().error.code, "GH_ERR_BAD_REQUEST");
      }
      const bad = (await api("PUT", `/edges/${edges.b.id}/pin`, { version: "x" })).json();
      assert.equal(bad.error.details[0].path, "/version");
      assert.equal((await api("GET", `/edges/${edges.b.id}`)).json().pinnedVersion, null);
    });

    it("only admins pin; another account's edges are not found; a decommissioned edge is not pinned", async () => {
      const mk = async (role: string) =>
        (await api("POST", "/tokens", { name: `pin-${role}`, role })).json().token as string;
      for (const role of ["viewer", "editor"]) {
        const token = await mk(role);
        assert.equal((await pin("a", 4, token)).statusCode, 403, role);
        assert.equal((await unpin("a", token)).statusCode, 403, role);
      }
      const other = (await api("POST", "/accounts", { name: "other" })).json().adminToken as string;
      assert.equal((await pin("a", 1, other)).statusCode, 404);
      assert.equal((await unpin("a", other)).statusCode, 404);
      assert.equal((await api("DELETE", `/edges/${edges.a.id}`)).statusCode, 200);
      const gone = await pin("a", 4);
      assert.equal(gone.statusCode, 409, gone.body);
      assert.equal((await api("GET", `/edges/${edges.a.id}`)).json().pinnedVersion, null);
    });
  });
}
