// Password sign-in end to end in headless Chromium: the first admin signs in with the password
// control generated, stays signed in across a reload (HttpOnly session cookie, never readable by
// the page), adds a viewer on the Sign-in users page (a change: the session's CSRF token goes
// with it), signs out (the old session no longer works), and the viewer signs in with the
// generated password and may not manage users. A wrong password gets a clear message; a page
// load while signed out makes no failing request. A session idle past its timeout ends, and the
// page goes back to the sign-in form.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import type { BrowserContext, Page } from "playwright-core";
import { type DashboardApp, SKIP, screenshot, startDashboardApp } from "./browser.ts";

describe("dashboard password sign-in in a browser", { skip: SKIP }, () => {
  let d: DashboardApp | undefined;
  let app: FastifyInstance;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let password: string;
  let viewerPassword = "";
  let problems: string[] = [];
  /** Moves control's clock for sessions (the idle timeout is 12 h by default). */
  let later = 0;

  before(async () => {
    d = await startDashboardApp("sign-in", {
      // Cheap hashes for the test; the production parameters are checked in control's tests.
      auth: { passwordScrypt: { N: 1024, r: 8, p: 1 }, clock: () => Date.now() + later },
    });
    ({ app, context, page, problems, base } = d);
    password = app.gatehouse.adminPassword!;
  });

  after(async () => {
    await d?.close();
  });

  const form = () => page.getByRole("form", { name: "Sign in", exact: true });
  const signInAs = async (username: string, pw: string) => {
    await form().getByLabel("Username").fill(username);
    await form().getByLabel("Password").fill(pw);
    await form().getByRole("button", { name: "Sign in" }).click();
  };
  const nav = (name: string) =>
    page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();

  it("a signed-out page asks for a username and password, and makes no failing request", async () => {
    await page.goto(`${base}/`);
    await form().waitFor();
    assert.deepEqual(problems, []);
    await screenshot(page, "signin");
  });

  it("a wrong password is refused with a clear message", async () => {
    await signInAs("admin", "not the password");
    await page.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor();
  });

  it("the first admin signs in with the generated password; the session survives a reload and the page cannot read it", async () => {
    await signInAs("admin", password);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByText("admin (admin)").waitFor();
    const cookies = await page.evaluate(() => document.cookie);
    assert.doesNotMatch(cookies, /gh_session/, "HttpOnly: not readable by the page");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("gatehouse.apiToken")), null);
    await page.goto(`${base}/locations`);
    await page.getByRole("heading", { name: "Locations" }).waitFor();
  });

  it("the admin adds a viewer; the generated password is shown once", async () => {
    await nav("Sign-in users");
    await page.getByRole("button", { name: "New user" }).click();
    const f = page.getByRole("form", { name: "New user" });
    await f.getByLabel("Username").fill("family");
    await f.getByLabel("Role").selectOption("viewer");
    await f.getByRole("button", { name: "Create user" }).click();
    const secret = page.getByRole("status").locator("code.secret");
    await secret.waitFor();
    viewerPassword = (await secret.textContent()) ?? "";
    assert.match(viewerPassword, /^[A-Za-z0-9_-]{24}$/);
    await page
      .getByRole("table", { name: "Sign-in users" })
      .getByRole("row")
      .filter({ hasText: "family" })
      .waitFor();
    await screenshot(page, "sign-in-users");
  });

  it("sign-out ends the session: the old cookie no longer works", async () => {
    const before = (await context.cookies()).find((c) => c.name === "gh_session");
    assert.ok(before?.httpOnly, "the session cookie is HttpOnly");
    assert.equal(before.sameSite, "Strict");
    await page.getByRole("button", { name: "Sign out" }).click();
    await form().waitFor();
    const res = await fetch(`${base}/api/v1/policies`, {
      headers: { cookie: `gh_session=${before.value}` },
    });
    assert.equal(res.status, 401);
    await page.reload();
    await form().waitFor();
  });

  it("the viewer signs in with the generated password and may not manage users", async () => {
    await signInAs("family", viewerPassword);
    // Back on the page it was signed out from.
    await page.getByRole("heading", { name: "Sign-in users" }).waitFor();
    await page.getByText("family (viewer)").waitFor();
    await page.getByText("Only an admin may see and manage sign-in users.").waitFor();
    assert.equal(await page.getByRole("button", { name: "New user" }).count(), 0);
  });

  it("a session idle past its timeout ends: the next action goes to the sign-in form with the reason", async () => {
    later += 12 * 3600_000 + 1000;
    await nav("Locations");
    await form().waitFor();
    await page.getByText(/Signed out: control refused the session \(401/).waitFor();
    // Signing in again opens a new session, back where the user was.
    await signInAs("family", viewerPassword);
    await page.getByRole("heading", { name: "Locations" }).waitFor();
  });

  it("no console errors, CSP violations or requests outside control", () => {
    // The wrong password (401) and the viewer on the users page (403) log the browser's own
    // resource errors; nothing else may.
    const unexpected = problems.filter((p) => !/status of (401|403) /.test(p));
    assert.deepEqual(unexpected, []);
  });
});
