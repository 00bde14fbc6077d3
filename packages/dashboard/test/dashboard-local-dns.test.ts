// The Local DNS page, end to end in headless Chromium against a running Gatehouse: control
// in-process (in-memory PGlite and DuckDB) serving the dashboard built from its current source, and a real
// edge (`gatehouse edge --control`, a child process) answering DNS on loopback from a fake
// upstream. A zone created on the page is answered by the edge (authoritatively, wildcards and
// CNAMEs too); a zone that does not parse is refused with its line named and nothing kept;
// limiting it to another location lets the edge's loopback clients resolve the names upstream
// again; deleting it does too.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { queryDns } from "../../gatehouse/test/support/processes.ts";
import { SKIP, screenshot } from "./browser.ts";
import { type Stack, startStack } from "./stack.ts";

const UPSTREAM_ANSWER = "192.0.2.80";

describe("the Local DNS page, against a real edge", { skip: SKIP }, () => {
  let stack: Stack;
  let page: Page;
  let base: string;
  let call: Stack["call"];
  let dnsPort = 0;
  const answers = (name: string, expected: string) => stack.answers(name, expected);

  const zones = () => page.getByRole("table", { name: "Local zones" });
  const zoneRow = (name: string) =>
    zones()
      .getByRole("row")
      .filter({ has: page.getByText(name, { exact: true }) });

  before(async () => {
    stack = await startStack({
      name: "gh-dashboard-local-dns",
      upstreamAnswer: UPSTREAM_ANSWER,
      // Changes are published on their own, as with the default delay (2 s), only sooner.
      autoPublishDelayMs: 100,
      setup: [
        ["POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] }],
        ["POST", "/locations", { name: "Branch", networks: ["10.9.0.0/16"] }],
      ],
    });
    ({ page, base, call, dnsPort } = stack);
  });

  after(async () => stack?.close());

  it("a zone created on the page is answered by the edge: records, wildcard, CNAME", async () => {
    assert.deepEqual(await answers("nas.lan.test", UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
    await page.goto(`${base}/local-dns`);
    await page.getByRole("heading", { name: "Local DNS" }).waitFor();
    await zones().getByText("No local zones yet.").waitFor();
    await page.getByRole("button", { name: "New zone" }).click();
    const form = page.getByRole("form", { name: "New zone" });
    await form.getByLabel("Zone (its apex").fill("lan.test");
    await form
      .getByLabel("Records, or a whole zone file")
      .fill("nas     A     192.168.1.10\nwww     CNAME nas\n*.dyn   A     192.168.1.99\n");
    await form.getByLabel("Secondaries allowed").fill("127.0.0.1");
    await screenshot(page, "local-dns-new");
    await form.getByRole("button", { name: "Create zone" }).click();
    await form.waitFor({ state: "detached" });
    const row = zoneRow("lan.test");
    await row.waitFor();
    const cells = await row.getByRole("cell").allTextContents();
    assert.deepEqual(cells.slice(0, 4), ["lan.test", "3", "every location", "127.0.0.1"]);
    assert.deepEqual(await answers("nas.lan.test", "192.168.1.10"), ["192.168.1.10"]);
    assert.deepEqual(await answers("host7.dyn.lan.test", "192.168.1.99"), ["192.168.1.99"]);
    const www = await queryDns(dnsPort, "www.lan.test");
    assert.deepEqual(
      www.answers.map((a) => [a.type, a.data]),
      [
        ["CNAME", "nas.lan.test"],
        ["A", "192.168.1.10"],
      ],
    );
    const missing = await queryDns(dnsPort, "nothing.lan.test");
    assert.equal(missing.rcode, "NXDOMAIN", "a name not in the zone does not exist");
    await screenshot(page, "local-dns");
  });

  it("a zone that does not parse is refused with its line named, and nothing is changed", async () => {
    await page.goto(`${base}/local-dns`);
    await zoneRow("lan.test").getByRole("button", { name: "Edit" }).click();
    const form = page.getByRole("form", { name: "Edit zone" });
    await form
      .getByLabel("Records, or a whole zone file")
      .fill("nas     A     192.168.1.11\nbad     A     999.1.1.1\n");
    await form.getByRole("button", { name: "Save" }).click();
    const alert = form.getByRole("alert");
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? "", /line 2/);
    await form.getByRole("button", { name: "Cancel" }).click();
    await form.waitFor({ state: "detached" });
    const zone = await call<{ items: { zone: string }[] }>("GET", "/local-zones");
    assert.match(zone.body.items[0]!.zone, /192\.168\.1\.10/, "the saved zone is unchanged");
    assert.deepEqual(await answers("nas.lan.test", "192.168.1.10"), ["192.168.1.10"]);
  });

  it("limited to another location, the edge's loopback clients resolve the names upstream", async () => {
    await page.goto(`${base}/local-dns`);
    await zoneRow("lan.test").getByRole("button", { name: "Edit" }).click();
    const form = page.getByRole("form", { name: "Edit zone" });
    await form.getByLabel("Branch").check();
    await form.getByRole("button", { name: "Save" }).click();
    await form.waitFor({ state: "detached" });
    await zoneRow("lan.test").getByRole("cell", { name: "Branch", exact: true }).waitFor();
    assert.deepEqual(await answers("nas.lan.test", UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);

    // Served to Branch and lo.
    await zoneRow("lan.test").getByRole("button", { name: "Edit" }).click();
    const again = page.getByRole("form", { name: "Edit zone" });
    assert.equal(await again.getByLabel("Branch").isChecked(), true, "the form shows the choice");
    await again.getByLabel("lo", { exact: true }).check();
    await again.getByRole("button", { name: "Save" }).click();
    await again.waitFor({ state: "detached" });
    await zoneRow("lan.test").getByRole("cell", { name: "Branch, lo", exact: true }).waitFor();
    assert.deepEqual(await answers("nas.lan.test", "192.168.1.10"), ["192.168.1.10"]);
  });

  it("deleting the zone hands its names back to the upstreams", async () => {
    await page.goto(`${base}/local-dns`);
    page.once("dialog", (d) => d.accept());
    await zoneRow("lan.test").getByRole("button", { name: "Delete" }).click();
    await zones().getByText("No local zones yet.").waitFor();
    assert.deepEqual(await answers("nas.lan.test", UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
  });

  it("no console errors, CSP violations or requests outside control", () => {
    // The refused zone (422) logs the browser's own resource error; nothing else may.
    const unexpected = stack.problems.filter((p) => !/status of 422 /.test(p));
    assert.deepEqual(unexpected, []);
  });
});
