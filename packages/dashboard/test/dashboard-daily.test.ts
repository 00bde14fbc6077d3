// Issue 17's daily tasks, end to end in headless Chromium against a running Gatehouse: control
// in-process (in-memory PGlite and DuckDB) serving the dashboard built from its current source, and a real
// edge (`gatehouse edge --control`, a child process) answering DNS on loopback from a fake
// upstream and shipping its query log to control. A query made over DNS shows up in the query
// log; its details say which policy decided; Block from there makes the next query for that name
// blocked, Undo unblocks it; Allow lets a name a list blocks through.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { serveText } from "../../gatehouse/test/support/gatehouse-up.ts";
import { SKIP, screenshot } from "./browser.ts";
import { type Stack, startStack } from "./stack.ts";

const UPSTREAM_ANSWER = "192.0.2.80";

describe("daily tasks in the dashboard, against a real edge", { skip: SKIP }, () => {
  let stack: Stack;
  let page: Page;
  let base: string;
  let call: Stack["call"];
  let upstream: Stack["upstream"];
  const answers = (name: string, expected: string) => stack.answers(name, expected);

  before(async () => {
    stack = await startStack({
      name: "gh-dashboard-daily",
      upstreamAnswer: UPSTREAM_ANSWER,
      autoPublishDelayMs: 0,
      setup: [
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
      ],
    });
    ({ page, base, call, upstream } = stack);
  });

  after(async () => stack?.close());

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

  /** The Lists page's New list form. */
  const newList = async (name: string) => {
    await page.goto(`${base}/lists`);
    await page.getByRole("button", { name: "New list" }).click();
    const form = page.getByRole("form", { name: "New list" });
    await form.getByLabel("Name").fill(name);
    return form;
  };
  const listRow = (name: string) =>
    page
      .getByRole("table", { name: "Lists" })
      .getByRole("row")
      .filter({ has: page.getByRole("link", { name, exact: true }) });

  it("New list takes a pasted hosts file and an uploaded adblock list; a bad line is named and nothing is kept", async () => {
    const pasted = await newList("pasted");
    await pasted
      .getByLabel("Items, one a line")
      .fill(
        "# my hosts\n127.0.0.1 localhost\n0.0.0.0 one.pasted.example\n0.0.0.0 two.pasted.example\n",
      );
    await pasted.getByRole("button", { name: "Create list" }).click();
    await listRow("pasted").waitFor();
    assert.match((await listRow("pasted").textContent()) ?? "", /pasted\s*domain\s*2/);

    const uploaded = await newList("uploaded");
    await uploaded.getByLabel("Line format").selectOption("adblock");
    await uploaded.getByLabel("Or upload a file").setInputFiles({
      name: "filters.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("! an adblock list\n||a.upload.example^\n||b.upload.example^\n"),
    });
    await uploaded.getByRole("button", { name: "Create list" }).click();
    await listRow("uploaded").waitFor();
    assert.match((await listRow("uploaded").textContent()) ?? "", /uploaded\s*domain\s*2/);

    // A domain list skips a line it cannot read and names it on the list's page.
    const skipped = await newList("skipped");
    await skipped.getByLabel("Items, one a line").fill("0.0.0.0 ok.example\nnot a name !!\n");
    await skipped.getByRole("button", { name: "Create list" }).click();
    await listRow("skipped").getByRole("link").click();
    const upload = page.getByRole("region", { name: "Last upload" });
    await upload.getByRole("cell", { name: "not a name !!" }).waitFor();
    assert.match((await upload.textContent()) ?? "", /1 line\(s\) could not be read/);

    // Another type refuses the upload at its bad line, and the list is not kept.
    const bad = await newList("badpaste");
    await bad.getByLabel("Type").selectOption("ip");
    await bad.getByLabel("Items, one a line").fill("192.0.2.1\nnot-an-address\n");
    await bad.getByRole("button", { name: "Create list" }).click();
    await bad.getByRole("alert").filter({ hasText: "line 2" }).waitFor();
    const lists = await call<{ items: { name: string }[] }>("GET", "/lists?limit=1000");
    assert.ok(!lists.body.items.some((l) => l.name === "badpaste"), "the refused list is gone");

    await page.goto(`${base}/lists`);
    await listRow("pasted").getByRole("link").click();
    await page.getByText("No policy uses this list").waitFor();
  });

  it("a list follows a URL: status, entries, Update now; a list in use names its policy", async () => {
    let body = "# feed\n0.0.0.0 a.feed.example\n0.0.0.0 b.feed.example\n";
    const served = await serveText(() => body);
    try {
      const form = await newList("feed");
      await form.getByLabel("Or follow a URL").fill(`${served.url}/hosts.txt`);
      await form.getByLabel("Refresh").selectOption({ label: "every 6 hours" });
      await form.getByRole("button", { name: "Create list" }).click();
      const card = page.getByRole("region", { name: "Subscription" });
      await card.getByText("updated: 2 entries").waitFor();
      assert.match((await card.textContent()) ?? "", /every 6 h 0 min/);
      assert.match((await card.textContent()) ?? "", new RegExp(`${served.url}/hosts\\.txt`));
      await page.getByRole("list", { name: "Items" }).getByText("b.feed.example").waitFor();
      await screenshot(page, "list-subscription");
      body += "0.0.0.0 c.feed.example\n";
      await card.getByRole("button", { name: "Update now" }).click();
      await card.getByText("updated: 3 entries").waitFor();
      await page.getByRole("list", { name: "Items" }).getByText("c.feed.example").waitFor();
    } finally {
      served.server.close();
    }
    await page.goto(`${base}/lists`);
    await listRow("blocked_by_admin").getByRole("link").click();
    await page.getByRole("region", { name: "Used by" }).getByText("Blocked by admin").waitFor();
    assert.match(
      (await page.getByRole("region", { name: "Used by" }).textContent()) ?? "",
      /Used by Blocked by admin \(dns\)\./,
    );
  });

  it("imports a Blocky config: the preview changes nothing, the import publishes and its rules block", async () => {
    const name = "ads.import.example";
    const config = [
      "upstreams:",
      "  groups:",
      `    default: [127.0.0.1:${upstream.port}]`,
      "blocking:",
      "  denylists:",
      "    ads:",
      "      - |",
      `        ${name}`,
      "  clientGroupsBlock:",
      "    default: [ads]",
      "",
    ].join("\n");
    assert.deepEqual(await answers(name, UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
    await page.goto(`${base}/import`);
    const form = page.getByRole("form", { name: "Import a file" });
    await form.getByLabel("From").selectOption("blocky");
    await form.getByLabel("File").setInputFiles({
      name: "config.yml",
      mimeType: "application/yaml",
      buffer: Buffer.from(config),
    });
    await form.getByRole("button", { name: "Preview (dry run)" }).click();
    const preview = page.getByRole("region", { name: "Preview" });
    await preview.getByText("Dry run: nothing was changed.").waitFor();
    assert.match((await preview.textContent()) ?? "", /list \$blocky_\S+ with 1 item/);
    const before = await call<{ items: { name: string }[] }>("GET", "/lists?limit=1000");
    assert.ok(
      !before.body.items.some((l) => l.name.startsWith("blocky_")),
      "the preview wrote nothing",
    );
    await form.getByRole("button", { name: "Import", exact: true }).click();
    const done = page.getByRole("region", { name: "Imported" });
    await done.getByText(/Published as version \d+\./).waitFor();
    await screenshot(page, "import");
    assert.deepEqual(await answers(name, "0.0.0.0"), ["0.0.0.0"]);
  });

  it("follows the system's dark mode and fits a phone's width", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const path of ["/logs", "/lists", "/policies", "/import"]) {
        await page.goto(`${base}${path}`);
        await page.getByRole("heading", { level: 1 }).first().waitFor();
        await page.waitForLoadState("networkidle");
        const { width, bg } = await page.evaluate(() => ({
          width: document.documentElement.scrollWidth,
          bg: getComputedStyle(document.documentElement).backgroundColor,
        }));
        assert.ok(width <= 390, `${path}: the page is ${width} px wide on a 390 px screen`);
        const [r, g, b] = (bg.match(/\d+/g) ?? []).map(Number);
        assert.ok(r! + g! + b! < 150, `${path}: background ${bg} is not dark`);
        if (path === "/logs") await screenshot(page, "phone-dark");
      }
    } finally {
      await page.emulateMedia({ colorScheme: "light" });
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it("no console errors, CSP violations or requests outside control", () => {
    // The refusal a step provokes (the pasted wildcard, 422) logs the browser's own resource
    // error; nothing else may.
    const unexpected = stack.problems.filter((p) => !/status of 422 /.test(p));
    assert.deepEqual(unexpected, []);
  });
});
