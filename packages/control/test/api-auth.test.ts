// Safe by default, generated from the route table so no route is forgotten: every route
// answers 401 without a token, 404 for another account's resources, 403 for a role that may
// not. Plus token lifecycle (hashing, expiry, revocation, operator token) and the failed-auth
// rate limit.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { RouteEntry } from "../src/app.ts";
import type { AccessLevel } from "../src/context.ts";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

/** Bodies that pass validation, so a 404 comes from the account scoping, not from a 400. */
const BODIES: Record<string, { body?: unknown; type?: string }> = {
  "PATCH /api/v1/policies/:id": { body: { name: "x" } },
  "PATCH /api/v1/lists/:id": { body: { description: "x" } },
  "POST /api/v1/lists/:id/items": { body: "x.example\n", type: "text/plain" },
  "POST /api/v1/lists/:id/items/remove": { body: "x.example\n", type: "text/plain" },
  "PUT /api/v1/lists/:id/items": { body: "x.example\n", type: "text/plain" },
  "PATCH /api/v1/locations/:id": { body: { name: "x" } },
  "PUT /api/v1/local-zones/:id": { body: { name: "lan.test", zone: "a A 192.0.2.1" } },
  "PATCH /api/v1/identities/users/:id": { body: { name: "x" } },
  "PATCH /api/v1/identities/devices/:id": { body: { name: "x" } },
  "PUT /api/v1/lists/:id/subscription": { body: { url: "http://127.0.0.1:9/list.txt" } },
  "PUT /api/v1/edges/:id/pin": { body: { version: 1 } },
  "PUT /api/v1/edges/:id/labels": { body: { labels: { site: "a" } } },
  "PUT /api/v1/config/tests": { body: { tests: [] } },
  "PUT /api/v1/rollout-plan": { body: { stages: [{ name: "all", bakeSeconds: 0 }] } },
  "PUT /api/v1/users/:id/password": { body: { password: "long enough password" } },
  "PUT /api/v1/clients/:id/settings": {
    body: { blocking: true, safeSearch: false, skipPolicies: [] },
  },
};

const RANK = { viewer: 1, editor: 2, admin: 3 } as const;

/**
 * Who may call each guarded route (docs/api.md, "Roles"): a route whose level changes, or a new
 * route, must change this table too. `system`: admins of the system account; `edge`: an edge
 * credential. Secrets, proxy credential hashes included, are for admins only: the YAML export
 * and whole bundles carry them, so both are `admin`.
 */
