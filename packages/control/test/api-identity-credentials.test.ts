// Users' proxy passwords (POST /identities/users/:id/credential) and the identities part of
// export/import: credential hashes reach the bundle, survive an export → import round trip
// (also into another installation), and never appear in the audit log.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ConfigBundle } from "@gatehouse/contract";
import { verifySecret } from "@gatehouse/contract/secrets";
import YAML from "yaml";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

const YAML_TYPE = { "content-type": "application/yaml" };

for (const b of BACKENDS) {
  describe(`identity credentials (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let other: TestApp;
    const api = (method: string, url: string, body?: unknown, headers?: Record<string, string>) =>
      call(t.app, t.token, method as "GET", `/api/v1${url}`, body, headers);
    const otherApi = (method: string, url: string, body?: unknown, h?: Record<string, string>) =>
      call(other.app, other.token, method as "GET", `/api/v1${url}`, body, h);
    const published = async (f: typeof api): Promise<ConfigBundle> => {
      const r = await f("POST", "/config/publish");
      assert.equal(r.statusCode, 200, r.body);
      return (await f("GET", `/config/versions/${r.json().version}`)).json() as ConfigBundle;
    };
    let userId = "";
    let password = "";
    let deviceId = "";
    let deviceCredential = "";
    before(async () => {
      t = await openTestApp(b.name);
      other = await openTestApp(b.name);
    });
    after(async () => {
      await t?.close();
      await other?.close();
    });

    it("issues a user's proxy password once, stores its scrypt hash and ships it in the bundle", async () => {
      const u = await api("POST", "/identities/users", {
        email: "Bob@Example.com",
        groups: ["staff"],
      });
      assert.equal(u.statusCode, 201, u.body);
      userId = u.json().id;
      assert.equal(u.json().hasCredential, false);
      const before = await published(api);
      assert.equal(before.identities?.users[0]?.credentialHash, undefined);

      const c = await api("POST", `/identities/users/${userId}/credential`);
      assert.equal(c.statusCode, 200, c.body);
      password = c.json().credential;
      assert.match(password, /^ghu_[A-Za-z0-9_-]{43}$/);
      assert.equal(c.json().email, "bob@example.com");
      assert.equal(c.json().credentialHash, undefined);
      assert.equal(c.json().hasCredential, true);
      assert.ok(c.headers.etag);

      const g = await api("GET", `/identities/users/${userId}`);
      assert.equal(g.json().hasCredential, true);
      assert.equal(g.json().credential, undefined);
      assert.equal(g.json().credentialHash, undefined);
      assert.ok(!g.body.includes("scrypt"));

      const row = await t.app.gatehouse.db
        .selectFrom("identity_users")
        .select("credential_hash")
        .where("id", "=", userId)
        .executeTakeFirstOrThrow();
      assert.match(row.credential_hash ?? "", /^scrypt\$/);
      assert.ok(!(row.credential_hash ?? "").includes(password));

      const bundle = await published(api);
      const shipped = bundle.identities?.users.find((x) => x.id === userId);
      assert.equal(shipped?.credentialHash, row.credential_hash);
      // What the edge does for Proxy-Authorization: Basic bob@example.com:<password>.
      assert.equal(await verifySecret(password, shipped!.credentialHash!), true);
      assert.equal(await verifySecret(`${password}x`, shipped!.credentialHash!), false);
    });

    it("rotates: the new password replaces the old one; the audit log never holds a hash", async () => {
      const c = await api("POST", `/identities/users/${userId}/credential`);
      assert.equal(c.statusCode, 200, c.body);
      assert.notEqual(c.json().credential, password);
      const hash = (await published(api)).identities!.users[0]!.credentialHash!;
      assert.equal(await verifySecret(password, hash), false);
      password = c.json().credential;
      assert.equal(await verifySecret(password, hash), true);

      const audit = await api("GET", "/audit?resource=user&limit=100");
      assert.equal(audit.statusCode, 200, audit.body);
      assert.match(audit.body, /rotate-credential/);
      assert.ok(!audit.body.includes("scrypt"), "no hash in the audit log");
      assert.ok(!audit.body.includes(password), "no password in the audit log");
    });

    it("refuses unknown users (404) and stale If-Match (412) without changing anything", async () => {
      const missing = await api("POST", "/identities/users/usr_missing/credential");
      assert.equal(missing.statusCode, 404, missing.body);
      const stale = await api("POST", `/identities/users/${userId}/credential`, undefined, {
        "if-match": '"1"',
      });
      assert.equal(stale.statusCode, 412, stale.body);
      const hash = (await published(api)).identities!.users[0]!.credentialHash!;
      assert.equal(await verifySecret(password, hash), true);
    });

    it("exports users' and devices' credential hashes; importing the export changes nothing", async () => {
      const d = await api("POST", "/identities/devices", { name: "bob-laptop", userId });
      assert.equal(d.statusCode, 201, d.body);
      deviceId = d.json().id;
      deviceCredential = d.json().credential;
      const first = await published(api);

      const e = await api("GET", "/config/export");
      assert.equal(e.statusCode, 200, e.body);
      const doc = YAML.parse(e.body);
      assert.deepEqual(doc.users, first.identities?.users);
      assert.deepEqual(doc.devices, first.identities?.devices);
      assert.equal(doc.devices[0].userId, userId);
      assert.match(doc.devices[0].credentialHash, /^scrypt\$/);

      const imp = await api("PUT", "/config/export", e.body, YAML_TYPE);
      assert.equal(imp.statusCode, 200, imp.body);
      assert.equal(imp.json().imported.devices, 1);
      assert.equal((await api("POST", "/config/publish")).json().changed, false);
      const audit = await api("GET", "/audit?resource=config&limit=10");
      assert.ok(!audit.body.includes("scrypt"), "no hash in the import's audit entry");
    });

    it("keeps every credential working after an import into another installation", async () => {
      const e = await api("GET", "/config/export");
      const imp = await otherApi("PUT", "/config/export", e.body, YAML_TYPE);
      assert.equal(imp.statusCode, 200, imp.body);
      const bundle = await published(otherApi);
      const user = bundle.identities!.users.find((u) => u.email === "bob@example.com")!;
      const device = bundle.identities!.devices.find((x) => x.name === "bob-laptop")!;
      assert.equal(device.id, deviceId);
      assert.equal(device.userId, user.id);
      assert.equal(await verifySecret(password, user.credentialHash!), true);
      assert.equal(await verifySecret(deviceCredential, device.credentialHash), true);
      const listed = await otherApi("GET", "/identities/devices");
      assert.ok(!listed.body.includes("scrypt"));
    });

    it("keeps devices (and whom they belong to) when a document has no devices key", async () => {
      const doc = YAML.parse((await api("GET", "/config/export")).body);
      delete doc.devices;
      doc.users[0].groups = ["staff", "admins"];
      const imp = await api("PUT", "/config/export", YAML.stringify(doc), YAML_TYPE);
      assert.equal(imp.statusCode, 200, imp.body);
      const dev = (await api("GET", `/identities/devices/${deviceId}`)).json();
      assert.equal(dev.userId, userId);
      const bundle = await published(api);
      assert.equal(
        await verifySecret(deviceCredential, bundle.identities!.devices[0]!.credentialHash),
        true,
      );
      assert.deepEqual(bundle.identities!.users[0]!.groups, ["staff", "admins"]);
    });

    it("refuses an import with bad identities whole, changing nothing", async () => {
      const base = YAML.parse((await api("GET", "/config/export")).body);
      const variants: [string, (d: typeof base) => void, RegExp][] = [
        [
          "unknown owner",
          (d) => {
            d.devices[0].userId = "usr_nobody";
          },
          /\/devices\/0\/userId/,
        ],
        [
          "duplicate device name",
          (d) => void d.devices.push({ ...d.devices[0], id: "dev_other", name: "BOB-LAPTOP" }),
          /\/devices\/1\/name/,
        ],
        [
          "duplicate email",
          (d) => void d.users.push({ email: "BOB@example.com" }),
          /\/users\/1\/email/,
        ],
        [
          "not a hash",
          (d) => {
            d.devices[0].credentialHash = "plaintext-pw";
          },
          /credentialHash/,
        ],
        [
          "colon in a device name",
          (d) => {
            d.devices[0].name = "a:b";
          },
          /\/devices\/0\/name/,
        ],
      ];
      for (const [what, change, path] of variants) {
        const doc = structuredClone(base);
        doc.lists = [...(doc.lists ?? [])];
        change(doc);
        doc.users[0].groups = ["changed-by-a-refused-import"];
        const r = await api("PUT", "/config/export", YAML.stringify(doc), YAML_TYPE);
        assert.equal(r.statusCode, 422, `${what}: ${r.body}`);
        assert.match(r.body, path, what);
        assert.ok(!r.body.includes("scrypt$"), `${what}: the error does not echo a hash`);
      }
      const u = (await api("GET", `/identities/users/${userId}`)).json();
      assert.deepEqual(u.groups, ["staff", "admins"]);
      assert.equal((await api("GET", "/identities/devices")).json().items.length, 1);
    });

    it("removes devices when the document lists none", async () => {
      const doc = YAML.parse((await api("GET", "/config/export")).body);
      doc.devices = [];
      const imp = await api("PUT", "/config/export", YAML.stringify(doc), YAML_TYPE);
      assert.equal(imp.statusCode, 200, imp.body);
      assert.equal((await api("GET", "/identities/devices")).json().items.length, 0);
      assert.equal((await published(api)).identities!.devices.length, 0);
    });

    it("removes a user's proxy password: gone from the bundle, audited, then issuable again", async () => {
      const listed = await api("GET", "/identities/users");
      assert.equal(listed.json().items[0].hasCredential, true);
      const current = await api("GET", `/identities/users/${userId}`);
      const stale = await api("DELETE", `/identities/users/${userId}/credential`, undefined, {
        "if-match": `"${current.json().version + 1}"`,
      });
      assert.equal(stale.statusCode, 412, stale.body);
      assert.equal(
        await verifySecret(password, (await published(api)).identities!.users[0]!.credentialHash!),
        true,
      );

      const r = await api("DELETE", `/identities/users/${userId}/credential`, undefined, {
        "if-match": current.headers.etag as string,
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().hasCredential, false);
      assert.equal(r.json().email, "bob@example.com");
      assert.equal(r.json().version, current.json().version + 1);
      assert.ok(!r.body.includes("scrypt"));
      assert.equal((await published(api)).identities!.users[0]!.credentialHash, undefined);
      assert.equal((await api("GET", "/identities/users")).json().items[0].hasCredential, false);

      const audit = await api("GET", "/audit?resource=user&action=remove-credential");
      assert.equal(audit.statusCode, 200, audit.body);
      const entries = audit.json().items;
      assert.equal(entries.length, 1);
      assert.equal(entries[0].resourceId, userId);
      assert.equal(entries[0].before.hasCredential, true);
      assert.equal(entries[0].after.hasCredential, false);
      assert.ok(!audit.body.includes("scrypt"), "no hash in the audit log");

      // Already without one: answered as is, nothing written.
      const again = await api("DELETE", `/identities/users/${userId}/credential`);
      assert.equal(again.statusCode, 200, again.body);
      assert.equal(again.json().version, r.json().version);
      assert.equal(
        (await api("GET", "/audit?resource=user&action=remove-credential")).json().items.length,
        1,
      );
      const missing = await api("DELETE", "/identities/users/usr_missing/credential");
      assert.equal(missing.statusCode, 404, missing.body);

      const c = await api("POST", `/identities/users/${userId}/credential`);
      assert.equal(c.statusCode, 200, c.body);
      assert.equal(c.json().hasCredential, true);
      const hash = (await published(api)).identities!.users[0]!.credentialHash!;
      assert.equal(await verifySecret(c.json().credential, hash), true);
      assert.equal(await verifySecret(password, hash), false);
    });
  });
}
