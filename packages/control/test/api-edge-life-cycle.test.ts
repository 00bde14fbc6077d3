// The edge life cycle on control (issue "Safe change at scale"): join tokens scoped to labels, a
// number of uses and an expiry; a new machine replacing a decommissioned edge (its name and
// labels); drain and activate waking the edge's config poll at once with the new status; the
// edge's reported serving state; version skew (GET /edges/versions, the metric) and
// minimumEdgeVersion refusing older edges (426, counted). PGlite and PostgreSQL.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

for (const b of BACKENDS) {
  describe(`edge life cycle (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    const api = (method: string, url: string, body?: unknown, token = t.token) =>
      call(t.app, token, method as "GET", `/api/v1${url}`, body);
    const enrol = (joinToken: string, name: string, version?: string) =>
      call(t.app, undefined, "POST", "/api/v1/edge/enroll", {
        joinToken,
        name,
        ...(version ? { version } : {}),
      });
    const heartbeat = (credential: string, version: string, serving?: string) =>
      call(t.app, credential, "POST", "/api/v1/edge/heartbeat", {
        version,
        configVersion: 1,
        uptimeSeconds: 1,
        ...(serving ? { serving } : {}),
      });
    const metricsText = async () => (await call(t.app, t.token, "GET", "/metrics")).body as string;

    before(async () => {
      t = await openTestApp(b.name, { longPollTimeoutMs: 20_000, minimumEdgeVersion: "0.1.0" });
      const p = await api("POST", "/policies", {
        name: "p",
        type: "dns",
        expression: 'dns.fqdn == "x.example"',
        action: "block",
      });
      assert.equal(p.statusCode, 201, p.body);
      assert.equal((await api("POST", "/config/publish", {})).statusCode, 200);
    });
    after(async () => t?.close());

    it("a join token scoped to labels and 2 uses: both edges get the labels, a third enrolment is refused", async () => {
      const tok = await api("POST", "/edges/join-tokens", {
        labels: { site: "paris", role: "canary" },
        uses: 2,
        ttlSeconds: 600,
      });
      assert.equal(tok.statusCode, 201, tok.body);
      assert.deepEqual(tok.json().labels, { site: "paris", role: "canary" });
      assert.equal(tok.json().uses, 2);
      const ids: string[] = [];
      for (const name of ["p1", "p2"]) {
        const r = await enrol(tok.json().joinToken, name, "0.1.0");
        assert.equal(r.statusCode, 201, r.body);
        ids.push(r.json().edgeId);
      }
      for (const id of ids) {
        const e = (await api("GET", `/edges/${id}`)).json();
        assert.deepEqual(e.labels, { site: "paris", role: "canary" });
        assert.equal(e.softwareVersion, "0.1.0");
      }
      const third = await enrol(tok.json().joinToken, "p3", "0.1.0");
      assert.equal(third.statusCode, 401, third.body);
      assert.match(third.json().error.message, /used|invalid/);
      // Bad scopes are refused with the reason.
      const bad = await api("POST", "/edges/join-tokens", { uses: 0 });
      assert.equal(bad.statusCode, 400, bad.body);
      const badLabel = await api("POST", "/edges/join-tokens", { labels: { "Bad Key": "x" } });
      assert.equal(badLabel.statusCode, 400, badLabel.body);
    });

    it("replace: a new machine takes over a decommissioned edge's name and labels (audited); a live edge cannot be replaced", async () => {
      const tok = (await api("POST", "/edges/join-tokens", {})).json().joinToken;
      const old = (await enrol(tok, "rack-7", "0.1.0")).json();
      assert.equal(
        (await api("PUT", `/edges/${old.edgeId}/labels`, { labels: { site: "lyon" } })).statusCode,
        200,
      );
      const live = await api("POST", "/edges/join-tokens", { replaces: old.edgeId });
      assert.equal(live.statusCode, 409, live.body);
      assert.match(live.json().error.message, /decommission it first/);
      const several = await api("POST", "/edges/join-tokens", { replaces: old.edgeId, uses: 3 });
      assert.equal(several.statusCode, 422, several.body);
      const unknown = await api("POST", "/edges/join-tokens", { replaces: "ghe_nope" });
      assert.equal(unknown.statusCode, 404, unknown.body);

      assert.equal((await api("DELETE", `/edges/${old.edgeId}`)).statusCode, 200);
      const rep = await api("POST", "/edges/join-tokens", { replaces: old.edgeId });
      assert.equal(rep.statusCode, 201, rep.body);
      assert.equal(rep.json().replaces, old.edgeId);
      const fresh = await enrol(rep.json().joinToken, "new-hostname", "0.1.0");
      assert.equal(fresh.statusCode, 201, fresh.body);
      const e = (await api("GET", `/edges/${fresh.json().edgeId}`)).json();
      assert.equal(e.name, "rack-7");
      assert.deepEqual(e.labels, { site: "lyon" });
      assert.equal(e.replaces, old.edgeId);
      assert.notEqual(fresh.json().edgeId, old.edgeId, "a new credential and id");
      const audit = (await api("GET", "/audit?resource=edge&limit=5")).json().items as {
        action: string;
        resourceId: string;
        after: { replaces?: string };
      }[];
      const entry = audit.find((a) => a.resourceId === fresh.json().edgeId);
      assert.equal(entry?.action, "replace");
      assert.equal(entry?.after.replaces, old.edgeId);
    });

    it("drain and activate wake the edge's waiting config poll with the status; the edge's serving state is shown", async () => {
      const tok = (await api("POST", "/edges/join-tokens", {})).json().joinToken;
      const edge = (await enrol(tok, "drain-me", "0.1.0")).json();
      const id = edge.edgeId as string;
      /** A config poll of this edge, once it waits (the edge has version 1 already). */
      const waitingPoll = async () => {
        // An earlier poll of this test still leaving the notifier (answered, its waiter not yet
        // removed) would hide the new one in the count: let it leave first (at most 2 s).
        const settle = Date.now() + 2_000;
        while (t.app.gatehouse.notifier.waiting() > 0 && Date.now() < settle)
          await new Promise((r) => setTimeout(r, 5));
        const before = t.app.gatehouse.notifier.waiting();
        const poll = call(t.app, edge.credential, "GET", "/api/v1/edge/config?after=1");
        // Also stop when the poll was answered: a poll that waited for less than one look of
        // this loop (woken at once) left the count as it was, and the loop never ended (CI: the
        // 300 s timeout on PostgreSQL). The assertions on its answer then say what happened.
        let answered = false;
        void poll.then(
          () => {
            answered = true;
          },
          () => {
            answered = true;
          },
        );
        while (!answered && t.app.gatehouse.notifier.waiting() === before)
          await new Promise((r) => setTimeout(r, 5));
        return { answer: poll };
      };
      // The drain answers the waiting poll now.
      const poll = (await waitingPoll()).answer;
      assert.equal((await api("POST", `/edges/${id}/drain`)).statusCode, 200);
      const woken = await poll;
      assert.equal(woken.statusCode, 304);
      assert.equal(woken.headers["x-gatehouse-edge-status"], "draining");

      // A drain that landed between two polls: the next poll, which says the edge still follows
      // `active`, is answered at once.
      const between = await call(
        t.app,
        edge.credential,
        "GET",
        "/api/v1/edge/config?after=1",
        undefined,
        { "x-gatehouse-edge-following": "active" },
      );
      assert.equal(between.statusCode, 304);
      assert.equal(between.headers["x-gatehouse-edge-status"], "draining");

      assert.equal((await heartbeat(edge.credential, "0.1.0", "drained")).statusCode, 200);
      assert.equal((await api("GET", `/edges/${id}`)).json().serving, "drained");

      const again = (await waitingPoll()).answer;
      assert.equal((await api("POST", `/edges/${id}/activate`)).statusCode, 200);
      const active = await again;
      assert.equal(active.statusCode, 304);
      assert.equal(active.headers["x-gatehouse-edge-status"], "active");
      // A publish still answers with the bundle (no status header needed).
      const third = (await waitingPoll()).answer;
      assert.equal((await api("POST", "/config/publish", { force: true })).statusCode, 200);
      const got = await third;
      assert.equal(got.statusCode, 200);
      assert.equal(got.headers["x-gatehouse-edge-status"], undefined);
    });

    it("minimumEdgeVersion: an older edge is refused on enrolment, heartbeat and config poll (426, counted); versions show the skew", async () => {
      const tok = (await api("POST", "/edges/join-tokens", { uses: 3 })).json().joinToken;
      const old = await enrol(tok, "old-one", "0.0.9");
      assert.equal(old.statusCode, 426, old.body);
      assert.equal(old.json().error.code, "GH_ERR_EDGE_TOO_OLD");
      assert.match(old.json().error.message, /0\.0\.9.*0\.1\.0 or later.*upgrade/);
      // A refused enrolment does not use the token up.
      const ok = (await enrol(tok, "upgraded-later", "0.1.0")).json();
      // The same machine, still running an old build, heartbeats: recorded, refused.
      const hb = await heartbeat(ok.credential, "0.0.9");
      assert.equal(hb.statusCode, 426, hb.body);
      const e = (await api("GET", `/edges/${ok.edgeId}`)).json();
      assert.equal(e.softwareVersion, "0.0.9");
      assert.equal(e.tooOld, true);
      // Its config poll is refused by the header, else by the version it last reported.
      const byHeader = await call(
        t.app,
        ok.credential,
        "GET",
        "/api/v1/edge/config?after=0",
        undefined,
        { "x-gatehouse-edge-version": "0.0.9-rc.1" },
      );
      assert.equal(byHeader.statusCode, 426, byHeader.body);
      const byRow = await call(t.app, ok.credential, "GET", "/api/v1/edge/config?after=0");
      assert.equal(byRow.statusCode, 426, byRow.body);
      const current = await call(
        t.app,
        ok.credential,
        "GET",
        "/api/v1/edge/config?after=0",
        undefined,
        { "x-gatehouse-edge-version": "0.1.0" },
      );
      assert.equal(current.statusCode, 200, current.body);

      const v = await api("GET", "/edges/versions");
      assert.equal(v.statusCode, 200, v.body);
      assert.equal(v.json().minimumEdgeVersion, "0.1.0");
      const versions = v.json().versions as {
        version: string | null;
        edges: number;
        tooOld: boolean;
      }[];
      assert.deepEqual(
        versions.map((x) => [x.version, x.tooOld]),
        [
          ["0.1.0", false],
          ["0.0.9", true],
        ],
      );
      assert.ok((versions[0]?.edges ?? 0) >= 3);
      const m = await metricsText();
      assert.match(m, /gatehouse_control_edge_requests_refused_total\{reason="too_old"\} 4/);
      assert.match(
        m,
        /gatehouse_control_edges_by_version\{account_id="[^"]+",version="0\.0\.9"\} 1/,
      );
      assert.match(
        m,
        /gatehouse_control_edges_by_version\{account_id="[^"]+",version="0\.1\.0"\} \d+/,
      );
    });

    it("viewers read the versions; only admins make scoped join tokens", async () => {
      const viewer = await api("POST", "/tokens", { name: "v", role: "viewer" });
      assert.equal(viewer.statusCode, 201, viewer.body);
      const vt = viewer.json().token as string;
      assert.equal((await api("GET", "/edges/versions", undefined, vt)).statusCode, 200);
      assert.equal(
        (await api("POST", "/edges/join-tokens", { labels: { a: "b" } }, vt)).statusCode,
        403,
      );
    });
  });
}
