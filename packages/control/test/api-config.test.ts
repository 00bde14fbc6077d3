// Config bundles (publish, versions, diff, export/import) and the edge API (enrolment,
// long-poll, heartbeats, config status, drain/decommission) against PGlite and PostgreSQL.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { type ConfigBundle, checkBundle, verifyBundleHash } from "@gatehouse/contract";
import YAML from "yaml";
import { buildApp } from "../src/app.ts";
import { BACKENDS, call, closeSharedPglite, openTestApp, PG_URL, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

for (const b of BACKENDS) {
  describe(`config bundles and edges (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    const api = (method: string, url: string, body?: unknown, headers?: Record<string, string>) =>
      call(t.app, t.token, method as "GET", `/api/v1${url}`, body, headers);
    let edgeCredential = "";
    let edgeId = "";
    before(async () => {
      t = await openTestApp(b.name, { longPollTimeoutMs: 300, heartbeatIntervalMs: 100 });
    });
    after(async () => t?.close());

    it("publishes a validated, hashed bundle with a monotonic version; no-op publishes do not bump", async () => {
      const l = await api("POST", "/lists", {
        name: "ads",
        type: "domain",
        items: ["ads.example", "tracker.example"],
      });
      assert.equal(l.statusCode, 201, l.body);
      await api("POST", "/locations", { name: "office", networks: ["192.0.2.0/24"] });
      const p = await api("POST", "/policies", {
        name: "block ads",
        type: "dns",
        expression: "dns.fqdn in $ads",
        action: "block",
      });
      assert.equal(p.statusCode, 201, p.body);
      await api("POST", "/policies", {
        name: "off",
        type: "dns",
        expression: 'dns.fqdn == "x"',
        action: "block",
        enabled: false,
      });
      const r = await api("POST", "/config/publish");
      assert.equal(r.statusCode, 200, r.body);
      const v1 = r.json();
      assert.equal(v1.version, 1);
      assert.equal(v1.changed, true);
      assert.deepEqual(v1.summary, {
        policies: 1,
        lists: 1,
        listItems: 2,
        locations: 1,
        users: 0,
        devices: 0,
      });
      const again = await api("POST", "/config/publish", {});
      assert.equal(again.json().version, 1);
      assert.equal(again.json().changed, false);
      const forced = await api("POST", "/config/publish", { force: true });
      assert.equal(forced.json().version, 2);
      const bundle = (await api("GET", "/config/versions/2")).json() as ConfigBundle;
      assert.deepEqual(checkBundle(bundle), []);
      assert.equal(await verifyBundleHash(bundle), true);
      assert.equal(bundle.policies.length, 1, "disabled policies are not shipped");
      assert.deepEqual(bundle.lists[0]!.items, ["ads.example", "tracker.example"]);
    });

    it("never publishes a configuration that does not compile", async () => {
      // Make the stored config invalid behind the API's back (as a bad migration or manual edit could).
      await t.app.gatehouse.db
        .updateTable("policies")
        .set({ expression: "dns.fqdn ==" })
        .where("name", "=", "block ads")
        .execute();
      const r = await api("POST", "/config/publish");
      assert.equal(r.statusCode, 422, r.body);
      assert.equal(r.json().error.code, "GH_ERR_CONFIG_REJECTED");
      assert.ok(r.json().error.details.problems.length >= 1);
      const check = await api("GET", "/config/check");
      assert.equal(check.json().ok, false);
      const versions = await api("GET", "/config/versions");
      assert.equal(versions.json().items[0].version, 2, "no version 3");
      await t.app.gatehouse.db
        .updateTable("policies")
        .set({ expression: "dns.fqdn in $ads" })
        .where("name", "=", "block ads")
        .execute();
    });

    it("lists versions newest first and diffs two versions", async () => {
      const list = (await api("GET", "/lists")).json().items[0];
      await api("POST", `/lists/${list.id}/items`, "new.example\n", {
        "content-type": "text/plain",
      });
      await api("POST", "/policies", {
        name: "more",
        type: "dns",
        expression: 'dns.fqdn == "more.example"',
        action: "block",
      });
      const v3 = await api("POST", "/config/publish");
      assert.equal(v3.json().version, 3);
      const versions = await api("GET", "/config/versions?limit=2");
      assert.deepEqual(
        versions.json().items.map((v: { version: number }) => v.version),
        [3, 2],
      );
      const older = await api(
        "GET",
        `/config/versions?limit=2&cursor=${versions.json().nextCursor}`,
      );
      assert.deepEqual(
        older.json().items.map((v: { version: number }) => v.version),
        [1],
      );
      const d = await api("GET", "/config/versions/2/diff/3");
      assert.equal(d.statusCode, 200, d.body);
      const diff = d.json();
      assert.equal(diff.policies.added.length, 1);
      assert.deepEqual(diff.lists.items, [{ id: list.id, name: "ads", added: 1, removed: 0 }]);
      assert.equal(diff.resolverChanged, false);
      assert.equal((await api("GET", "/config/versions/2/diff/99")).statusCode, 404);
    });

    it("exports YAML and imports it back; an invalid import changes nothing", async () => {
      const e = await api("GET", "/config/export");
      assert.equal(e.statusCode, 200);
      assert.match(String(e.headers["content-type"]), /yaml/);
      const doc = YAML.parse(e.body);
      assert.equal(doc.kind, "gatehouse/account-config");
      assert.equal(doc.policies.length, 3, "disabled policies are exported too");
      // round trip: importing the export changes nothing that would be published
      const imp = await api("PUT", "/config/export", e.body, {
        "content-type": "application/yaml",
      });
      assert.equal(imp.statusCode, 200, imp.body);
      assert.equal((await api("POST", "/config/publish")).json().changed, false);
      // an import with a bad expression is refused whole
      doc.policies.push({
        name: "broken",
        type: "dns",
        enabled: true,
        precedence: 99,
        expression: "dns.fqdn in $missing",
        action: "block",
      });
      doc.lists[0].items.push("added-by-import.example");
      const bad = await api("PUT", "/config/export", YAML.stringify(doc), {
        "content-type": "application/yaml",
      });
      assert.equal(bad.statusCode, 422, bad.body);
      const items = await api("GET", `/lists/${doc.lists[0].id}/items?limit=1000`);
      assert.ok(!items.json().items.includes("added-by-import.example"));
      const malformed = await api("PUT", "/config/export", "kind: [unclosed", {
        "content-type": "application/yaml",
      });
      assert.equal(malformed.statusCode, 400, malformed.body);
      // a valid change applies
      doc.policies.pop();
      const ok = await api("PUT", "/config/export", YAML.stringify(doc), {
        "content-type": "application/yaml",
      });
      assert.equal(ok.statusCode, 200, ok.body);
      const items2 = await api("GET", `/lists/${doc.lists[0].id}/items?limit=1000`);
      assert.ok(items2.json().items.includes("added-by-import.example"));
    });

    it("a proxy policy's allowPrivateDestinations is checked, stored, published and round-trips through YAML", async () => {
      const bad = await api("POST", "/policies", {
        name: "no opt-in on a block",
        type: "net",
        expression: 'net.connect.host == "intranet.example"',
        action: "block",
        settings: { allowPrivateDestinations: ["10.0.0.0/8"] },
      });
      assert.equal(bad.statusCode, 422, bad.body);
      assert.equal(bad.json().error.details.path, "/settings/allowPrivateDestinations");
      const badCidr = await api("POST", "/policies", {
        name: "bad cidr",
        type: "http",
        expression: 'http.conn.hostname == "intranet.example"',
        action: "allow",
        settings: { allowPrivateDestinations: ["10.0.0.0/40"] },
      });
      assert.equal(badCidr.statusCode, 422, badCidr.body);
      const p = await api("POST", "/policies", {
        name: "intranet",
        type: "net",
        expression: 'net.connect.host == "intranet.example"',
        action: "allow",
        settings: { allowPrivateDestinations: ["10.20.0.0/16"] },
      });
      assert.equal(p.statusCode, 201, p.body);
      assert.deepEqual(p.json().settings, { allowPrivateDestinations: ["10.20.0.0/16"] });
      const pub = await api("POST", "/config/publish");
      assert.equal(pub.statusCode, 200, pub.body);
      const bundle = (await api("GET", `/config/versions/${pub.json().version}`)).json();
      const shipped = bundle.policies.find((x: { name: string }) => x.name === "intranet");
      assert.deepEqual(shipped.settings, { allowPrivateDestinations: ["10.20.0.0/16"] });
      const doc = YAML.parse((await api("GET", "/config/export")).body);
      const exported = doc.policies.find((x: { name: string }) => x.name === "intranet");
      assert.deepEqual(exported.settings, { allowPrivateDestinations: ["10.20.0.0/16"] });
      const imp = await api("PUT", "/config/export", YAML.stringify(doc), {
        "content-type": "application/yaml",
      });
      assert.equal(imp.statusCode, 200, imp.body);
      assert.equal((await api("POST", "/config/publish")).json().changed, false);
      // An import may not put the opt-in where it means nothing either.
      exported.action = "block";
      const refused = await api("PUT", "/config/export", YAML.stringify(doc), {
        "content-type": "application/yaml",
      });
      assert.equal(refused.statusCode, 422, refused.body);
      await api("DELETE", `/policies/${p.json().id}`);
      await api("POST", "/config/publish");
    });

    it("untrustedOriginCert: an organisation setting and an HTTP allow policy's, checked, published, round-tripped through YAML; editors only", async () => {
      const before = (await api("GET", "/settings")).json();
      assert.equal(before.proxy?.untrustedOriginCert, undefined, "block is the default");
      const setAction = (action: string) =>
        api("PUT", "/settings", {
          ...before,
          proxy: { ...before.proxy, untrustedOriginCert: action },
        });
      const badValue = await setAction("ignore");
      assert.equal(badValue.statusCode, 400, badValue.body);
      assert.match(badValue.body, /proxy\/untrustedOriginCert/);
      const viewer = (
        await api("POST", "/tokens", { name: "viewer-untrusted", role: "viewer" })
      ).json().token as string;
      const denied = await call(t.app, viewer, "PUT", "/api/v1/settings", {
        ...before,
        proxy: { untrustedOriginCert: "inspect" },
      });
      assert.equal(denied.statusCode, 403, denied.body);
      for (const action of ["inspect", "block", "pass_through"]) {
        const put = await setAction(action);
        assert.equal(put.statusCode, 200, put.body);
        assert.equal((await api("GET", "/settings")).json().proxy.untrustedOriginCert, action);
      }
      const onBlock = await api("POST", "/policies", {
        name: "untrusted on a block",
        type: "http",
        expression: 'http.request.host == "legacy.example"',
        action: "block",
        settings: { untrustedOriginCert: "inspect" },
      });
      assert.equal(onBlock.statusCode, 422, onBlock.body);
      assert.equal(onBlock.json().error.details.path, "/settings/untrustedOriginCert");
      const p = await api("POST", "/policies", {
        name: "legacy appliance",
        type: "http",
        expression: 'http.request.host == "legacy.example"',
        action: "allow",
        settings: { untrustedOriginCert: "inspect" },
      });
      assert.equal(p.statusCode, 201, p.body);
      const pub = await api("POST", "/config/publish");
      const bundle = (await api("GET", `/config/versions/${pub.json().version}`)).json();
      assert.equal(bundle.proxy.untrustedOriginCert, "pass_through");
      const shipped = bundle.policies.find((x: { name: string }) => x.name === "legacy appliance");
      assert.deepEqual(shipped.settings, { untrustedOriginCert: "inspect" });
      const doc = YAML.parse((await api("GET", "/config/export")).body);
      assert.equal(doc.settings.proxy.untrustedOriginCert, "pass_through");
      const imp = await api("PUT", "/config/export", YAML.stringify(doc), {
        "content-type": "application/yaml",
      });
      assert.equal(imp.statusCode, 200, imp.body);
      assert.equal((await api("POST", "/config/publish")).json().changed, false);
      doc.settings.proxy.untrustedOriginCert = "inspect";
      const changed = await api("PUT", "/config/export", YAML.stringify(doc), {
        "content-type": "application/yaml",
      });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.equal((await api("GET", "/settings")).json().proxy.untrustedOriginCert, "inspect");
      await api("DELETE", `/policies/${p.json().id}`);
      await api("PUT", "/settings", { ...before, proxy: before.proxy });
      await api("POST", "/config/publish");
    });

    it("GET /config/check warns about a policy an earlier one always beats, without failing", async () => {
      const catchAll = await api("POST", "/policies", {
        name: "safe search on everything",
        type: "dns",
        precedence: 500,
        expression: 'dns.query_rtype == "A" or dns.query_rtype == "AAAA"',
        action: "safesearch",
      });
      assert.equal(catchAll.statusCode, 201, catchAll.body);
      const answers = await api("POST", "/policies", {
        name: "bad answers",
        type: "dns",
        precedence: 600,
        expression: "any(dns.resolved_ips[*] in {203.0.113.0/24})",
        action: "block",
      });
      assert.equal(answers.statusCode, 201, answers.body);
      const check = await api("GET", "/config/check");
      assert.equal(check.statusCode, 200, check.body);
      const body = check.json();
      assert.equal(body.ok, true);
      assert.deepEqual(body.problems, []);
      assert.deepEqual(
        body.warnings.map((w: { policyId: string; shadowedBy: string }) => [
          w.policyId,
          w.shadowedBy,
        ]),
        [[answers.json().id, catchAll.json().id]],
      );
      assert.match(body.warnings[0].message, /"bad answers" .* can never match/);
      assert.equal((await api("POST", "/config/publish")).statusCode, 200, "warnings never block");
      await api("DELETE", `/policies/${answers.json().id}`);
      await api("DELETE", `/policies/${catchAll.json().id}`);
      assert.deepEqual((await api("GET", "/config/check")).json().warnings, []);
      // Published now, so no debounced auto-publish of the deletes lands in a later test.
      await api("POST", "/config/publish");
    });

    it("enrols an edge with a one-time join token", async () => {
      const j = await api("POST", "/edges/join-tokens", { ttlSeconds: 600 });
      assert.equal(j.statusCode, 201, j.body);
      const joinToken = j.json().joinToken;
      const e = await call(t.app, undefined, "POST", "/api/v1/edge/enroll", {
        joinToken,
        name: "edge-1",
      });
      assert.equal(e.statusCode, 201, e.body);
      edgeCredential = e.json().credential;
      edgeId = e.json().edgeId;
      assert.match(edgeCredential, /^ghe_/);
      const reuse = await call(t.app, undefined, "POST", "/api/v1/edge/enroll", {
        joinToken,
        name: "edge-2",
      });
      assert.equal(reuse.statusCode, 401, "join tokens are one-time");
      // an API token is not an edge credential and vice versa
      assert.equal((await call(t.app, t.token, "GET", "/api/v1/edge/config")).statusCode, 401);
      assert.equal((await call(t.app, edgeCredential, "GET", "/api/v1/policies")).statusCode, 401);
    });

    it("answers the config long-poll at once when newer, else 304 after the wait, and wakes on publish", async () => {
      const latest = (await api("GET", "/config/versions")).json().items[0].version;
      const now = await call(t.app, edgeCredential, "GET", "/api/v1/edge/config?after=0");
      assert.equal(now.statusCode, 200, now.body);
      assert.equal(now.json().version, latest);
      assert.equal(now.headers["x-gatehouse-config-version"], String(latest));
      // edges that accept gzip get the stored compressed bytes
      const gz = await call(
        t.app,
        edgeCredential,
        "GET",
        "/api/v1/edge/config?after=0",
        undefined,
        { "accept-encoding": "gzip, br;q=0.5" },
      );
      assert.equal(gz.headers["content-encoding"], "gzip");
      assert.deepEqual(JSON.parse(gunzipSync(gz.rawPayload).toString("utf8")), now.json());
      const noGz = await call(
        t.app,
        edgeCredential,
        "GET",
        "/api/v1/edge/config?after=0",
        undefined,
        { "accept-encoding": "gzip;q=0" },
      );
      assert.equal(noGz.headers["content-encoding"], undefined);
      const idle = await call(t.app, edgeCredential, "GET", `/api/v1/edge/config?after=${latest}`);
      assert.equal(idle.statusCode, 304);
      const waiting = call(t.app, edgeCredential, "GET", `/api/v1/edge/config?after=${latest}`);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(t.app.gatehouse.notifier.waiting(), 1);
      await api("POST", "/policies", {
        name: "wake",
        type: "dns",
        expression: 'dns.fqdn == "wake.example"',
        action: "block",
      });
      const pub = await api("POST", "/config/publish");
      const woke = await waiting;
      assert.equal(woke.statusCode, 200, woke.body);
      assert.equal(woke.json().version, pub.json().version);
      assert.equal(t.app.gatehouse.notifier.waiting(), 0);
    });

    it("records heartbeats, marks edges stale after three missed beats, drains and decommissions", async () => {
      const hb = await call(t.app, edgeCredential, "POST", "/api/v1/edge/heartbeat", {
        version: "0.1.0",
        configVersion: 4,
        uptimeSeconds: 12,
        counters: { dns_queries: 100, dns_blocked: 7 },
      });
      assert.equal(hb.statusCode, 200, hb.body);
      assert.equal(hb.json().status, "active");
      let e = (await api("GET", `/edges/${edgeId}`)).json();
      assert.equal(e.stale, false);
      assert.equal(e.configVersion, 4);
      assert.deepEqual(e.counters, { dns_queries: 100, dns_blocked: 7 });
      await new Promise((r) => setTimeout(r, 350)); // 3 × the 100 ms test interval
      e = (await api("GET", "/edges")).json().items[0];
      assert.equal(e.stale, true);
      const rej = await call(t.app, edgeCredential, "POST", "/api/v1/edge/config-status", {
        version: 4,
        ok: false,
        error: { message: "bad regex" },
      });
      assert.equal(rej.statusCode, 204, rej.body);
      assert.equal((await api("GET", `/edges/${edgeId}`)).json().configStatus.ok, false);
      assert.equal((await api("GET", "/audit?action=config-rejected")).json().items.length, 1);
      assert.equal((await api("POST", `/edges/${edgeId}/drain`)).json().status, "draining");
      const hb2 = await call(t.app, edgeCredential, "POST", "/api/v1/edge/heartbeat", {
        version: "0.1.0",
        configVersion: 4,
        uptimeSeconds: 13,
      });
      assert.equal(hb2.json().status, "draining");
      const act = await api("POST", `/edges/${edgeId}/activate`);
      assert.equal(act.statusCode, 200, act.body);
      assert.equal(act.json().status, "active");
      const hb3 = await call(t.app, edgeCredential, "POST", "/api/v1/edge/heartbeat", {
        version: "0.1.0",
        configVersion: 4,
        uptimeSeconds: 13,
      });
      assert.equal(hb3.json().status, "active", "an activated edge is told to serve again");
      const activations = (await api("GET", "/audit?action=activate")).json().items;
      assert.equal(activations.length, 1);
      assert.deepEqual(
        [activations[0].before, activations[0].after],
        [{ status: "draining" }, { status: "active" }],
      );
      assert.equal((await api("DELETE", `/edges/${edgeId}`)).json().status, "decommissioned");
      const after = await call(t.app, edgeCredential, "POST", "/api/v1/edge/heartbeat", {
        version: "0.1.0",
        configVersion: 4,
        uptimeSeconds: 14,
      });
      assert.equal(after.statusCode, 410, "a decommissioned edge's credential stops working");
      assert.equal(
        after.json().error.code,
        "GH_ERR_EDGE_DECOMMISSIONED",
        "and the edge is told so",
      );
      const revive = await api("POST", `/edges/${edgeId}/activate`);
      assert.equal(revive.statusCode, 409, "a decommissioned edge cannot be activated");
    });

    it("wakes an edge waiting on another replica when this one publishes (LISTEN/NOTIFY)", {
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
        const join = (await api("POST", "/edges/join-tokens")).json().joinToken;
        const cred = (
          await call(t.app, undefined, "POST", "/api/v1/edge/enroll", {
            joinToken: join,
            name: "edge-r",
          })
        ).json().credential;
        const latest = (await api("GET", "/config/versions")).json().items[0].version;
        const waiting = call(replica, cred, "GET", `/api/v1/edge/config?after=${latest}`);
        const deadline = Date.now() + 3000;
        while (replica.gatehouse.notifier.waiting() === 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 10));
        assert.equal(replica.gatehouse.notifier.waiting(), 1);
        await api("POST", "/config/publish", { force: true });
        const woke = await waiting;
        assert.equal(woke.statusCode, 200, woke.body);
        assert.equal(woke.json().version, latest + 1);
      } finally {
        await replica.close();
      }
    });

    it("auto-publishes after changes when enabled (debounced)", async () => {
      // The debounce must outlast three requests on a loaded CI machine (30 ms did not).
      const a = await openTestApp(b.name, { autoPublishDelayMs: 1000 });
      try {
        const h = { authorization: `Bearer ${a.token}` };
        for (let i = 0; i < 3; i++)
          await a.app.inject({
            method: "POST",
            url: "/api/v1/policies",
            headers: h,
            payload: {
              name: `a${i}`,
              type: "dns",
              expression: `dns.fqdn == "a${i}"`,
              action: "block",
            },
          });
        const deadline = Date.now() + 5000;
        let versions: { version: number }[] = [];
        while (Date.now() < deadline) {
          versions = (
            await a.app.inject({ method: "GET", url: "/api/v1/config/versions", headers: h })
          ).json().items;
          if (versions.length > 0) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(versions.length, 1, "three quick changes → one publish");
      } finally {
        await a.close();
      }
    });
  });
}
