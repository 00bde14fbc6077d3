// Dashboard sign-in with a username and password: the first admin made on first start and
// shown once, scrypt hashes with their parameters, the session cookie's attributes, CSRF on
// changes, sign-out, users and passwords managed by admins and by themselves, the failed sign-in
// limits (per address, per username) that never refuse a right password, and API tokens working
// as before.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { hashSecret, PASSWORD_SCRYPT, verifySecret } from "@gatehouse/contract/secrets";
import type { LightMyRequestResponse } from "fastify";
import { buildApp } from "../src/app.ts";
import {
  BACKENDS,
  call,
  closeSharedPglite,
  openTestApp,
  sharedPglite,
  TEST_PASSWORD_SCRYPT,
  type TestApp,
} from "./helpers.ts";

after(closeSharedPglite);

function setCookies(res: LightMyRequestResponse): string[] {
  const h = res.headers["set-cookie"];
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

/** The `name=value` of a Set-Cookie answer, and its attributes. */
function cookie(res: LightMyRequestResponse, name: string): { pair: string; attrs: string[] } {
  const line = setCookies(res).find((c) => c.startsWith(`${name}=`));
  assert.ok(line, `no ${name} cookie in ${JSON.stringify(setCookies(res))}`);
  const [pair, ...attrs] = line.split("; ");
  return { pair: pair!, attrs };
}

describe("password hashes", () => {
  it("passwords use scrypt N=2^17, r=8, p=1 by default, stored with the hash and verified from it", async () => {
    assert.deepEqual(PASSWORD_SCRYPT, { N: 131072, r: 8, p: 1 });
    const h = await hashSecret("correct horse battery", PASSWORD_SCRYPT);
    assert.match(h, /^scrypt\$131072\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    assert.equal(await verifySecret("correct horse battery", h), true);
    assert.equal(await verifySecret("correct horse batterY", h), false);
  });
});

for (const b of BACKENDS) {
  describe(`dashboard sign-in (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let password = "";
    // Sign-in limits and the check budget run on this clock: the tests move it, never sleep.
    let now = Date.now();
    const login = (
      username: string,
      pw: string,
      opts: { ip?: string; cookie?: string; headers?: Record<string, string> } = {},
    ) =>
      t.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        remoteAddress: opts.ip ?? "127.0.0.1",
        headers: {
          "content-type": "application/json",
          ...(opts.cookie ? { cookie: opts.cookie } : {}),
          ...opts.headers,
        },
        payload: JSON.stringify({ username, password: pw }),
      });
    /** A request with a session cookie (and its CSRF token when given). */
    const withCookie = (
      session: string,
      method: "GET" | "POST" | "PUT" | "DELETE",
      url: string,
      body?: unknown,
      csrf?: string,
    ) =>
      call(t.app, undefined, method, `/api/v1${url}`, body, {
        cookie: session,
        ...(csrf ? { "x-csrf-token": csrf } : {}),
      });
    const admin = (method: "GET" | "POST" | "PUT" | "DELETE", url: string, body?: unknown) =>
      call(t.app, t.token, method, `/api/v1${url}`, body);
    const signIn = async (username: string, pw: string, ip?: string) => {
      const res = await login(username, pw, ip ? { ip } : {});
      assert.equal(res.statusCode, 200, res.body);
      return { session: cookie(res, "gh_session").pair, csrf: res.json().csrfToken as string };
    };

    before(async () => {
      t = await openTestApp(b.name, {
        auth: {
          maxFailures: 1_000_000,
          maxSignInFailures: 3,
          maxSignInFailuresPerUser: 5,
          throttledSignInsPerSecond: 1,
          clock: () => now,
        },
      });
      password = t.app.gatehouse.adminPassword!;
    });
    after(async () => t?.close());

    it("the first start makes the user admin with a generated password, shown once, hashed with its parameters", async () => {
      assert.match(password, /^[A-Za-z0-9_-]{24}$/);
      const row = await t.app.gatehouse.db
        .selectFrom("dashboard_users")
        .selectAll()
        .executeTakeFirstOrThrow();
      assert.equal(row.username, "admin");
      assert.equal(row.role, "admin");
      assert.ok(row.password_hash.startsWith(`scrypt$${TEST_PASSWORD_SCRYPT.N}$8$1$`));
      assert.ok(!row.password_hash.includes(password));
      // A second start on the same database makes no user and shows no password.
      const again = await buildApp({
        logger: false,
        ...(b.name === "pglite"
          ? { pglite: await sharedPglite() }
          : { databaseUrl: process.env.GATEHOUSE_TEST_DATABASE_URL! }),
        schema: t.schema,
        auth: { passwordScrypt: TEST_PASSWORD_SCRYPT },
      });
      try {
        assert.equal(again.gatehouse.adminPassword, undefined);
        assert.equal(again.gatehouse.adminToken, undefined);
      } finally {
        await again.close();
      }
    });

    it("a right password opens a session: HttpOnly, SameSite=Strict cookie on /, not Secure over plain HTTP", async () => {
      const res = await login("admin", password);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.via, "password");
      assert.equal(body.username, "admin");
      assert.equal(body.role, "admin");
      assert.match(body.csrfToken, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(res.headers["cache-control"], "no-store");
      const c = cookie(res, "gh_session");
      assert.match(c.pair, /^gh_session=ghs_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      assert.ok(c.attrs.includes("HttpOnly"), c.attrs.join());
      assert.ok(c.attrs.includes("SameSite=Strict"), c.attrs.join());
      assert.ok(c.attrs.includes("Path=/"), c.attrs.join());
      assert.ok(!c.attrs.includes("Secure"), c.attrs.join());
      assert.ok(!res.body.includes(c.pair.split("=")[1]!), "the session secret is never in a body");
      // The page's script may know that it is signed in, never the session.
      const hint = cookie(res, "gh_signed_in");
      assert.equal(hint.pair, "gh_signed_in=1");
      assert.ok(!hint.attrs.includes("HttpOnly") && hint.attrs.includes("SameSite=Strict"));
      const session = await withCookie(c.pair, "GET", "/auth/session");
      assert.equal(session.statusCode, 200, session.body);
      assert.equal(session.json().csrfToken, body.csrfToken);
      assert.equal((await withCookie(c.pair, "GET", "/policies")).statusCode, 200);
    });

    it("over HTTPS (here: a trusted proxy's X-Forwarded-Proto) the cookies are Secure", async () => {
      const behind = await openTestApp(b.name, { trustedProxies: ["127.0.0.1"] });
      try {
        const res = await behind.app.inject({
          method: "POST",
          url: "/api/v1/auth/login",
          headers: { "content-type": "application/json", "x-forwarded-proto": "https" },
          payload: JSON.stringify({
            username: "admin",
            password: behind.app.gatehouse.adminPassword,
          }),
        });
        assert.equal(res.statusCode, 200, res.body);
        assert.ok(cookie(res, "gh_session").attrs.includes("Secure"));
        assert.ok(cookie(res, "gh_device").attrs.includes("Secure"));
      } finally {
        await behind.close();
      }
    });

    it("a wrong password and an unknown user get the same 401", async () => {
      const wrong = await login("admin", "not the password", { ip: "192.0.2.200" });
      const unknown = await login("nobody", "not the password", { ip: "192.0.2.201" });
      for (const r of [wrong, unknown]) {
        assert.equal(r.statusCode, 401, r.body);
        assert.equal(r.json().error.code, "GH_ERR_UNAUTHENTICATED");
        assert.equal(r.json().error.message, "wrong username or password");
        assert.deepEqual(setCookies(r), []);
      }
    });

    it("changes made with the cookie need the session's CSRF token; reads do not", async () => {
      const { session, csrf } = await signIn("admin", password);
      const body = { name: "csrf-list", type: "domain" };
      const none = await withCookie(session, "POST", "/lists", body);
      assert.equal(none.statusCode, 403, none.body);
      assert.match(none.json().error.message, /CSRF/);
      const wrong = await withCookie(session, "POST", "/lists", body, "A".repeat(43));
      assert.equal(wrong.statusCode, 403, wrong.body);
      const other = await signIn("admin", password);
      const crossed = await withCookie(session, "POST", "/lists", body, other.csrf);
      assert.equal(crossed.statusCode, 403, "another session's token does not do");
      const right = await withCookie(session, "POST", "/lists", body, csrf);
      assert.equal(right.statusCode, 201, right.body);
      // The audit names the user, not a token.
      const log = (await admin("GET", "/audit?resource=list")).json().items;
      assert.ok(
        log.some(
          (e: { actor: string; resourceId: string }) =>
            e.actor === "user:admin" && e.resourceId === right.json().id,
        ),
        JSON.stringify(log.slice(0, 3)),
      );
    });

    it("API tokens keep working, and a bearer token wins over a cookie", async () => {
      const who = await admin("GET", "/whoami");
      assert.equal(who.statusCode, 200);
      const both = await call(
        t.app,
        t.token,
        "POST",
        "/api/v1/lists",
        {
          name: "token-list",
          type: "domain",
        },
        { cookie: "gh_session=ghs_0123456789abcdef_" + "A".repeat(43) },
      );
      assert.equal(both.statusCode, 201, "no CSRF token needed with a bearer token");
      const session = await admin("GET", "/auth/session");
      assert.equal(session.json().via, "token");
      assert.equal(session.json().csrfToken, null);
      // An edge route never takes a session.
      const { session: s } = await signIn("admin", password);
      const edge = await withCookie(s, "GET", "/edge/config?after=0");
      assert.equal(edge.statusCode, 401);
    });

    it("sign-out ends the session and clears its cookie", async () => {
      const { session, csrf } = await signIn("admin", password);
      const noCsrf = await withCookie(session, "POST", "/auth/logout");
      assert.equal(noCsrf.statusCode, 403, "sign-out from another site is refused too");
      const out = await withCookie(session, "POST", "/auth/logout", undefined, csrf);
      assert.equal(out.statusCode, 204, out.body);
      const cleared = cookie(out, "gh_session");
      assert.equal(cleared.pair, "gh_session=");
      assert.ok(cleared.attrs.includes("Max-Age=0"));
      const after = await withCookie(session, "GET", "/policies");
      assert.equal(after.statusCode, 401);
      assert.equal(after.json().error.code, "GH_ERR_UNAUTHENTICATED");
      for (const junk of [
        "gh_session=ghs_nope",
        `gh_session=ghs_0123456789abcdef_${"A".repeat(43)}`,
      ])
        assert.equal((await withCookie(junk, "GET", "/policies")).statusCode, 401, junk);
    });

    it("a session ends when idle (use slides it, background polling does not) and at its absolute end", async () => {
      let clock = Date.now();
      const short = await openTestApp(b.name, {
        auth: { sessionIdleMs: 60_000, sessionMaxMs: 300_000, clock: () => clock },
      });
      try {
        const signIn = async () => {
          const res = await short.app.inject({
            method: "POST",
            url: "/api/v1/auth/login",
            headers: { "content-type": "application/json" },
            payload: JSON.stringify({
              username: "admin",
              password: short.app.gatehouse.adminPassword,
            }),
          });
          assert.equal(res.statusCode, 200, res.body);
          assert.equal(Date.parse(res.json().expiresAt), clock + 60_000, "the idle end");
          return cookie(res, "gh_session");
        };
        const c = await signIn();
        assert.ok(c.attrs.includes("Max-Age=300"), "the cookie lives to the absolute end");
        const get = (background = false) =>
          call(short.app, undefined, "GET", "/api/v1/auth/session", undefined, {
            cookie: c.pair,
            ...(background ? { "x-gatehouse-background": "1" } : {}),
          });
        // Use within the idle timeout slides it: 4 × 50 s is past the first idle end.
        for (let i = 0; i < 4; i++) {
          clock += 50_000;
          const r = await get();
          assert.equal(r.statusCode, 200, `use ${i}`);
          assert.equal(Date.parse(r.json().expiresAt), clock + 60_000, "renewed");
        }
        // Polling alone does not keep it alive.
        clock += 30_000;
        assert.equal((await get(true)).statusCode, 200);
        clock += 30_000;
        assert.equal((await get(true)).statusCode, 401, "idle for 60 s, polled or not");
        assert.equal((await get()).statusCode, 401, "an ended session stays ended");

        // However busy, a session ends at sign-in + 300 s.
        const d = await signIn();
        const use = () =>
          call(short.app, undefined, "GET", "/api/v1/policies", undefined, { cookie: d.pair });
        for (let t = 0; t < 290_000; t += 40_000) {
          clock += 40_000;
          assert.equal((await use()).statusCode, t + 40_000 < 300_000 ? 200 : 401, `at ${t}`);
        }
        clock += 20_000;
        const late = await use();
        assert.equal(late.statusCode, 401);
        assert.equal(late.json().error.code, "GH_ERR_UNAUTHENTICATED");
      } finally {
        await short.close();
      }
    });

    it("admins add users (generated password shown once), set passwords and remove users; roles apply to sessions", async () => {
      const made = await admin("POST", "/users", { username: "Viewer1", role: "viewer" });
      assert.equal(made.statusCode, 201, made.body);
      const v = made.json();
      assert.equal(v.username, "viewer1");
      assert.match(v.password, /^[A-Za-z0-9_-]{24}$/);
      assert.ok(!("passwordHash" in v));
      const taken = await admin("POST", "/users", { username: "VIEWER1", role: "admin" });
      assert.equal(taken.statusCode, 409, taken.body);
      const short = await admin("POST", "/users", {
        username: "x",
        role: "viewer",
        password: "short",
      });
      assert.equal(short.statusCode, 400, "passwords have at least 10 characters");
      const list = (await admin("GET", "/users")).json().items;
      assert.deepEqual(list.map((u: { username: string }) => u.username).sort(), [
        "admin",
        "viewer1",
      ]);
      assert.ok(!JSON.stringify(list).includes("scrypt"));

      const viewer = await signIn("viewer1", v.password);
      assert.equal((await withCookie(viewer.session, "GET", "/lists")).statusCode, 200);
      const denied = await withCookie(
        viewer.session,
        "POST",
        "/lists",
        { name: "v", type: "domain" },
        viewer.csrf,
      );
      assert.equal(denied.statusCode, 403, "a viewer's session may not change things");
      assert.equal((await withCookie(viewer.session, "GET", "/users")).statusCode, 403);

      // An admin sets the password: the user's sessions end, the new password works.
      const set = await admin("PUT", `/users/${v.id}/password`, {
        password: "a new long password",
      });
      assert.equal(set.statusCode, 200, set.body);
      assert.equal(set.json().password, null);
      assert.equal((await withCookie(viewer.session, "GET", "/lists")).statusCode, 401);
      assert.equal((await login("viewer1", v.password, { ip: "192.0.2.50" })).statusCode, 401);
      const again = await signIn("viewer1", "a new long password", "192.0.2.51");

      // The user changes their own password (needs the current one); other sessions end.
      const elsewhere = await signIn("viewer1", "a new long password", "192.0.2.52");
      const bad = await withCookie(
        again.session,
        "PUT",
        "/auth/password",
        { currentPassword: "wrong password!", newPassword: "third long password" },
        again.csrf,
      );
      assert.equal(bad.statusCode, 401, bad.body);
      const own = await withCookie(
        again.session,
        "PUT",
        "/auth/password",
        { currentPassword: "a new long password", newPassword: "third long password" },
        again.csrf,
      );
      assert.equal(own.statusCode, 204, own.body);
      assert.equal((await withCookie(again.session, "GET", "/lists")).statusCode, 200);
      assert.equal((await withCookie(elsewhere.session, "GET", "/lists")).statusCode, 401);
      const viaToken = await admin("PUT", "/auth/password", {
        currentPassword: "x",
        newPassword: "whatever long",
      });
      assert.equal(viaToken.statusCode, 409, "a token has no password to change");

      // Another account's admin sees none of them.
      const other = (await admin("POST", "/accounts", { name: "other" })).json().adminToken;
      const foreign = await call(t.app, other, "DELETE", `/api/v1/users/${v.id}`);
      assert.equal(foreign.statusCode, 404);
      assert.deepEqual((await call(t.app, other, "GET", "/api/v1/users")).json().items, []);

      assert.equal((await admin("DELETE", `/users/${v.id}`)).statusCode, 204);
      assert.equal((await withCookie(again.session, "GET", "/lists")).statusCode, 401);
      assert.equal((await admin("DELETE", `/users/${v.id}`)).statusCode, 404);
      const audit = (await admin("GET", "/audit?resource=user")).json().items;
      assert.deepEqual(audit.map((e: { action: string }) => e.action).sort(), [
        "create",
        "delete",
        "set-password",
        "set-password",
      ]);
    });

    it("failed sign-ins are limited per address: the address's failures get 429, a right password still signs in", async () => {
      const ip = "198.51.100.7";
      // Guesses at names that do not exist count like wrong passwords.
      for (let i = 0; i < 3; i++)
        assert.equal((await login(`ghost${i}`, `wrong ${i}`, { ip })).statusCode, 401);
      const limited = await login("ghost", "wrong again", { ip });
      assert.equal(limited.statusCode, 429, limited.body);
      assert.equal(limited.json().error.code, "GH_ERR_RATE_LIMITED");
      now += 1000; // the check budget (1/s here) refills
      assert.equal((await login("admin", password, { ip })).statusCode, 200);
      // Other addresses are not affected (IPv6 by /64: the same /64 is the same client).
      assert.equal((await login("admin", password, { ip: "198.51.100.8" })).statusCode, 200);
    });

    it("failed sign-ins are limited per username from everywhere, and a browser that signed in before is counted on its own", async () => {
      await admin("POST", "/users", {
        username: "target",
        role: "viewer",
        password: "target password 1",
      });
      // The real user signs in once from their browser: it gets a device cookie.
      const first = await login("target", "target password 1", { ip: "203.0.113.1" });
      assert.equal(first.statusCode, 200, first.body);
      const device = cookie(first, "gh_device");
      assert.ok(device.attrs.includes("HttpOnly") && device.attrs.includes("SameSite=Strict"));
      assert.ok(device.attrs.includes("Path=/api/v1/auth"));
      // Someone guesses from many addresses: the username goes over its limit.
      for (let i = 0; i < 5; i++)
        assert.equal(
          (await login("target", `guess ${i}`, { ip: `203.0.113.${10 + i}` })).statusCode,
          401,
        );
      const guess = await login("target", "guess again", { ip: "203.0.113.30" });
      assert.equal(guess.statusCode, 429, guess.body);
      // The guesses spent the check budget (1 a second here): a browser without the device
      // cookie is asked to come back in a second...
      const fresh = await login("target", "target password 1", { ip: "203.0.113.31" });
      assert.equal(fresh.statusCode, 429, fresh.body);
      assert.equal(fresh.json().error.details.retryAfterSeconds, 1);
      // ...but the user's own browser signs in at once, from the same NATed address as the guesser.
      const own = await login("target", "target password 1", {
        ip: "203.0.113.30",
        cookie: device.pair,
      });
      assert.equal(own.statusCode, 200, own.body);
      // A device cookie is tied to its username: it does not help for another one.
      const forged = await login("admin", "wrong", { ip: "203.0.113.30", cookie: device.pair });
      assert.notEqual(forged.statusCode, 200);
      // Once the budget refills, a right password is accepted from anywhere.
      now += 1000;
      assert.equal(
        (await login("target", "target password 1", { ip: "203.0.113.99" })).statusCode,
        200,
      );
    });
  });
}
