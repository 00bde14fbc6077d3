// Resource API behaviour (policies, lists, locations, identities, settings, audit) against
// PGlite and PostgreSQL.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

for (const b of BACKENDS) {
  describe(`resources (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    const api = (method: string, url: string, body?: unknown, headers?: Record<string, string>) =>
      call(t.app, t.token, method as "GET", `/api/v1${url}`, body, headers);
    before(async () => {
      t = await openTestApp(b.name);
    });
    after(async () => t?.close());

    it("creates, reads, pages, updates and deletes policies", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await api("POST", "/policies", {
          name: `p${i}`,
          type: "dns",
          expression: `dns.fqdn == "h${i}.example"`,
          action: "block",
        });
        assert.equal(r.statusCode, 201, r.body);
        assert.equal(r.headers.etag, '"1"');
        const body = r.json();
        assert.equal(body.precedence, (i + 1) * 1000, "default precedence steps by 1000");
        assert.equal(body.enabled, true);
        assert.match(body.createdAt, /^\d{4}-\d\d-\d\dT/);
        ids.push(body.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await api("GET", `/policies?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
        assert.equal(r.statusCode, 200, r.body);
        const page = r.json();
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((p: { id: string }) => p.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, ids);

      // a cached page is dropped when the account changes
      const cached = (await api("GET", "/policies")).json().items.length;
      const extra = await api("POST", "/policies", {
        name: "extra",
        type: "dns",
        expression: 'dns.fqdn == "extra"',
        action: "block",
      });
      assert.equal((await api("GET", "/policies")).json().items.length, cached + 1);
      assert.equal((await api("DELETE", `/policies/${extra.json().id}`)).statusCode, 204);
      assert.equal((await api("GET", "/policies")).json().items.length, cached);

      const g = await api("GET", `/policies/${ids[0]}`);
      assert.equal(g.json().name, "p0");
      const etag = g.headers.etag as string;
      const u = await api(
        "PATCH",
        `/policies/${ids[0]}`,
        { name: "renamed", enabled: false },
        { "if-match": etag },
      );
      assert.equal(u.statusCode, 200, u.body);
      assert.equal(u.json().version, 2);
      assert.equal(u.json().enabled, false);
      const stale = await api(
        "PATCH",
        `/policies/${ids[0]}`,
        { name: "again" },
        { "if-match": etag },
      );
      assert.equal(stale.statusCode, 412, stale.body);
      assert.equal(stale.json().error.code, "GH_ERR_PRECONDITION_FAILED");
      const filtered = await api("GET", "/policies?enabled=false");
      assert.deepEqual(
        filtered.json().items.map((p: { id: string }) => p.id),
        [ids[0]],
      );

      const d = await api("DELETE", `/policies/${ids[4]}`);
      assert.equal(d.statusCode, 204);
      assert.equal((await api("GET", `/policies/${ids[4]}`)).statusCode, 404);
    });

    it("answers 422 with kind, message and span for invalid expressions", async () => {
      const r = await api("POST", "/policies", {
        name: "bad",
        type: "dns",
        expression: 'dns.fqdn == "a" and dns.nope == 1',
        action: "block",
      });
      assert.equal(r.statusCode, 422, r.body);
      const e = r.json().error;
      assert.equal(e.code, "GH_ERR_INVALID_RULE");
      assert.equal(
        e.details.kind,
        "UnknownIdentifier",
        "spec §2.3: an unknown field in an expression",
      );
      assert.equal(e.details.span.start, 'dns.fqdn == "a" and '.length);
      assert.equal(typeof e.message, "string");
      // an http field in a dns policy is unknown to the dns scheme
      const wrongScheme = await api("POST", "/policies", {
        name: "x",
        type: "dns",
        expression: 'http.request.uri.path == "/"',
        action: "block",
      });
      assert.equal(wrongScheme.statusCode, 422);
    });

    it("checks list references: unknown list and wrong list type are 422", async () => {
      const unknown = await api("POST", "/policies", {
        name: "u",
        type: "dns",
        expression: "dns.fqdn in $nope",
        action: "block",
      });
      assert.equal(unknown.statusCode, 422, unknown.body);
      assert.equal(unknown.json().error.details.kind, "UnknownIdentifier");
      const l = await api("POST", "/lists", {
        name: "bad-ips",
        type: "ip",
        items: ["10.0.0.0/8", "192.0.2.1"],
      });
      assert.equal(l.statusCode, 201, l.body);
      assert.equal(l.json().itemCount, 2);
      const wrong = await api("POST", "/policies", {
        name: "w",
        type: "dns",
        expression: "dns.fqdn in $bad-ips",
        action: "block",
      });
      assert.equal(wrong.statusCode, 422, wrong.body);
      assert.equal(wrong.json().error.details.kind, "TypeMismatch");
      const ok = await api("POST", "/policies", {
        name: "ok",
        type: "dns",
        expression: "dns.src_ip in $bad-ips",
        action: "block",
        precedence: 7,
      });
      assert.equal(ok.statusCode, 201, ok.body);
      // the list is in use: cannot be deleted or renamed
      const del = await api("DELETE", `/lists/${l.json().id}`);
      assert.equal(del.statusCode, 409, del.body);
      const ren = await api("PATCH", `/lists/${l.json().id}`, { name: "other" });
      assert.equal(ren.statusCode, 409, ren.body);
    });

    it("refuses a duplicate precedence per type with 409, allows it across types", async () => {
      const a = await api("POST", "/policies", {
        name: "a",
        type: "http",
        expression: 'http.request.host == "a"',
        action: "block",
        precedence: 5,
      });
      assert.equal(a.statusCode, 201, a.body);
      const dup = await api("POST", "/policies", {
        name: "b",
        type: "http",
        expression: 'http.request.host == "b"',
        action: "block",
        precedence: 5,
      });
      assert.equal(dup.statusCode, 409, dup.body);
      assert.equal(dup.json().error.code, "GH_ERR_CONFLICT");
      const other = await api("POST", "/policies", {
        name: "c",
        type: "net",
        expression: "net.dst.port == 22",
        action: "block",
        precedence: 5,
      });
      assert.equal(other.statusCode, 201, other.body);
    });

    it("validates actions and settings per type", async () => {
      const r = await api("POST", "/policies", {
        name: "x",
        type: "net",
        expression: "net.dst.port == 22",
        action: "safesearch",
      });
      assert.equal(r.statusCode, 422);
      assert.equal(r.json().error.code, "GH_ERR_VALIDATION");
      const o = await api("POST", "/policies", {
        name: "x",
        type: "dns",
        expression: 'dns.fqdn == "x"',
        action: "override",
      });
      assert.equal(o.statusCode, 422);
      const tz = await api("POST", "/policies", {
        name: "x",
        type: "dns",
        expression: 'dns.fqdn == "x"',
        action: "block",
        schedule: {
          timeZone: "Mars/Olympus",
          windows: [{ days: ["mon"], start: "09:00", end: "17:00" }],
        },
      });
      assert.equal(tz.statusCode, 422, tz.body);
      const good = await api("POST", "/policies", {
        name: "work hours",
        type: "dns",
        expression: 'dns.fqdn == "games.example"',
        action: "block",
        schedule: {
          timeZone: "Europe/Berlin",
          windows: [{ days: ["mon", "tue"], start: "09:00", end: "17:00" }],
        },
        settings: { blockMode: "nxdomain", ttl: 30 },
      });
      assert.equal(good.statusCode, 201, good.body);
      assert.equal(good.json().schedule.timeZone, "Europe/Berlin");
      // Overnight windows (docs/configuration.md): past midnight, owned by the starting day.
      const overnight = { days: ["fri", "sun"], start: "22:00", end: "06:00" };
      const night = await api("POST", "/policies", {
        name: "nights",
        type: "dns",
        expression: 'dns.fqdn == "night.example"',
        action: "block",
        schedule: { timeZone: "Europe/Berlin", windows: [overnight] },
      });
      assert.equal(night.statusCode, 201, night.body);
      assert.deepEqual(night.json().schedule.windows, [overnight]);
      const day = await api("POST", "/policies", {
        name: "a whole day from 23:30",
        type: "dns",
        expression: 'dns.fqdn == "day.example"',
        action: "block",
        schedule: {
          timeZone: "Europe/Berlin",
          windows: [{ days: ["sat"], start: "23:30", end: "23:30" }],
        },
      });
      assert.equal(day.statusCode, 201, day.body);
    });

    it("replays a create under the same Idempotency-Key and refuses reuse with another body", async () => {
      const body = { name: "idem", type: "dns", expression: 'dns.fqdn == "idem"', action: "block" };
      const h = { "idempotency-key": "create-idem-1" };
      const a = await api("POST", "/policies", body, h);
      const again = await api("POST", "/policies", body, h);
      assert.equal(a.statusCode, 201);
      assert.equal(again.statusCode, 201);
      assert.equal(again.json().id, a.json().id);
      assert.equal(again.headers["idempotent-replayed"], "true");
      const other = await api("POST", "/policies", { ...body, name: "other" }, h);
      assert.equal(other.statusCode, 422);
    });

    it("adds list items in bulk from JSON and hosts/adblock text, removes and pages them", async () => {
      const l = await api("POST", "/lists", { name: "ads", type: "domain" });
      assert.equal(l.statusCode, 201, l.body);
      const id = l.json().id;
      const j = await api(
        "POST",
        `/lists/${id}/items`,
        '["a.example", "B.Example.", "a.example"]',
        { "content-type": "application/json" },
      );
      assert.equal(j.statusCode, 200, j.body);
      const clean = { invalid: 0, unsupported: 0, rejected: [] };
      assert.deepEqual(j.json(), { changed: 2, skipped: 0, itemCount: 2, ...clean });
      const text = [
        "# hosts file",
        "127.0.0.1 localhost",
        "0.0.0.0 tracker.example ads.tracker.example",
        "||adblock.example^",
        "@@||allowed.example^",
        "||with-options.example^$third-party",
        "plain.example",
        "",
      ].join("\n");
      const t2 = await api("POST", `/lists/${id}/items`, text, { "content-type": "text/plain" });
      assert.equal(t2.statusCode, 200, t2.body);
      // The exception is kept as `@@||name^` (the edge files it under `ads.allow`); the rule
      // with a browser-only option and the hosts boilerplate are skipped.
      assert.equal(t2.json().changed, 5);
      assert.equal(t2.json().itemCount, 7);
      assert.equal(t2.json().skipped, 3);
      assert.equal(t2.json().unsupported, 1);
      const p1 = await api("GET", `/lists/${id}/items?limit=4`);
      assert.deepEqual(p1.json().items, [
        "@@||allowed.example^",
        "a.example",
        "adblock.example",
        "ads.tracker.example",
      ]);
      const p2 = await api("GET", `/lists/${id}/items?limit=4&cursor=${p1.json().nextCursor}`);
      assert.deepEqual(p2.json().items, ["b.example", "plain.example", "tracker.example"]);
      assert.equal(p2.json().nextCursor, null);
      const rm = await api(
        "POST",
        `/lists/${id}/items/remove`,
        '["a.example","missing.example","@@||allowed.example^"]',
        { "content-type": "application/json" },
      );
      assert.deepEqual(rm.json(), { changed: 2, skipped: 0, itemCount: 5, ...clean });
      // A line a domain list cannot use never fails the upload: skipped, counted, named.
      const bad = await api("POST", `/lists/${id}/items`, "good.example\nnot a domain!\n", {
        "content-type": "text/plain",
      });
      assert.equal(bad.statusCode, 200, bad.body);
      assert.equal(bad.json().itemCount, 6);
      assert.equal(bad.json().invalid, 1);
      assert.equal(bad.json().rejected[0].line, 2);
      assert.equal(bad.json().rejected[0].text, "not a domain!");
      const view = (await api("GET", `/lists/${id}`)).json();
      assert.equal(view.itemCount, 6);
      assert.equal(view.importStatus.rejected[0].line, 2);
      const rep = await api("PUT", `/lists/${id}/items`, "only.example\n", {
        "content-type": "text/plain",
      });
      assert.deepEqual(rep.json(), { changed: 1, skipped: 0, itemCount: 1, ...clean });
    });

    it("validates items per list type", async () => {
      const ints = await api("POST", "/lists", {
        name: "ports",
        type: "int",
        items: [22, "23", 8080],
      });
      assert.equal(ints.statusCode, 201, ints.body);
      const items = await api("GET", `/lists/${ints.json().id}/items`);
      assert.deepEqual(items.json().items, [22, 23, 8080]);
      const badInt = await api("POST", "/lists", { name: "p2", type: "int", items: ["x"] });
      assert.equal(badInt.statusCode, 422);
      const badIp = await api("POST", "/lists", { name: "i2", type: "ip", items: ["10.0.0.0/33"] });
      assert.equal(badIp.statusCode, 422);
      const dup = await api("POST", "/lists", { name: "ports", type: "int" });
      assert.equal(dup.statusCode, 409);
      const badName = await api("POST", "/lists", { name: "Has Spaces", type: "int" });
      assert.equal(badName.statusCode, 400);
    });

    it("manages locations with generated DoH tokens and validated networks", async () => {
      const r = await api("POST", "/locations", {
        name: "office",
        networks: ["192.0.2.0/24", "2001:DB8::/32"],
        dotLabel: "office",
      });
      assert.equal(r.statusCode, 201, r.body);
      const loc = r.json();
      assert.match(loc.dohToken, /^[A-Za-z0-9_-]{16,}$/);
      assert.deepEqual(loc.networks, ["192.0.2.0/24", "2001:db8::/32"]);
      const rot = await api("POST", `/locations/${loc.id}/rotate-doh-token`);
      assert.equal(rot.statusCode, 200, rot.body);
      assert.notEqual(rot.json().dohToken, loc.dohToken);
      const bad = await api("POST", "/locations", { name: "x", networks: ["300.1.1.1"] });
      assert.equal(bad.statusCode, 422);
      const dupLabel = await api("POST", "/locations", { name: "y", dotLabel: "office" });
      assert.equal(dupLabel.statusCode, 409);
    });

    it("manages users and devices; a device credential is shown once and stored hashed", async () => {
      const u = await api("POST", "/identities/users", {
        email: "Ann@Example.com",
        name: "Ann",
        groups: ["staff"],
      });
      assert.equal(u.statusCode, 201, u.body);
      assert.equal(u.json().email, "ann@example.com");
      const d = await api("POST", "/identities/devices", {
        name: "ann-laptop",
        userId: u.json().id,
      });
      assert.equal(d.statusCode, 201, d.body);
      assert.match(d.json().credential, /^ghd_/);
      const g = await api("GET", `/identities/devices/${d.json().id}`);
      assert.equal(g.json().credential, undefined);
      const row = await t.app.gatehouse.db
        .selectFrom("identity_devices")
        .select("credential_hash")
        .where("id", "=", d.json().id)
        .executeTakeFirstOrThrow();
      assert.match(row.credential_hash, /^scrypt\$/);
      assert.ok(!row.credential_hash.includes(d.json().credential));
      const badUser = await api("POST", "/identities/devices", {
        name: "x",
        userId: "usr_missing",
      });
      assert.equal(badUser.statusCode, 422);
    });

    it("DNSSEC: resolver trust anchors are checked (the line named), a location may turn validation off; both reach the bundle", async () => {
      const anchors =
        ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";
      const bad = await api("PUT", "/resolver", {
        upstreams: [],
        dnssec: { trustAnchors: `${anchors}example. IN A 192.0.2.1\n` },
      });
      assert.equal(bad.statusCode, 422);
      assert.match(bad.body, /trust anchor line 2: only DS and DNSKEY/);
      assert.match(bad.body, /\/dnssec\/trustAnchors/);
      const empty = await api("PUT", "/resolver", {
        upstreams: [],
        dnssec: { trustAnchors: "; none\n" },
      });
      assert.equal(empty.statusCode, 422);
      const dnssec = {
        validate: true,
        trustAnchors: anchors,
        negativeTrustAnchors: ["corp.example"],
      };
      const ok = await api("PUT", "/resolver", { upstreams: [], dnssec });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual((await api("GET", "/resolver")).json().dnssec, dnssec);
      const loc = await api("POST", "/locations", { name: "lab", dnssec: { validate: false } });
      assert.equal(loc.statusCode, 201, loc.body);
      assert.deepEqual(loc.json().dnssec, { validate: false });
      const pub = await api("POST", "/config/publish", {});
      assert.equal(pub.statusCode, 200, pub.body);
      const bundle = (await api("GET", `/config/versions/${pub.json().version}`)).json();
      assert.deepEqual(bundle.resolver.dnssec, dnssec);
      assert.deepEqual(
        bundle.locations.find((l: { id: string }) => l.id === loc.json().id).dnssec,
        { validate: false },
      );
      const on = await api("PATCH", `/locations/${loc.json().id}`, { dnssec: { validate: true } });
      assert.equal(on.statusCode, 200, on.body);
      assert.equal(on.json().dnssec, undefined, "validating is the default, not shown");
      assert.equal((await api("DELETE", `/locations/${loc.json().id}`)).statusCode, 204);
    });

    it("replaces resolver settings and account settings under If-Match", async () => {
      const g = await api("GET", "/resolver");
      assert.equal(g.statusCode, 200);
      const etag = g.headers.etag as string;
      const body = {
        upstreams: [{ address: "tls://1.1.1.1:853", serverName: "cloudflare-dns.com" }],
        strategy: "fastest",
        cache: { maxEntries: 1000 },
      };
      const p = await api("PUT", "/resolver", body, { "if-match": etag });
      assert.equal(p.statusCode, 200, p.body);
      assert.deepEqual((await api("GET", "/resolver")).json(), body);
      assert.equal((await api("PUT", "/resolver", body, { "if-match": etag })).statusCode, 412);
      const bad = await api("PUT", "/resolver", { upstreams: [{ address: "ftp://x" }] });
      assert.equal(bad.statusCode, 422);
      // Upstream trust: PEM text travels in the bundle; a path on the edges' disks does not.
      const caFile = await api("PUT", "/resolver", {
        upstreams: [{ address: "tls://10.0.0.53:853", caFile: "/etc/ca.pem" }],
      });
      assert.equal(caFile.statusCode, 422);
      assert.match(caFile.body, /send the CA's PEM text as ca/);
      const caOnUdp = await api("PUT", "/resolver", {
        upstreams: [{ address: "udp://10.0.0.53:53", ca: "x" }],
      });
      assert.equal(caOnUdp.statusCode, 422);
      const notPem = await api("PUT", "/resolver", {
        upstreams: [{ address: "tls://10.0.0.53:853", ca: "not a certificate" }],
      });
      assert.equal(notPem.statusCode, 422);
      assert.match(notPem.body, /no PEM certificate/);
      const s = await api("PUT", "/settings", {
        allowUnknownClients: true,
        proxy: { connectPorts: [443, 8443] },
      });
      assert.equal(s.statusCode, 200, s.body);
      assert.equal((await api("GET", "/settings")).json().allowUnknownClients, true);
    });

    it("records every change in the audit log, filterable", async () => {
      const r = await api("GET", "/audit?resource=policy&action=update");
      assert.equal(r.statusCode, 200, r.body);
      const items = r.json().items;
      assert.ok(items.length >= 1);
      assert.equal(items[0].before.name, "p0");
      assert.equal(items[0].after.name, "renamed");
      assert.match(items[0].actor, /^token:/);
      const all = await api("GET", "/audit?limit=3");
      assert.equal(all.json().items.length, 3);
      const next = await api("GET", `/audit?limit=3&cursor=${all.json().nextCursor}`);
      assert.ok(Number(next.json().items[0].id) < Number(all.json().items[2].id));
      const future = await api(
        "GET",
        `/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      );
      assert.deepEqual(future.json().items, []);
    });
  });
}
