// Issue 17's client page, end to end in headless Chromium against a running Gatehouse (control
// in-process, a real edge answering DNS on loopback): a client's page shows its recent queries,
// its top domains and the policies that apply to it; pausing that client makes `dig` from its
// address (127.0.0.1) resolve a blocked name while `dig -b 127.0.0.2` stays blocked; Resume
// blocks again; its own setting "Blocking on" unticked does the same until "Use global settings".

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { eventually } from "../../gatehouse/test/support/processes.ts";
import { SKIP, screenshot } from "./browser.ts";
import { type Stack, startStack } from "./stack.ts";

const UPSTREAM_ANSWER = "192.0.2.81";
const BLOCKED = "ads.clients.example";

/** `dig +short` of `name` from source address `from`, against the stack's edge. */
function dig(port: number, name: string, from: string): Promise<string[]> {
  const args = ["@127.0.0.1", "-p", String(port), "-b", from, name, "+short", "+tries=1"];
  return new Promise((resolve, reject) =>
    execFile("dig", args, { encoding: "utf8", timeout: 10_000 }, (err, out) =>
      err ? reject(err) : resolve(out.trim().split("\n").filter(Boolean)),
    ),
  );
}

describe("a client's page: activity, policies, pause and settings, against a real edge", {
  skip: SKIP,
}, () => {
  let stack: Stack;
  let page: Page;
  let base: string;
  /** Poll until dig from `from` gets `expected` (a publish reaches the edge in a moment). */
  const digs = (from: string, expected: string) =>
    eventually(
      () => dig(stack.dnsPort, BLOCKED, from),
      (a) => a.length === 1 && a[0] === expected,
      10_000,
    );

  before(async () => {
    stack = await startStack({
      name: "gh-dashboard-clients",
      upstreamAnswer: UPSTREAM_ANSWER,
      autoPublishDelayMs: 0,
      setup: [
        ["POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] }],
        ["POST", "/lists", { name: "ads", type: "domain", items: [BLOCKED] }],
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
        [
          "POST",
          "/policies",
          {
            name: "Elsewhere only",
            type: "dns",
            expression: 'dns.location_name == "elsewhere" and dns.fqdn == "x.example"',
            action: "block",
          },
        ],
        ["POST", "/client-names", { client: "127.0.0.1", name: "This machine" }],
      ],
    });
    ({ page, base } = stack);
  });

  after(async () => stack?.close());

  it("shows the client's recent queries, top domains and the policies that apply", async () => {
    assert.deepEqual(await digs("127.0.0.1", "0.0.0.0"), ["0.0.0.0"]);
    assert.deepEqual(await dig(stack.dnsPort, "www.clients.example", "127.0.0.1"), [
      UPSTREAM_ANSWER,
    ]);
    await page.goto(`${base}/clients`);
    // The edge ships its log every second: the active clients list it once it has arrived.
    await eventually(
      async () => {
        await page.reload();
        return page
          .getByRole("table", { name: "Active clients" })
          .getByRole("link", { name: "This machine" })
          .count();
      },
      (n) => n > 0,
      15_000,
    );
    await page
      .getByRole("table", { name: "Active clients" })
      .getByRole("link", { name: "This machine" })
      .click();
    await page.waitForURL(/\/clients\/127\.0\.0\.1$/);
    await page.getByRole("heading", { name: "This machine (127.0.0.1)" }).waitFor();
    const recent = page.getByRole("table", { name: "Recent queries" });
    await recent.getByRole("cell", { name: BLOCKED, exact: true }).first().waitFor();
    await recent.getByRole("cell", { name: "www.clients.example", exact: true }).first().waitFor();
    await page
      .getByRole("table", { name: "Top blocked domains" })
      .getByRole("link", { name: BLOCKED })
      .waitFor();
    const policies = page.getByRole("table", { name: "Policies for this client" });
    const row = (name: string) => policies.getByRole("row").filter({ hasText: name });
    assert.match((await row("Block ads").textContent()) ?? "", /every client/);
    assert.match((await row("Elsewhere only").textContent()) ?? "", /not this client/);
    await screenshot(page, "client");
  });

  it("pauses this client only: dig from it resolves the blocked name, from 127.0.0.2 it stays blocked; Resume blocks again", async () => {
    await page.goto(`${base}/clients/127.0.0.1`);
    await page
      .getByRole("group", { name: "Pause this client" })
      .getByRole("button", { name: "Until resumed" })
      .click();
    const banner = page.getByRole("status", { name: "Client pause" });
    await banner.getByText("Blocking is paused for this client").waitFor();
    // The bar on every page names the client too.
    await page
      .getByRole("status")
      .filter({ hasText: "Blocking is paused for client This machine until resumed" })
      .waitFor();
    assert.deepEqual(await digs("127.0.0.1", UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
    assert.deepEqual(await dig(stack.dnsPort, BLOCKED, "127.0.0.2"), ["0.0.0.0"]);
    await banner.getByRole("button", { name: "Resume for this client" }).click();
    await banner.waitFor({ state: "detached" });
    assert.deepEqual(await digs("127.0.0.1", "0.0.0.0"), ["0.0.0.0"]);
    const audit = await stack.call<{ items: { action: string; resourceId: string | null }[] }>(
      "GET",
      "/audit?resource=pause",
    );
    assert.deepEqual(
      audit.body.items.map((i) => [i.action, i.resourceId]),
      [
        ["resume", "127.0.0.1"],
        ["pause", "127.0.0.1"],
      ],
    );
  });

  it("its own setting 'Blocking on' unticked lets it through; 'Use global settings' blocks again", async () => {
    await page.goto(`${base}/clients/127.0.0.1`);
    const form = page.getByRole("form", { name: "Client settings" });
    await form.getByText("This client uses the global settings.").waitFor();
    await form.getByLabel("Blocking on").uncheck();
    await form.getByRole("button", { name: "Save settings" }).click();
    await form.getByText(/Its own settings, changed/).waitFor();
    assert.deepEqual(await digs("127.0.0.1", UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
    assert.deepEqual(await dig(stack.dnsPort, BLOCKED, "127.0.0.2"), ["0.0.0.0"]);
    await form.getByRole("button", { name: "Use global settings" }).click();
    await form.getByText("This client uses the global settings.").waitFor();
    assert.deepEqual(await digs("127.0.0.1", "0.0.0.0"), ["0.0.0.0"]);
    assert.deepEqual(stack.problems, []);
  });
});
