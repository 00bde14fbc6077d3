// Clients (issue 17): GET /clients/:id (name, location, settings, pause, the policies that apply
// and why, 24 h activity from the query-log store), PUT /clients/:id/settings (in the
// bundle as `clients`, published at once, audited), and POST /pause with a client (in the
// bundle as a pause with `client`, shown by GET /pause with the client's name).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { QueryLogRecord } from "@gatehouse/contract";
import { sql } from "kysely";
import { DuckDbStore } from "../src/analytics/duckdb-store.ts";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

interface Bundle {
  pauses?: { until?: number; locationId?: string; client?: string }[];
  clients?: { client: string; blocking?: boolean; safeSearch?: boolean; skipPolicies?: string[] }[];
}

function rec(i: number, over: Partial<QueryLogRecord>): QueryLogRecord {
  return {
    ts: Date.now() - 60_000 + i,
    kind: "dns",
    id: `c${i}`,
    client: "10.1.2.3",
    action: "allow",
    transport: "udp",
    durationMs: 1,
    qname: "example.com",
    qtype: "A",
    location: "x",
    ...over,
  };
}

for (const b of BACKENDS) {
  describe(`clients (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let analytics: DuckDbStore;
    let office = "";
    const ids: Record<string, string> = {};
    const api = (method: string, url: string, body?: unknown, token = t.token) =>
      call(t.app, token, method as "GET", `/api/v1${url}`, body);
    const bundleOf = async (version: number): Promise<Bundle> =>
      (await api("GET", `/config/versions/${version}`)).json();

    before(async () => {
      analytics = await DuckDbStore.open({ path: ":memory:", threads: 1 });
      t = await openTestApp(b.name, { analytics });
      office = (
        await api("POST", "/locations", { name: "Office", networks: ["10.0.0.0/8"] })
      ).json().id;
      await api("POST", "/locations", { name: "Lab", networks: ["10.9.0.0/16"] });
      const policy = async (name: string, expression: string, type = "dns") => {
        const r = await api("POST", "/policies", { name, type, expression, action: "block" });
        assert.equal(r.statusCode, 201, r.body);
        ids[name] = r.json().id;
      };
      await policy("everyone", 'dns.fqdn == "ads.example"');
      await policy("office only", `dns.location == "${office}" and dns.fqdn == "x.example"`);
      await policy("lab only", 'dns.location_name == "Lab"');
      await policy("not this address", "dns.src_ip in {192.168.0.0/16}");
      await policy("this address", 'dns.src_ip == 10.1.2.3 or dns.fqdn == "y.example"');
      await policy("by identity", 'identity.email == "ana@example.com"');
      await policy("http anyone", 'http.request.uri.path == "/x"', "http");
      await api("POST", "/client-names", { client: "10.1.2.3", name: "Kitchen iPad" });
      const account = (await api("GET", "/account")).json().id as string;
      await analytics.ingest(
        "b1",
        [
          rec(1, {}),
          rec(2, { action: "block", qname: "ads.example" }),
          rec(3, { identity: "ana@example.com", device: "phone" }),
          rec(4, { client: "10.1.2.4" }),
          rec(5, { transport: "internal" }),
        ],
        account,
      );
    });
    after(async () => {
      await t?.close();
      await analytics?.close();
    });

    it("GET /clients/:id: name, location, default settings, each policy's applicability, activity", async () => {
      const r = await api("GET", "/clients/10.1.2.3");
      assert.equal(r.statusCode, 200, r.body);
      const v = r.json();
      assert.equal(v.name, "Kitchen iPad");
      assert.deepEqual(v.location, { id: office, name: "Office" });
      assert.deepEqual(v.settings, {
        blocking: true,
        safeSearch: false,
        skipPolicies: [],
        updatedBy: null,
        updatedAt: null,
      });
      assert.equal(v.pause, null);
      const applies = Object.fromEntries(
        v.policies.map((p: { name: string; applies: string }) => [p.name, p.applies]),
      );
      assert.deepEqual(applies, {
        everyone: "always",
        "office only": "client",
        "lab only": "never",
        "not this address": "never",
        "this address": "client",
        "by identity": "identity",
        "http anyone": "always",
      });
      // Three of its queries (the proxy's own lookup left out), one blocked, one by a device.
      assert.equal(v.activity.total, 3);
      assert.equal(v.activity.blocked, 1);
      assert.ok(Date.parse(v.activity.lastSeen) >= Date.parse(v.activity.firstSeen));
      assert.deepEqual(
        v.activity.seenAs.map((s: { device: string | null; count: number }) => [s.device, s.count]),
        [
          [null, 2],
          ["phone", 1],
        ],
      );
      // The lab's network is more specific than the office's.
      assert.deepEqual((await api("GET", "/clients/10.9.0.1")).json().location?.name, "Lab");
      assert.equal((await api("GET", "/clients/not-an-ip")).statusCode, 422);
    });

    it("PUT settings: in the bundle at once, audited; skipped policies show as skipped; the defaults return to the global settings", async () => {
      const r = await api("PUT", "/clients/10.1.2.3/settings", {
        blocking: false,
        safeSearch: true,
        skipPolicies: [ids["everyone"]],
      });
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json();
      assert.equal(body.settings.blocking, false);
      assert.match(body.settings.updatedBy, /^token:/);
      assert.deepEqual((await bundleOf(body.publishedVersion)).clients, [
        { client: "10.1.2.3", blocking: false, safeSearch: true, skipPolicies: [ids["everyone"]] },
      ]);
      const v = (await api("GET", "/clients/10.1.2.3")).json();
      const everyone = v.policies.find((p: { name: string }) => p.name === "everyone");
      assert.equal(everyone.applies, "skipped");
      // An unknown policy, or one that is not DNS, is refused with its path.
      const bad = await api("PUT", "/clients/10.1.2.3/settings", {
        blocking: true,
        safeSearch: false,
        skipPolicies: [ids["http anyone"]],
      });
      assert.equal(bad.statusCode, 422, bad.body);
      assert.equal(bad.json().error.details.path, "/skipPolicies/0");
      // The defaults are the global settings: the client's own go.
      const global = await api("PUT", "/clients/10.1.2.3/settings", {
        blocking: true,
        safeSearch: false,
        skipPolicies: [],
      });
      assert.equal(global.statusCode, 200, global.body);
      assert.equal(global.json().settings.updatedBy, null);
      assert.equal((await bundleOf(global.json().publishedVersion)).clients, undefined);
      const audit = (await api("GET", "/audit?resource=client%20settings")).json().items as {
        action: string;
        resourceId: string;
      }[];
      assert.deepEqual(
        audit.map((a) => [a.action, a.resourceId]),
        [
          ["delete", "10.1.2.3"],
          ["create", "10.1.2.3"],
        ],
      );
    });

    it("pauses one client: in the bundle with its address, named in GET /pause, on its page; resume ends it only", async () => {
      await api("POST", "/pause", { locationId: office, minutes: 60 });
      const r = await api("POST", "/pause", { client: "::ffff:10.1.2.3", minutes: 5 });
      assert.equal(r.statusCode, 200, r.body);
      const state = r.json();
      const mine = state.pauses.find((p: { client: string | null }) => p.client !== null);
      assert.equal(mine.client, "10.1.2.3");
      assert.equal(mine.clientName, "Kitchen iPad");
      assert.equal(mine.locationId, null);
      const bundle = await bundleOf(state.publishedVersion);
      assert.deepEqual(
        bundle.pauses?.map((p) => [p.locationId ?? null, p.client ?? null]),
        [
          [null, "10.1.2.3"],
          [office, null],
        ],
      );
      const v = (await api("GET", "/clients/10.1.2.3")).json();
      assert.ok(v.pause && Date.parse(v.pause.until) > Date.now());
      assert.deepEqual(
        v.coveredByPauses.map((p: { scope: string }) => p.scope),
        ["location Office"],
      );
      assert.equal((await api("GET", "/clients/10.1.2.4")).json().pause, null);
      const resumed = (await api("POST", "/pause/resume", { client: "10.1.2.3" })).json();
      assert.deepEqual(
        resumed.pauses.map((p: { locationId: string | null }) => p.locationId),
        [office],
      );
      await api("POST", "/pause/resume", { locationId: office });
      const audit = (await api("GET", "/audit?resource=pause")).json().items as {
        action: string;
        resourceId: string | null;
      }[];
      assert.deepEqual(
        audit.slice(0, 3).map((a) => [a.action, a.resourceId]),
        [
          ["resume", office],
          ["resume", "10.1.2.3"],
          ["pause", "10.1.2.3"],
        ],
      );
    });

    it("an ended client pause is not published; bad bodies are refused", async () => {
      await api("POST", "/pause", { client: "10.1.2.3", minutes: 1 });
      await sql`update blocking_pauses set until = now() - interval '1 second'`.execute(
        t.app.gatehouse.db,
      );
      const v = (await api("POST", "/config/publish")).json().version;
      assert.equal((await bundleOf(v)).pauses, undefined);
      assert.equal((await api("POST", "/pause", { client: "kitchen" })).statusCode, 422);
      const both = await api("POST", "/pause", { client: "10.1.2.3", locationId: office });
      assert.equal(both.statusCode, 422, both.body);
      assert.equal((await api("POST", "/pause/resume", { client: "kitchen" })).statusCode, 422);
    });

    it("an address the account does not know is 404 (another account's client); a viewer reads but may not change", async () => {
      const other = (await api("POST", "/accounts", { name: "other" })).json().adminToken;
      assert.equal((await api("GET", "/clients/10.1.2.3", undefined, other)).statusCode, 404);
      const theirs = await api(
        "PUT",
        "/clients/10.1.2.3/settings",
        { blocking: false, safeSearch: false, skipPolicies: [] },
        other,
      );
      assert.equal(theirs.statusCode, 404, theirs.body);
      // Known by its queries alone: outside every location, no name, but in the log.
      assert.equal((await api("GET", "/clients/10.1.2.4")).statusCode, 200);
      assert.equal((await api("GET", "/clients/192.0.2.1")).statusCode, 404);
      const viewer = (await api("POST", "/tokens", { name: "v", role: "viewer" })).json().token;
      assert.equal((await api("GET", "/clients/10.1.2.3", undefined, viewer)).statusCode, 200);
      const put = await api(
        "PUT",
        "/clients/10.1.2.3/settings",
        { blocking: false, safeSearch: false, skipPolicies: [] },
        viewer,
      );
      assert.equal(put.statusCode, 403);
      assert.equal((await api("POST", "/pause", { client: "10.1.2.3" }, viewer)).statusCode, 403);
    });
  });
}
