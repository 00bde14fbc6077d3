// Per-device DoH tokens (POST/DELETE /identities/devices/:id/doh-token, or `dohToken: true` at
// creation): the token is in one answer only, stored and bundled as its SHA-256, never in the
// audit log; a device's token needs its location, and a revoked token leaves the bundle.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ConfigBundle } from "@gatehouse/contract";
import { dohTokenDigest } from "@gatehouse/contract/secrets";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

for (const b of BACKENDS) {
  describe(`device DoH tokens (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    const api = (method: string, url: string, body?: unknown) =>
      call(t.app, t.token, method as "GET", `/api/v1${url}`, body);
    const published = async (): Promise<ConfigBundle> => {
      const r = await api("POST", "/config/publish", { force: true });
      assert.equal(r.statusCode, 200, r.body);
      return (await api("GET", `/config/versions/${r.json().version}`)).json() as ConfigBundle;
    };
    let locationId = "";
    before(async () => {
      t = await openTestApp(b.name);
      locationId = (await api("POST", "/locations", { name: "home" })).json().id;
    });
    after(async () => t?.close());

    it("a device made with dohToken: true gets its token once; the bundle has only its hash", async () => {
      const noLoc = await api("POST", "/identities/devices", { name: "phone", dohToken: true });
      assert.equal(noLoc.statusCode, 422, noLoc.body);
      assert.equal(noLoc.json().error.details.path, "/locationId");
      const bad = await api("POST", "/identities/devices", { name: "phone", locationId: "nope" });
      assert.equal(bad.statusCode, 422, bad.body);
      const made = await api("POST", "/identities/devices", {
        name: "phone",
        locationId,
        dohToken: true,
      });
      assert.equal(made.statusCode, 201, made.body);
      const d = made.json();
      assert.match(d.dohToken, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(d.locationId, locationId);
      assert.ok(d.dohTokenIssuedAt);
      const got = (await api("GET", `/identities/devices/${d.id}`)).json();
      assert.equal(got.dohToken, undefined, "never shown again");
      assert.equal(got.dohTokenIssuedAt, d.dohTokenIssuedAt);
      const bundle = await published();
      const dev = bundle.identities?.devices.find((x) => x.id === d.id);
      assert.equal(dev?.dohTokenSha256, dohTokenDigest(d.dohToken));
      assert.equal(dev?.locationId, locationId);
      assert.doesNotMatch(JSON.stringify(bundle), new RegExp(d.dohToken));
      const audit = await api("GET", "/audit");
      assert.doesNotMatch(audit.body, new RegExp(d.dohToken));
      assert.doesNotMatch(audit.body, new RegExp(dohTokenDigest(d.dohToken)));
    });

    it("issues a new token (the old one leaves the bundle) and revokes it", async () => {
      const dev = (await api("POST", "/identities/devices", { name: "laptop" })).json();
      assert.equal(dev.dohTokenIssuedAt, null);
      const noLoc = await api("POST", `/identities/devices/${dev.id}/doh-token`, {});
      assert.equal(noLoc.statusCode, 422, "a token needs a location");
      const first = await api("POST", `/identities/devices/${dev.id}/doh-token`, { locationId });
      assert.equal(first.statusCode, 200, first.body);
      const second = await api("POST", `/identities/devices/${dev.id}/doh-token`, {});
      assert.equal(second.statusCode, 200, second.body);
      assert.notEqual(first.json().dohToken, second.json().dohToken);
      let bundle = await published();
      let shipped = bundle.identities?.devices.find((x) => x.id === dev.id);
      assert.equal(shipped?.dohTokenSha256, dohTokenDigest(second.json().dohToken));
      const keepLoc = await api("PATCH", `/identities/devices/${dev.id}`, { locationId: null });
      assert.equal(keepLoc.statusCode, 422, "the token needs the location");
      const revoked = await api("DELETE", `/identities/devices/${dev.id}/doh-token`);
      assert.equal(revoked.statusCode, 200, revoked.body);
      assert.equal(revoked.json().dohTokenIssuedAt, null);
      bundle = await published();
      shipped = bundle.identities?.devices.find((x) => x.id === dev.id);
      assert.equal(shipped?.dohTokenSha256, undefined);
      const actions = (await api("GET", "/audit"))
        .json()
        .items.map((e: { action: string }) => e.action);
      assert.ok(actions.includes("issue-doh-token"));
      assert.ok(actions.includes("revoke-doh-token"));
    });

    it("a device whose location is removed ships without its token", async () => {
      const loc = (await api("POST", "/locations", { name: "cabin" })).json().id;
      const dev = (
        await api("POST", "/identities/devices", { name: "tv", locationId: loc, dohToken: true })
      ).json();
      assert.equal((await api("DELETE", `/locations/${loc}`)).statusCode, 204);
      const shipped = (await published()).identities?.devices.find((x) => x.id === dev.id);
      assert.equal(shipped?.dohTokenSha256, undefined);
    });
  });
}