const ROLE_TABLE: Readonly<Record<Exclude<AccessLevel, "public">, readonly string[]>> = {
  viewer: [
    "GET /api/v1/account",
    "GET /api/v1/audit",
    "GET /api/v1/auth/session",
    "GET /api/v1/client-names",
    "GET /api/v1/clients/:id",
    "POST /api/v1/auth/logout",
    "PUT /api/v1/auth/password",
    "GET /api/v1/config/check",
    "GET /api/v1/config/preview",
    "GET /api/v1/config/tests",
    "POST /api/v1/config/check",
    "GET /api/v1/config/versions",
    "GET /api/v1/config/versions/:from/diff/:to",
    "GET /api/v1/edges",
    "GET /api/v1/edges/:id",
    "GET /api/v1/edges/versions",
    "GET /api/v1/rollout-plan",
    "GET /api/v1/rollouts",
    "GET /api/v1/rollouts/:id",
    "GET /api/v1/identities/devices",
    "GET /api/v1/identities/devices/:id",
    "GET /api/v1/identities/users",
    "GET /api/v1/identities/users/:id",
    "GET /api/v1/lists",
    "GET /api/v1/lists/:id",
    "GET /api/v1/lists/:id/items",
    "GET /api/v1/lists/:id/policies",
    "GET /api/v1/lists/:id/subscription",
    "GET /api/v1/local-zones",
    "GET /api/v1/local-zones/:id",
    "GET /api/v1/locations",
    "GET /api/v1/locations/:id",
    "GET /api/v1/locations/:id/connect",
    "GET /api/v1/locations/:id/connect/apple-profile",
    "GET /api/v1/pause",
    "GET /api/v1/policies",
    "GET /api/v1/policies/:id",
    "GET /api/v1/resolver",
    "GET /api/v1/settings",
    "GET /api/v1/tls/ca",
    "GET /api/v1/whoami",
    "POST /api/v1/policies/validate",
  ],
  editor: [
    "POST /api/v1/client-names",
    "DELETE /api/v1/client-names/:id",
    "PUT /api/v1/clients/:id/settings",
    "DELETE /api/v1/identities/devices/:id",
    "DELETE /api/v1/identities/users/:id",
    "DELETE /api/v1/identities/users/:id/credential",
    "DELETE /api/v1/lists/:id",
    "DELETE /api/v1/lists/:id/subscription",
    "DELETE /api/v1/local-zones/:id",
    "DELETE /api/v1/locations/:id",
    "DELETE /api/v1/policies/:id",
    "PATCH /api/v1/identities/devices/:id",
    "PATCH /api/v1/identities/users/:id",
    "PATCH /api/v1/lists/:id",
    "PATCH /api/v1/locations/:id",
    "PATCH /api/v1/policies/:id",
    "POST /api/v1/config/publish",
    "PUT /api/v1/config/tests",
    "POST /api/v1/identities/devices",
    "POST /api/v1/identities/devices/:id/credential",
    "POST /api/v1/identities/devices/:id/doh-token",
    "DELETE /api/v1/identities/devices/:id/doh-token",
    "POST /api/v1/identities/users",
    "POST /api/v1/identities/users/:id/credential",
    "POST /api/v1/lists",
    "POST /api/v1/lists/:id/items",
    "POST /api/v1/lists/:id/items/remove",
    "POST /api/v1/lists/:id/subscription/refresh",
    "POST /api/v1/local-zones",
    "POST /api/v1/locations",
    "POST /api/v1/locations/:id/rotate-doh-token",
    "POST /api/v1/pause",
    "POST /api/v1/pause/resume",
    "POST /api/v1/policies",
    "POST /api/v1/quick-rules",
    "POST /api/v1/quick-rules/remove",
    "PUT /api/v1/lists/:id/items",
    "PUT /api/v1/lists/:id/subscription",
    "PUT /api/v1/local-zones/:id",
    "PUT /api/v1/resolver",
    "PUT /api/v1/settings",
  ],
  admin: [
    "POST /api/v1/config/plan",
    "DELETE /api/v1/edges/:id",
    "DELETE /api/v1/edges/:id/pin",
    "DELETE /api/v1/rollout-plan",
    "POST /api/v1/rollouts/:id/abort",
    "POST /api/v1/rollouts/:id/pause",
    "POST /api/v1/rollouts/:id/promote",
    "POST /api/v1/rollouts/:id/resume",
    "PUT /api/v1/edges/:id/labels",
    "PUT /api/v1/rollout-plan",
    "DELETE /api/v1/tokens/:id",
    "GET /api/v1/config/export",
    "GET /api/v1/config/versions/:version",
    "GET /api/v1/tokens",
    "POST /api/v1/config/rollback",
    "POST /api/v1/edges/:id/activate",
    "POST /api/v1/edges/:id/drain",
    "POST /api/v1/edges/join-tokens",
    "POST /api/v1/import/adguardhome",
    "POST /api/v1/import/blocky",
    "POST /api/v1/import/pihole",
    "POST /api/v1/tokens",
    "PUT /api/v1/config/export",
    "PUT /api/v1/edges/:id/pin",
    "PUT /api/v1/tls/ca",
    "GET /api/v1/users",
    "POST /api/v1/users",
    "PUT /api/v1/users/:id/password",
    "DELETE /api/v1/users/:id",
  ],
  system: ["GET /api/v1/accounts", "GET /metrics", "POST /api/v1/accounts"],
  edge: [
    "GET /api/v1/edge/config",
    "POST /api/v1/edge/config-status",
    "POST /api/v1/edge/heartbeat",
    "POST /api/v1/edge/tls/intermediate",
  ],
};

type Caller = "none" | "viewer" | "editor" | "admin" | "other account's admin" | "edge";

/** The answer a caller gets from a route of that access level: allowed, or 401 / 403. */
function expectedAnswer(access: AccessLevel, who: Caller): "allow" | 401 | 403 {
  if (who === "none") return 401;
  if (access === "edge") return who === "edge" ? "allow" : 401;
  if (who === "edge") return 401; // an edge credential is no API token
  if (access === "system") return who === "admin" ? "allow" : 403;
  const role = who === "other account's admin" ? "admin" : who;
  if (access === "public") return "allow";
  return RANK[role] >= RANK[access] ? "allow" : 403;
}

