// Issue 17's daily tasks, end to end in headless Chromium against a running Gatehouse: control
// in-process (in-memory PGlite and DuckDB) serving a fresh build of the dashboard, and a real
// edge (`gatehouse edge --control`, a child process) answering DNS on loopback from a fake
// upstream and shipping its query log to control. A query made over DNS shows up in the query
// log; its details say which policy decided; Block from there makes the next query for that name
// blocked, Undo unblocks it; Allow lets a name a list blocks through.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildApp, DuckDbStore } from "@gatehouse/control";
import type { FastifyInstance } from "fastify";
import type { BrowserContext, Page } from "playwright-core";
import {
  api,
  eventually,
  fakeUpstream,
  freePort,
  queryDns,
  type Running,
  runCli,
} from "../../gatehouse/test/support/processes.ts";
import { buildDashboard, launchBrowser, SKIP, screenshot, signIn } from "./browser.ts";

const UPSTREAM_ANSWER = "192.0.2.80";

describe("daily tasks in the dashboard, against a real edge", { skip: SKIP }, () => {
  let tmp: string;
  let app: FastifyInstance;
  let analytics: DuckDbStore;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let edge: Running;
  let dnsPort = 0;
  let context: BrowserContext;
  let page: Page;
  let problems: string[] = [];
  let base: string;
  let call: ReturnType<typeof api>;

  /** The A answers the edge gives for `name` now. */
  const resolve = async (name: string) =>
    (await queryDns(dnsPort, name)).answers.filter((a) => a.type === "A").map((a) => a.data);
  /** Poll until the edge answers `name` with `expected` (a publish takes a moment to arrive). */
  const answers = (name: string, expected: string) =>
    eventually(
      () => resolve(name),
      (a) => a.length === 1 && a[0] === expected,
      10_000,
    );

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "gh-dashboard-daily-"));
    const dist = join(tmp, "dist");
    await buildDashboard(dist);
    analytics = await DuckDbStore.open({ path: ":memory:", threads: 1 });
    app = await buildApp({ logger: false, autoPublishDelayMs: 0, dashboardDir: dist, analytics });
    base = await app.listen({ host: "127.0.0.1", port: 0 });
    const token = app.gatehouse.adminToken!;
    call = api(base, token);
    upstream = await fakeUpstream(UPSTREAM_ANSWER);
    const setup: [string, string, unknown][] = [
      [
        "PUT",
        "/resolver",
        // The fake upstream signs nothing.
        {
          upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
          dnssec: { validate: false },
        },
      ],
      ["POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] }],
      ["POST", "/lists", { name: "ads", type: "domain", items: ["ads.daily.example"] }],
      [
        "POST",
        "/policies",
        {
          name: "Block ads",
          type: "dns",
          expression: "any(dns.domains[*] in $ads)",
          action: "block",
        },
      ],
      ["POST", "/config/publish", {}],
    ];
    for (const [method, path, body] of setup) {
      const r = await call(method, path, body);
      assert.ok(r.status < 300, `${method} ${path}: ${JSON.stringify(r.body)}`);
    }
    const join_ = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
    dnsPort = await freePort();
    edge = runCli([
      "edge",
      "--control",
      base,
      "--data-dir",
      join(tmp, "edge"),
      "--dns",
      `127.0.0.1:${dnsPort}`,
      "--proxy",
      `127.0.0.1:${await freePort()}`,
      "--join-token",
      join_.body.joinToken,
    ]);
    await edge.waitFor(/following \S+ as \S+/);
    ({ context, page, problems } = await launchBrowser(join(tmp, "profile")));
    await signIn(page, base, token);
  });

  after(async () => {
    await context?.close();
    await edge?.stop();
    await app?.close();
    await analytics?.close();
    await upstream?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Open the query log filtered to `name`, wait for its (shipped) record, open its details. */
  const openDetails = async (name: string, action: string) => {
    await page.goto(`${base}/logs?domainSuffix=${name}&action=${action}`);
    const row = page
      .getByRole("table", { name: "Query log" })
      .getByRole("row")
      .filter({ has: page.getByRole("link", { name, exact: true }) });
    // The edge ships its log every second; the page follows new queries when asked to.
    await page.getByLabel("Follow new queries").check();
    await row.first().waitFor();
    await page.getByLabel("Follow new queries").uncheck();
    await row.first().getByRole("button", { name: "Details" }).click();
    return page.getByRole("region", { name: "Query details" });
  };

  it("Block from the query log: the next DNS query for that name is blocked; Undo lets it through", async () => {
    const name = "tracker.daily.example";
    assert.deepEqual(await answers(name, UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
    const details = await openDetails(name, "allow");
    await details.getByText("No policy matched: allowed (the default).").waitFor();
    // Every field of the record, domain and client as links.
    assert.equal(
      await details.getByRole("link", { name, exact: true }).getAttribute("href"),
      `/logs?domainSuffix=${name}`,
    );
    await details.getByRole("link", { name: "127.0.0.1", exact: true }).waitFor();
    assert.match((await details.textContent()) ?? "", /Upstream/);
    await details.getByRole("button", { name: "Block", exact: true }).click();
    const done = details
      .getByRole("status")
      .filter({ hasText: `Blocked ${name} and its subdomains; published as version` });
    await done.waitFor();
    await screenshot(page, "query-details");
    assert.deepEqual(await answers(name, "0.0.0.0"), ["0.0.0.0"]);
    assert.deepEqual(await answers(`cdn.${name}`, "0.0.0.0"), ["0.0.0.0"], "and its subdomains");

    // The blocked query is in the log, decided by the managed policy.
    const blocked = await openDetails(name, "block");
    await blocked
      .getByText('The dns policy "Blocked by admin" matched through $blocked_by_admin: blocked.')
      .waitFor();
    await blocked.getByText("any(dns.domains[*] in $blocked_by_admin)").waitFor();

    await page.goto(`${base}/logs?domainSuffix=${name}&action=allow`);
    const again = await openDetails(name, "allow");
    await again.getByRole("button", { name: "Block", exact: true }).click();
    await again.getByRole("status").filter({ hasText: "(it already was)" }).waitFor();
    await again.getByRole("button", { name: "Undo" }).click();
    await again
      .getByRole("status")
      .filter({ hasText: `Undone: ${name} is no longer blocked` })
      .waitFor();
    assert.deepEqual(await answers(name, UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);

    const audit = await call<{ items: { action: string; after: { domain: string } }[] }>(
      "GET",
      "/audit?resource=list",
    );
    assert.deepEqual(
      audit.body.items.filter((i) => i.action.startsWith("quick.")).map((i) => i.action),
      ["quick.unblock", "quick.block"],
    );
  });

  it("Allow from the query log lets a name a blocklist blocks through", async () => {
    const name = "ads.daily.example";
    assert.deepEqual(await answers(name, "0.0.0.0"), ["0.0.0.0"]);
    const details = await openDetails(name, "block");
    await details.getByText('The dns policy "Block ads" matched through $ads: blocked.').waitFor();
    await details.getByRole("button", { name: "Allow", exact: true }).click();
    await details
      .getByRole("status")
      .filter({ hasText: `Allowed ${name} and its subdomains; published as version` })
      .waitFor();
    assert.deepEqual(await answers(name, UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
    await details.getByRole("button", { name: "Undo" }).click();
    await details.getByRole("status").filter({ hasText: "Undone:" }).waitFor();
    assert.deepEqual(await answers(name, "0.0.0.0"), ["0.0.0.0"]);
  });

  it("pauses blocking for 5 minutes with a banner; Resume blocks again; a location's pause too", async () => {
    const name = "ads.daily.example";
    assert.deepEqual(await answers(name, "0.0.0.0"), ["0.0.0.0"]);
    await page.goto(`${base}/`);
    await page.getByRole("button", { name: "Pause blocking…" }).click();
    const form = page.getByRole("form", { name: "Pause blocking" });
    await form.getByRole("button", { name: "5 min" }).click();
    const banner = page
      .getByRole("status")
      .filter({ hasText: "Blocking is paused for every client" });
    await banner.waitFor();
    assert.match(
      (await banner.textContent()) ?? "",
      /until \d?\d:\d\d( [AP]M)? \((4|5) min left\), by token:/,
    );
    await screenshot(page, "pause");
    assert.deepEqual(
      await answers(name, UPSTREAM_ANSWER),
      [UPSTREAM_ANSWER],
      "paused: not blocked",
    );
    await banner.getByRole("button", { name: "Resume" }).click();
    await banner.waitFor({ state: "detached" });
    assert.deepEqual(await answers(name, "0.0.0.0"), ["0.0.0.0"], "resumed: blocked again");

    // One location (the edge's clients are all in "lo"), until resumed.
    await page.getByRole("button", { name: "Pause blocking…" }).click();
    await form.getByLabel("Pause blocking for").selectOption({ label: "location lo" });
    await form.getByRole("button", { name: "Until resumed" }).click();
    const lo = page
      .getByRole("status")
      .filter({ hasText: "Blocking is paused in lo until resumed" });
    await lo.waitFor();
    assert.deepEqual(await answers(name, UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
    await lo.getByRole("button", { name: "Resume in lo" }).click();
    await lo.waitFor({ state: "detached" });
    assert.deepEqual(await answers(name, "0.0.0.0"), ["0.0.0.0"]);
    const audit = await call<{ items: { action: string }[] }>("GET", "/audit?resource=pause");
    assert.deepEqual(
      audit.body.items.map((i) => i.action),
      ["resume", "pause", "resume", "pause"],
    );
  });

  it("no console errors, CSP violations or requests outside control", () => {
    assert.deepEqual(problems, []);
  });
});
