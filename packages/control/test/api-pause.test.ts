// Pausing blocking (POST /pause, /pause/resume, GET /pause): the pause and its end time go
// into the bundle published at once, per location or for every client; resuming takes it out;
// an ended pause is left out of the next bundle; each change is audited.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

interface Bundle {
  version: number;
  pauses?: { until?: number; locationId?: string }[];
}

for (const b of BACKENDS) {
  describe(`pause blocking (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let office = "";
    const api = (method: string, url: string, body?: unknown, token = t.token) =>
      call(t.app, token, method as "GET", `/api/v1${url}`, body);
    const bundleOf = async (version: number): Promise<Bundle> =>
      (await api("GET", `/config/versions/${version}`)).json();

    before(async () => {
      t = await openTestApp(b.name);
      office = (
        await api("POST", "/locations", { name: "Office", networks: ["10.0.0.0/8"] })
      ).json().id;
      await api("POST", "/config/publish");
    });
    after(async () => t?.close());

    it("pauses every client for 5 minutes: published at once with its end time", async () => {
      const t0 = Date.now();
      const r = await api("POST", "/pause", { minutes: 5 });
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json();
      assert.equal(body.pauses.length, 1);
      assert.equal(body.pauses[0].locationId, null);
      assert.match(body.pauses[0].pausedBy, /^token:/);
      const until = Date.parse(body.pauses[0].until);
      assert.ok(until >= t0 + 300_000 && until <= Date.now() + 300_000, `until ${until}`);
      const bundle = await bundleOf(body.publishedVersion);
      assert.deepEqual(bundle.pauses, [{ until }]);
    });

    it("pauses one location until resumed, beside the pause for everyone", async () => {
      const r = (await api("POST", "/pause", { locationId: office })).json();
      assert.deepEqual(
        r.pauses.map((p: { locationName: string | null; until: string | null }) => [
          p.locationName,
          p.until === null,
        ]),
        [
          [null, false],
          ["Office", true],
        ],
      );
      const bundle = await bundleOf(r.publishedVersion);
      assert.deepEqual(bundle.pauses?.[1], { locationId: office });
    });

    it("resume ends the pause of its scope only", async () => {
      const r = (await api("POST", "/pause/resume", {})).json();
      assert.deepEqual(
        r.pauses.map((p: { locationId: string | null }) => p.locationId),
        [office],
      );
      assert.deepEqual((await bundleOf(r.publishedVersion)).pauses, [{ locationId: office }]);
      const after = (await api("POST", "/pause/resume", { locationId: office })).json();
      assert.deepEqual(after.pauses, []);
      assert.equal((await bundleOf(after.publishedVersion)).pauses, undefined);
      assert.deepEqual((await api("GET", "/pause")).json().pauses, []);
    });

    it("a pause that has ended is not shown and not published", async () => {
      await api("POST", "/pause", { minutes: 1 });
      await sql`update blocking_pauses set until = now() - interval '1 second'`.execute(
        t.app.gatehouse.db,
      );
      assert.deepEqual((await api("GET", "/pause")).json().pauses, []);
      const v = (await api("POST", "/config/publish")).json().version;
      assert.equal((await bundleOf(v)).pauses, undefined);
    });

    it("each pause and resume is audited", async () => {
      const items = (await api("GET", "/audit?resource=pause")).json().items as {
        action: string;
        resourceId: string | null;
      }[];
      assert.deepEqual(
        items.map((i) => [i.action, i.resourceId]),
        [
          ["pause", null],
          ["resume", office],
          ["resume", null],
          ["pause", office],
          ["pause", null],
        ],
      );
    });

    it("refuses another account's location (404), a viewer (403), a pause of 0 minutes (400)", async () => {
      const other = (await api("POST", "/accounts", { name: "other" })).json().adminToken;
      const r = await api("POST", "/pause", { locationId: office }, other);
      assert.equal(r.statusCode, 404, r.body);
      const viewer = (await api("POST", "/tokens", { name: "v", role: "viewer" })).json().token;
      assert.equal((await api("POST", "/pause", {}, viewer)).statusCode, 403);
      assert.equal((await api("GET", "/pause", undefined, viewer)).statusCode, 200);
      assert.equal((await api("POST", "/pause", { minutes: 0 })).statusCode, 400);
    });
  });
}