for (const b of BACKENDS) {
  describe(`auth on every route (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let otherAdmin = "";
    let edgeCredential = "";
    let tokens: Record<"viewer" | "editor" | "admin", string>;
    let sessions: Record<"viewer" | "admin", { cookie: string; csrf: string }>;
    const ids: Record<string, string> = {};
    const api = (
      token: string,
      method: string,
      url: string,
      body?: unknown,
      headers?: Record<string, string>,
    ) => call(t.app, token, method as "GET", url, body, headers);

    before(async () => {
      t = await openTestApp(b.name, { auth: { maxFailures: 1_000_000 } });
      const A = (m: string, u: string, body?: unknown) => api(t.token, m, `/api/v1${u}`, body);
      const mk = async (role: string) =>
        (await A("POST", "/tokens", { name: role, role })).json().token as string;
      tokens = { viewer: await mk("viewer"), editor: await mk("editor"), admin: t.token };
      ids.list = (
        await A("POST", "/lists", { name: "l", type: "domain", items: ["a.example"] })
      ).json().id;
      ids.policy = (
        await A("POST", "/policies", {
          name: "p",
          type: "dns",
          expression: "dns.fqdn in $l",
          action: "block",
        })
      ).json().id;
      ids.location = (await A("POST", "/locations", { name: "loc" })).json().id;
      ids.zone = (
        await A("POST", "/local-zones", { name: "lan.test", zone: "a A 192.0.2.1" })
      ).json().id;
      ids.user = (await A("POST", "/identities/users", { email: "a@example.com" })).json().id;
      ids.device = (await A("POST", "/identities/devices", { name: "dev" })).json().id;
      ids.token = (await A("GET", "/tokens"))
        .json()
        .items.find((x: { name: string }) => x.name === "viewer").id;
      // A user with a proxy password too: bundles and the export then hold credential hashes.
      const cred = await A("POST", `/identities/users/${ids.user}/credential`);
      assert.equal(cred.statusCode, 200, cred.body);
      await A("POST", "/config/publish");
      await A("POST", "/config/publish", { force: true });
      const join = (await A("POST", "/edges/join-tokens")).json().joinToken;
      const enrolled = (
        await call(t.app, undefined, "POST", "/api/v1/edge/enroll", { joinToken: join, name: "e1" })
      ).json();
      ids.edge = enrolled.edgeId;
      edgeCredential = enrolled.credential;
      const acc = await A("POST", "/accounts", { name: "other" });
      assert.equal(acc.statusCode, 201, acc.body);
      otherAdmin = acc.json().adminToken;
      // Dashboard sessions: the first admin, and a viewer an admin added.
      const viewerUser = await A("POST", "/users", {
        username: "viewer",
        role: "viewer",
        password: "viewer password",
      });
      assert.equal(viewerUser.statusCode, 201, viewerUser.body);
      ids.dashboardUser = viewerUser.json().id;
      const named = await A("POST", "/client-names", { client: "192.0.2.77", name: "kitchen" });
      assert.equal(named.statusCode, 200, named.body);
      ids.clientName = named.json().client;
      const signIn = async (username: string, password: string) => {
        const r = await call(t.app, undefined, "POST", "/api/v1/auth/login", {
          username,
          password,
        });
        assert.equal(r.statusCode, 200, r.body);
        const set = ([] as string[]).concat(r.headers["set-cookie"] ?? []);
        const cookie = set.find((c) => c.startsWith("gh_session="))!.split(";")[0]!;
        return { cookie, csrf: r.json().csrfToken as string };
      };
      sessions = {
        admin: await signIn("admin", t.app.gatehouse.adminPassword!),
        viewer: await signIn("viewer", "viewer password"),
      };
    });
    after(async () => t?.close());

    const concrete = (url: string): string =>
      url
        .replace("/policies/:id", `/policies/${ids.policy}`)
        .replace("/lists/:id", `/lists/${ids.list}`)
        .replace("/locations/:id", `/locations/${ids.location}`)
        .replace("/local-zones/:id", `/local-zones/${ids.zone}`)
        .replace("/identities/users/:id", `/identities/users/${ids.user}`)
        .replace("/identities/devices/:id", `/identities/devices/${ids.device}`)
        .replace("/tokens/:id", `/tokens/${ids.token}`)
        .replace(/^\/api\/v1\/users\/:id/, `/api/v1/users/${ids.dashboardUser}`)
        .replace("/client-names/:id", `/client-names/${ids.clientName}`)
        .replace("/clients/:id", `/clients/${ids.clientName}`)
        .replace("/edges/:id", `/edges/${ids.edge}`)
        // Version 2 exists only in the first account (the other may publish its own version 1).
        .replace("/config/versions/:from/diff/:to", "/config/versions/1/diff/2")
        .replace("/config/versions/:version", "/config/versions/2");

    const guarded = (): RouteEntry[] =>
      t.app.gatehouse.routes.filter((r) => r.access !== "public" && r.method !== "HEAD");

    it("every route declares who may call it", () => {
      const undeclared = t.app.gatehouse.routes.filter(
        (r) => !r.access || (r.access as string) === "none",
      );
      assert.deepEqual(undeclared, []);
      assert.ok(guarded().length >= 45, `only ${guarded().length} guarded routes`);
    });

    it("public: the API's docs, health, enrolment, the root CA certificate, and the dashboard's files; nothing else", () => {
      const open = t.app.gatehouse.routes
        .filter((r) => r.access === "public" && r.method !== "HEAD")
        .map((r) => `${r.method} ${r.url}`)
        .filter((r) => !r.startsWith("GET /api/v1/docs"))
        .sort();
      assert.deepEqual(open, [
        "GET /*",
        "GET /api/v1/health",
        "GET /api/v1/openapi.json",
        "GET /api/v1/tls/ca.der",
        "GET /api/v1/tls/ca.pem",
        "POST /api/v1/auth/login",
        "POST /api/v1/edge/enroll",
      ]);
    });

    it("the dashboard's static route serves files but never an API answer without a token", async () => {
      // The UI's page is public; every call it makes goes to a guarded /api route (above).
      const page = await call(t.app, undefined, "GET", "/");
      assert.notEqual(page.statusCode, 401);
      assert.notEqual(page.statusCode, 403);
      for (const url of [
        "/api/v1/policies",
        "/api/v1/lists",
        "/api/v1/analytics/top",
        "/api/v1/x",
      ]) {
        const res = await call(t.app, undefined, "GET", url);
        assert.ok(res.statusCode === 401 || res.statusCode === 404, `${url}: ${res.statusCode}`);
        assert.equal(res.headers["content-type"], "application/json; charset=utf-8", url);
        assert.doesNotMatch(res.body, /<html/i, url);
      }
    });

    it("401 without a token, and with a malformed or unknown one", async () => {
      for (const r of guarded()) {
        const url = concrete(r.url);
        for (const token of [undefined, "nonsense", `ght_0123456789abcdef_${"A".repeat(43)}`]) {
          const res = await call(t.app, token, r.method as "GET", url);
          assert.equal(
            res.statusCode,
            401,
            `${r.method} ${r.url} with ${token ?? "no token"}: ${res.body}`,
          );
          assert.equal(res.json().error.code, "GH_ERR_UNAUTHENTICATED");
        }
      }
    });

    it("403 for a role that may not", async () => {
      let checked = 0;
      for (const r of guarded()) {
        if (r.access === "edge" || r.access === "viewer") continue; // no lesser API role exists
        const need = r.access === "system" ? "admin" : r.access;
        const lesser = (Object.keys(RANK) as (keyof typeof RANK)[]).filter(
          (k) => RANK[k] < RANK[need as keyof typeof RANK],
        );
        for (const role of lesser) {
          const res = await api(tokens[role], r.method, concrete(r.url));
          assert.equal(res.statusCode, 403, `${r.method} ${r.url} as ${role}: ${res.body}`);
          assert.equal(res.json().error.code, "GH_ERR_FORBIDDEN");
          checked++;
        }
        if (r.access === "system") {
          const res = await api(otherAdmin, r.method, concrete(r.url));
          assert.equal(res.statusCode, 403, `${r.method} ${r.url} as another account's admin`);
          checked++;
        }
      }
      assert.ok(checked >= 30, `only ${checked} role checks`);
    });

    it("404 for another account's resources; collections show none of them", async () => {
      const before = (await api(t.token, "GET", "/api/v1/audit?limit=1000")).json().items.length;
      let checked = 0;
      for (const r of guarded()) {
        if (r.access === "edge" || r.access === "system") continue; // edge routes act on the edge's own account; system routes span accounts
        const url = concrete(r.url);
        const spec = BODIES[`${r.method} ${r.url}`];
        const res = await api(
          otherAdmin,
          r.method,
          url,
          spec?.body,
          spec?.type ? { "content-type": spec.type } : {},
        );
        if (r.url.includes(":")) {
          assert.equal(res.statusCode, 404, `${r.method} ${r.url} as another account: ${res.body}`);
          assert.equal(res.json().error.code, "GH_ERR_NOT_FOUND");
          checked++;
        } else if (r.method === "GET" && res.statusCode === 200) {
          for (const id of Object.values(ids))
            assert.ok(!res.body.includes(id), `${r.url} leaks ${id} to another account`);
          checked++;
        }
      }
      assert.ok(checked >= 25, `only ${checked} cross-account checks`);
      const afterCount = (await api(t.token, "GET", "/api/v1/audit?limit=1000")).json().items
        .length;
      assert.equal(afterCount, before, "the other account changed nothing here");
    });

    it("edge routes refuse API tokens", async () => {
      for (const r of guarded().filter((x) => x.access === "edge")) {
        const res = await api(t.token, r.method, r.url);
        assert.equal(res.statusCode, 401, `${r.method} ${r.url}`);
      }
    });

    it("the role table: every guarded route has exactly the access level listed in ROLE_TABLE", () => {
      const actual: Record<string, string[]> = {};
      for (const r of guarded()) {
        actual[r.access] ??= [];
        actual[r.access]!.push(`${r.method} ${r.url}`);
      }
      const sorted = (t: Record<string, readonly string[]>) =>
        Object.fromEntries(
          Object.entries(t)
            .map(([k, v]) => [k, [...v].sort()] as const)
            .sort(([a], [b]) => a.localeCompare(b)),
        );
      assert.deepEqual(sorted(actual), sorted(ROLE_TABLE));
    });

    it("every route × every caller: allowed callers pass authorization, the others get 401 or 403", async () => {
      const callers = {
        none: undefined,
        viewer: tokens.viewer,
        editor: tokens.editor,
        admin: t.token,
        "other account's admin": otherAdmin,
        edge: edgeCredential,
      } as const;
      let allowed = 0;
      let denied = 0;
      for (const r of guarded()) {
        // Ids that do not exist: an allowed call ends in 404 or 400, and changes nothing.
        const url = r.url
          .replace(/:(from|to|version)\b/g, "999999")
          .replace(/:id\b/g, "missing-id")
          .replace(/\/edge\/config$/, "/edge/config?after=0");
        for (const [who, token] of Object.entries(callers)) {
          const expected = expectedAnswer(r.access, who as keyof typeof callers);
          const res = await call(t.app, token, r.method as "GET", url);
          const cell = `${r.method} ${r.url} as ${who}: ${res.statusCode} ${res.body.slice(0, 200)}`;
          if (expected === "allow") {
            assert.ok(![401, 403, 429].includes(res.statusCode), cell);
            allowed++;
          } else {
            assert.equal(res.statusCode, expected, cell);
            denied++;
          }
        }
      }
      assert.ok(allowed >= 150 && denied >= 200, `${allowed} allowed, ${denied} denied cells`);
    });

    it("every route × dashboard sessions: a session has its user's role, never reaches edge routes, and changes nothing without its CSRF token", async () => {
      let allowed = 0;
      let denied = 0;
      for (const r of guarded()) {
        // Sign-out would end the session this test goes on with (api-sign-in.test.ts has it).
        if (r.url === "/api/v1/auth/logout") continue;
        const url = r.url
          .replace(/:(from|to|version)\b/g, "999999")
          .replace(/:id\b/g, "missing-id")
          .replace(/\/edge\/config$/, "/edge/config?after=0");
        const change = r.method !== "GET";
        for (const [who, s, withCsrf] of [
          ["admin", sessions.admin, true],
          ["viewer", sessions.viewer, true],
          ["admin", sessions.admin, false],
        ] as const) {
          const res = await call(t.app, undefined, r.method as "GET", url, undefined, {
            cookie: s.cookie,
            ...(withCsrf ? { "x-csrf-token": s.csrf } : {}),
          });
          const cell = `${r.method} ${r.url} as ${who}'s session${withCsrf ? "" : " without CSRF"}: ${res.statusCode} ${res.body.slice(0, 200)}`;
          const expected =
            r.access === "edge" ? 401 : change && !withCsrf ? 403 : expectedAnswer(r.access, who);
          if (expected === "allow") {
            assert.ok(![401, 403, 429].includes(res.statusCode), cell);
            allowed++;
          } else {
            assert.equal(res.statusCode, expected, cell);
            denied++;
          }
        }
      }
      assert.ok(allowed >= 100 && denied >= 100, `${allowed} allowed, ${denied} denied cells`);
    });

    it("no route a viewer or editor may call answers with a secret; admins get the hashes", async () => {
      const secret = /scrypt\$|credentialHash|ght_|ghe_|ghj_|ghd_/;
      let checked = 0;
      for (const r of guarded()) {
        if (r.method !== "GET" || (r.access !== "viewer" && r.access !== "editor")) continue;
        for (const role of ["viewer", "editor"] as const) {
          if (RANK[role] < RANK[r.access]) continue;
          const res = await api(tokens[role], r.method, concrete(r.url));
          assert.ok(res.statusCode < 500, `${r.url}: ${res.body}`);
          assert.doesNotMatch(res.body, secret, `${r.method} ${r.url} as ${role}`);
          checked++;
        }
      }
      assert.ok(checked >= 40, `only ${checked} reads checked`);
      // The documents that do hold hashes are the admin's only.
      for (const url of ["/api/v1/config/export", "/api/v1/config/versions/2"]) {
        for (const role of ["viewer", "editor"] as const)
          assert.equal((await api(tokens[role], "GET", url)).statusCode, 403, `${url} as ${role}`);
        const res = await api(t.token, "GET", url);
        assert.equal(res.statusCode, 200, res.body);
        assert.match(res.body, /credentialHash/, `${url} as admin carries the hashes`);
      }
    });
  });

  describe(`tokens (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(b.name, { auth: { maxFailures: 3, failureWindowMs: 60_000 } });
    });
    after(async () => t?.close());
    const A = (m: string, u: string, body?: unknown) =>
      call(t.app, t.token, m as "GET", `/api/v1${u}`, body);

    it("stores only scrypt hashes and shows the secret once", async () => {
      const r = await A("POST", "/tokens", { name: "ci", role: "editor" });
      assert.equal(r.statusCode, 201, r.body);
      const { id, token } = r.json();
      assert.match(token, new RegExp(`^ght_${id}_[A-Za-z0-9_-]{43}$`));
      const row = await t.app.gatehouse.db
        .selectFrom("api_tokens")
        .select("secret_hash")
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
      assert.match(row.secret_hash, /^scrypt\$/);
      assert.ok(!row.secret_hash.includes(token.slice(21)));
      const list = await A("GET", "/tokens");
      assert.ok(!list.body.includes(token));
      assert.equal((await call(t.app, token, "GET", "/api/v1/whoami")).json().role, "editor");
    });

    it("never stores a secret for Idempotency-Key replay", async () => {
      for (const [url, body] of [
        ["/tokens", { name: "x", role: "viewer" }],
        ["/accounts", { name: "x" }],
        ["/identities/devices", { name: "d" }],
      ] as const) {
        const r = await call(t.app, t.token, "POST", `/api/v1${url}`, body, {
          "idempotency-key": "k1",
        });
        assert.equal(r.statusCode, 400, `${url}: ${r.body}`);
      }
      const stored = await t.app.gatehouse.db.selectFrom("idempotency_keys").selectAll().execute();
      assert.deepEqual(stored, []);
    });

    it("refuses expired and revoked tokens", async () => {
      const r = (
        await A("POST", "/tokens", { name: "short", role: "viewer", expiresInSeconds: 60 })
      ).json();
      await t.app.gatehouse.db
        .updateTable("api_tokens")
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where("id", "=", r.id)
        .execute();
      assert.equal((await call(t.app, r.token, "GET", "/api/v1/policies")).statusCode, 401);
      const s = (await A("POST", "/tokens", { name: "revoke-me", role: "viewer" })).json();
      assert.equal((await call(t.app, s.token, "GET", "/api/v1/policies")).statusCode, 200);
      assert.equal((await A("DELETE", `/tokens/${s.id}`)).statusCode, 204);
      assert.equal(
        (await call(t.app, s.token, "GET", "/api/v1/policies")).statusCode,
        401,
        "revocation beats the verification cache",
      );
    });

    it("rate-limits failed authentication per client with 429, never the valid", async () => {
      const from = (remoteAddress: string, token: string) =>
        t.app.inject({
          method: "GET",
          url: "/api/v1/policies",
          remoteAddress,
          headers: { authorization: `Bearer ${token}` },
        });
      const bad = `ght_0123456789abcdef_${"B".repeat(43)}`;
      for (let i = 0; i < 3; i++) assert.equal((await from("127.0.0.5", bad)).statusCode, 401);
      const limited = await from("127.0.0.5", bad);
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json().error.code, "GH_ERR_RATE_LIMITED");
      assert.ok(limited.json().error.details.retryAfterSeconds > 0);
      assert.equal(
        limited.headers["retry-after"],
        String(limited.json().error.details.retryAfterSeconds),
      );
      assert.equal((await from("127.0.0.5", t.token)).statusCode, 200, "the valid token is served");
      assert.equal((await from("127.0.0.9", bad)).statusCode, 401, "other clients are not limited");
    });
  });

  describe(`failed authentication never locks out the valid (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let edgeCredential = "";
    let edgeId = "";
    before(async () => {
      t = await openTestApp(b.name, {
        auth: { maxFailures: 3, maxFailuresPerCredential: 3, failureWindowMs: 60_000 },
        longPollTimeoutMs: 50,
      });
      await call(t.app, t.token, "POST", "/api/v1/config/publish", { force: true });
      const join = (await call(t.app, t.token, "POST", "/api/v1/edges/join-tokens")).json();
      const enrolled = (
        await call(t.app, undefined, "POST", "/api/v1/edge/enroll", {
          joinToken: join.joinToken,
          name: "e1",
        })
      ).json();
      edgeCredential = enrolled.credential;
      edgeId = enrolled.edgeId;
    });
    after(async () => t?.close());

    const from = (
      remoteAddress: string,
      token: string,
      url = "/api/v1/policies",
      headers: Record<string, string> = {},
    ) =>
      t.app.inject({
        method: url.startsWith("/api/v1/edge/heartbeat") ? "POST" : "GET",
        url,
        remoteAddress,
        headers: { authorization: `Bearer ${token}`, ...headers },
        ...(url.startsWith("/api/v1/edge/heartbeat")
          ? { payload: { version: "t", configVersion: 0, uptimeSeconds: 1 } }
          : {}),
      });
    /** Forget every earlier verification: the next check of a valid credential is a full one. */
    const forget = () => {
      t.app.gatehouse.auth.apiCache.evictWhere(() => true);
      t.app.gatehouse.auth.edgeCache.evictWhere(() => true);
      t.app.gatehouse.auth.proven.clear();
    };

    it("a valid admin token and a valid edge's poll and heartbeat are served from an address over the limit", async () => {
      const addr = "192.0.2.10";
      // Unknown ids and a known id with a wrong secret: both are failures of this address.
      await from(addr, `ght_0123456789abcdef_${"C".repeat(43)}`);
      await from(addr, "not-a-token");
      const wrongSecret = `${t.token.slice(0, 21)}${"D".repeat(43)}`;
      assert.equal((await from(addr, wrongSecret)).statusCode, 401);
      assert.equal((await from(addr, "not-a-token")).statusCode, 429, "the address is over");
      forget();
      const admin = await from(addr, t.token);
      assert.equal(admin.statusCode, 200, admin.body);
      const poll = await from(addr, edgeCredential, "/api/v1/edge/config?after=0");
      assert.equal(poll.statusCode, 200, poll.body);
      const beat = await from(addr, edgeCredential, "/api/v1/edge/heartbeat");
      assert.equal(beat.statusCode, 200, beat.body);
      // Proven once, they stay served without a new secret check.
      assert.equal((await from(addr, t.token)).statusCode, 200);
      assert.equal((await from(addr, "not-a-token")).statusCode, 429, "failures stay throttled");
    });

    it("failures are limited per credential id across addresses; its holder is still served", async () => {
      const wrong = `ghe_${edgeId}_${"E".repeat(43)}`;
      for (let i = 0; i < 3; i++)
        assert.equal(
          (await from(`198.51.100.${i + 1}`, wrong, "/api/v1/edge/config")).statusCode,
          401,
        );
      const limited = await from("198.51.100.50", wrong, "/api/v1/edge/config");
      assert.equal(limited.statusCode, 429, "a fresh address guessing at the same id");
      assert.match(limited.json().error.message, /credential id/);
      forget();
      const poll = await from("198.51.100.51", edgeCredential, "/api/v1/edge/config?after=0");
      assert.equal(poll.statusCode, 200, poll.body);
    });

    it("a decommissioned edge gets a final 410 GH_ERR_EDGE_DECOMMISSIONED, not counted as guessing", async () => {
      const del = await call(t.app, t.token, "DELETE", `/api/v1/edges/${edgeId}`);
      assert.equal(del.statusCode, 200, del.body);
      const addr = "203.0.113.7";
      for (const url of ["/api/v1/edge/config?after=0", "/api/v1/edge/heartbeat"])
        for (let i = 0; i < 5; i++) {
          const r = await from(addr, edgeCredential, url);
          assert.equal(r.statusCode, 410, `${url}: ${r.body}`);
          assert.equal(r.json().error.code, "GH_ERR_EDGE_DECOMMISSIONED");
        }
      // Ten refusals of its own credential did not put the address over the limit of 3.
      assert.equal((await from(addr, "not-a-token")).statusCode, 401);
      // Someone else's secret under that id is a failure, never the final answer
      const forged = await from(
        "203.0.113.8",
        `ghe_${edgeId}_${"F".repeat(43)}`,
        "/api/v1/edge/config",
      );
      // (429 here: the test above put this id over its limit).
      assert.ok([401, 429].includes(forged.statusCode), forged.body);
      assert.notEqual(forged.json().error.code, "GH_ERR_EDGE_DECOMMISSIONED");
    });

    it("an IPv6 client is one client for its whole /64", async () => {
      for (let i = 1; i <= 3; i++)
        assert.equal((await from(`2001:db8:7:7::${i}`, "not-a-token")).statusCode, 401);
      assert.equal((await from("2001:db8:7:7:ffff::9", "not-a-token")).statusCode, 429);
      assert.equal((await from("2001:db8:7:8::1", "not-a-token")).statusCode, 401, "next /64");
    });

    it("failures and throttling are counted in /metrics", async () => {
      const m = (await call(t.app, t.token, "GET", "/metrics")).body;
      assert.match(
        m,
        /gatehouse_control_auth_failures_total\{credential="api",reason="invalid"\} [1-9]/,
      );
      assert.match(
        m,
        /gatehouse_control_auth_failures_total\{credential="api",reason="malformed"\} [1-9]/,
      );
      assert.match(
        m,
        /gatehouse_control_auth_failures_total\{credential="edge",reason="decommissioned"\} 10/,
      );
      assert.match(
        m,
        /gatehouse_control_auth_throttled_total\{credential="api",by="address"\} [1-9]/,
      );
      assert.match(
        m,
        /gatehouse_control_auth_throttled_total\{credential="edge",by="credential"\} [1-9]/,
      );
    });
  });

  describe(`trusted proxies (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    before(async () => {
      t = await openTestApp(b.name, {
        auth: { maxFailures: 2, failureWindowMs: 60_000 },
        trustedProxies: ["10.0.0.1", "fd00::/64"],
      });
    });
    after(async () => t?.close());
    const bad = (remoteAddress: string, xff?: string) =>
      t.app.inject({
        method: "GET",
        url: "/api/v1/policies",
        remoteAddress,
        headers: { authorization: "Bearer nope", ...(xff ? { "x-forwarded-for": xff } : {}) },
      });

    it("honours X-Forwarded-For from a configured proxy: each client has its own limit", async () => {
      for (let i = 0; i < 2; i++)
        assert.equal((await bad("10.0.0.1", "192.0.2.1")).statusCode, 401);
      assert.equal((await bad("10.0.0.1", "192.0.2.1")).statusCode, 429);
      assert.equal(
        (await bad("10.0.0.1", "192.0.2.2")).statusCode,
        401,
        "another client behind it",
      );
      assert.equal((await bad("fd00::5", "192.0.2.3")).statusCode, 401);
      assert.equal((await bad("fd00::5", "192.0.2.3")).statusCode, 401);
      assert.equal((await bad("fd00::6", "192.0.2.3")).statusCode, 429, "same client, other proxy");
    });

    it("ignores X-Forwarded-For from any other peer", async () => {
      assert.equal((await bad("10.0.0.9", "192.0.2.50")).statusCode, 401);
      assert.equal((await bad("10.0.0.9", "192.0.2.51")).statusCode, 401);
      assert.equal(
        (await bad("10.0.0.9", "192.0.2.52")).statusCode,
        429,
        "a forged header changes nothing",
      );
    });

    it("a bad trusted-proxy entry is a clear error", async () => {
      await assert.rejects(
        openTestApp(b.name, { trustedProxies: ["10.0.0.0/33"] }),
        /trusted proxy "10.0.0.0\/33" is not an IP address or CIDR/,
      );
    });
  });

  describe(`no trusted proxies (${b.name})`, { skip: b.skip }, () => {
    it("X-Forwarded-For is ignored by default", async () => {
      const t = await openTestApp(b.name, { auth: { maxFailures: 1, failureWindowMs: 60_000 } });
      try {
        const bad = (xff: string) =>
          t.app.inject({
            method: "GET",
            url: "/api/v1/policies",
            remoteAddress: "127.0.0.1",
            headers: { authorization: "Bearer nope", "x-forwarded-for": xff },
          });
        assert.equal((await bad("192.0.2.1")).statusCode, 401);
        assert.equal((await bad("192.0.2.2")).statusCode, 429);
      } finally {
        await t.close();
      }
    });
  });

  describe(`operator admin token (${b.name})`, { skip: b.skip }, () => {
    it("takes GATEHOUSE_ADMIN_TOKEN instead of generating one", async () => {
      const operator = "operator-chosen-admin-token-0123456789";
      const t = await openTestApp(b.name, { adminToken: operator });
      try {
        assert.equal(t.app.gatehouse.adminToken, undefined, "nothing generated to print");
        const r = await call(t.app, operator, "GET", "/api/v1/whoami");
        assert.equal(r.statusCode, 200, r.body);
        assert.equal(r.json().role, "admin");
      } finally {
        await t.close();
      }
    });

    it("refuses one shorter than 32 or longer than 128 characters, saying so", async () => {
      await assert.rejects(
        openTestApp(b.name, { adminToken: "x".repeat(31) }),
        /GATEHOUSE_ADMIN_TOKEN must be at least 32 characters/,
      );
      await assert.rejects(
        openTestApp(b.name, { adminToken: "x".repeat(129) }),
        /GATEHOUSE_ADMIN_TOKEN must be 32 to 128 characters long/,
      );
    });
  });
}
