// The policy editor end to end in headless Chromium against a running Gatehouse (test/stack.ts:
// control in-process serving the dashboard built from its current source, a real edge answering DNS on loopback): a person
// types an expression with completion of fields and `$lists`, sees the API's diagnostic drawn at
// its span in the editor, turns the expression into builder rows, changes them, saves, and the
// edge blocks what the rows say; the saved policy reads back into the same rows, and an
// expression the rows cannot say stays text with the reason.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Locator, Page } from "playwright-core";
import { SKIP, screenshot } from "./browser.ts";
import { type Stack, startStack } from "./stack.ts";

const UPSTREAM_ANSWER = "192.0.2.90";

describe("policy editor and builder, against a real edge", { skip: SKIP }, () => {
  let stack: Stack;
  let page: Page;

  before(async () => {
    stack = await startStack({
      name: "gh-dashboard-policy-editor",
      upstreamAnswer: UPSTREAM_ANSWER,
      // Saved policies publish on their own shortly after, as with the default control.
      autoPublishDelayMs: 200,
      setup: [
        ["POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] }],
        ["POST", "/lists", { name: "ads", type: "domain", items: ["ads.editor.example"] }],
        ["POST", "/lists", { name: "office", type: "ip", items: ["10.1.0.0/16"] }],
      ],
    });
    ({ page } = stack);
  });

  after(async () => stack?.close());

  /** The editor's text (CodeMirror's content element, inside its shadow root). */
  const text = async (editor: Locator) => (await editor.innerText()).replace(/\n$/, "");
  /** Wait until `ok()` holds (the editor applies keys asynchronously); fail naming `what`. */
  const until = async (what: string, ok: () => Promise<boolean>, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  it("completes, shows the diagnostic at its span, builds a policy that the edge then applies", async () => {
    assert.deepEqual(await stack.answers("ads.editor.example", UPSTREAM_ANSWER), [UPSTREAM_ANSWER]);
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Policies", exact: true })
      .click();
    await page.getByRole("button", { name: "New policy" }).click();
    const form = page.getByRole("form", { name: "New policy" });
    // CodeMirror's content (the lazily loaded editor replaces a plain text area).
    const editor = form.locator('.cm-content[aria-label="Expression"]');
    await editor.click();

    // A field from the DNS scheme, completed: typing "dns.fq" offers dns.fqdn with its type.
    await page.keyboard.type("dns.fq");
    const options = page.getByRole("listbox").getByRole("option");
    await options.filter({ hasText: "dns.fqdn" }).first().waitFor();
    assert.match((await options.first().textContent()) ?? "", /^dns\.fqdnBytes$/);
    // CodeMirror ignores Enter for its interactionDelay (75 ms) after the list opens, so that a
    // list popping up under a typist's Enter does not swallow it; a loaded machine can be faster.
    await page.waitForTimeout(300);
    await page.keyboard.press("Enter");
    assert.equal(await text(editor), "dns.fqdn");
    // After a field the completion offers operators.
    await page.keyboard.type(" cont");
    await options.filter({ hasText: "contains" }).first().waitFor();
    await page.keyboard.press("Escape");
    await until("the typed operator prefix", async () => (await text(editor)) === "dns.fqdn cont");
    // One key at a time, each seen by the editor before the next (a key pressed while the
    // editor still handles the last one was lost under load).
    for (const left of ["dns.fqdn con", "dns.fqdn co", "dns.fqdn c", "dns.fqdn "]) {
      await page.keyboard.press("Backspace");
      await until(`"${left}" after Backspace`, async () => (await text(editor)) === left);
    }
    await page.keyboard.type('== "x.editor.example" or any(dns.domains[*] in $');
    // The account's lists, with their type.
    const list = options.filter({ hasText: "$ads" });
    await list.waitFor();
    assert.match((await list.textContent()) ?? "", /domain/);
    assert.match((await options.filter({ hasText: "$office" }).textContent()) ?? "", /ip/);
    // A mistyped list: the API's diagnostic is drawn at its span in the editor and below it.
    await page.keyboard.type("socail");
    assert.equal(
      await text(editor),
      'dns.fqdn == "x.editor.example" or any(dns.domains[*] in $socail)',
    );
    const range = form.locator(".cm-lintRange-error");
    await range.waitFor();
    assert.equal(await range.textContent(), "$socail");
    assert.equal(await editor.getAttribute("aria-invalid"), "true");
    assert.equal(await form.locator(".span-error mark").textContent(), "$socail");
    assert.match((await form.locator(".span-error").textContent()) ?? "", /unknown list \$socail/);
    await screenshot(page, "policy-editor");

    // The builder reads the expression into rows, which are then changed.
    await form.getByRole("button", { name: "Builder" }).click();
    assert.equal(await form.getByLabel("Field 1").inputValue(), "dns.fqdn");
    assert.equal(await form.getByLabel("Operator 1").inputValue(), "eq");
    assert.equal(await form.getByLabel("Value 1").inputValue(), "x.editor.example");
    assert.equal(await form.getByLabel("Field 2").inputValue(), "dns.domains");
    assert.equal(await form.getByLabel("Operator 2").inputValue(), "in_list");
    assert.equal(await form.getByLabel("Value 2").inputValue(), "socail");
    assert.equal(await form.getByLabel("Join the conditions with").inputValue(), "or");
    // Only lists of the field's type are offered (the IP list is not).
    const listOptions = await form.getByLabel("Value 2").locator("option").allTextContents();
    assert.deepEqual(listOptions, ["List…", "$ads", "$socail (no such list)"]);
    await form.getByLabel("Value 2").selectOption("ads");
    await form.getByRole("button", { name: "Add condition" }).click();
    await form.getByLabel("Field 3").selectOption("dns.fqdn");
    const ops = await form.getByLabel("Operator 3").locator("option").allTextContents();
    assert.ok(ops.includes("matches wildcard") && !ops.includes("is less than"), ops.join());
    await form.getByLabel("Operator 3").selectOption({ label: "matches wildcard" });
    await form.getByLabel("Value 3").fill("*.wild.example");
    const expected =
      'dns.fqdn == "x.editor.example" or any(dns.domains[*] in $ads) or dns.fqdn wildcard "*.wild.example"';
    assert.equal(await form.locator(".builder code").textContent(), expected);
    await form.getByText("The expression compiles.").waitFor();
    await screenshot(page, "policy-builder");
    await form.getByLabel("Name").fill("Built in the editor");
    await form.getByRole("button", { name: "Create policy" }).click();
    const table = page.getByRole("table", { name: "Policies" });
    await table.getByRole("cell", { name: expected }).waitFor();

    // Published on save: the edge blocks what the rows say, and nothing else.
    assert.deepEqual(await stack.answers("ads.editor.example", "0.0.0.0"), ["0.0.0.0"]);
    assert.deepEqual(await stack.answers("cdn.ads.editor.example", "0.0.0.0"), ["0.0.0.0"]);
    assert.deepEqual(await stack.answers("x.editor.example", "0.0.0.0"), ["0.0.0.0"]);
    assert.deepEqual(await stack.answers("a.wild.example", "0.0.0.0"), ["0.0.0.0"]);
    assert.deepEqual(await stack.answers("other.editor.example", UPSTREAM_ANSWER), [
      UPSTREAM_ANSWER,
    ]);
  });

  it("reads a saved policy back into rows, and keeps an expression the rows cannot say as text", async () => {
    const table = page.getByRole("table", { name: "Policies" });
    await table
      .getByRole("row")
      .filter({ hasText: "Built in the editor" })
      .getByRole("button", { name: "Edit" })
      .click();
    const form = page.getByRole("form", { name: "Edit policy" });
    await form.getByRole("button", { name: "Builder" }).click();
    assert.equal(await form.getByLabel("Value 3").inputValue(), "*.wild.example");
    assert.equal(await form.getByLabel("Operator 3").inputValue(), "wildcard");
    // On a phone in dark mode: the rows stack within the width, the editor takes the dark colours.
    await page.emulateMedia({ colorScheme: "dark" });
    await page.setViewportSize({ width: 390, height: 844 });
    const fieldBox = await form.getByLabel("Field 1").boundingBox();
    const valueBox = await form.getByLabel("Value 1").boundingBox();
    assert.ok(fieldBox && valueBox && valueBox.y > fieldBox.y, "the row's boxes stack");
    assert.ok(valueBox.height < 60, `a stacked box keeps its height (${valueBox.height} px)`);
    const nameBox = await form.getByLabel("Name").boundingBox();
    assert.ok(nameBox && nameBox.height < 60, `the form's fields too (${nameBox?.height} px)`);
    assert.ok(
      await page.evaluate(() => document.documentElement.scrollWidth <= 390),
      "no sideways scrolling",
    );
    await screenshot(page, "policy-builder-phone-dark");
    await form.getByRole("button", { name: "Text" }).click();
    assert.equal(
      await form.locator(".cm-editor").evaluate((e) => getComputedStyle(e).backgroundColor),
      "rgb(20, 26, 34)",
    );
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 1280, height: 900 });
    await form.getByRole("button", { name: "Builder" }).click();
    // Remove a row: the expression follows.
    await form.getByRole("button", { name: "Remove condition 1" }).click();
    assert.equal(
      await form.locator(".builder code").textContent(),
      'any(dns.domains[*] in $ads) or dns.fqdn wildcard "*.wild.example"',
    );
    await form.getByRole("button", { name: "Text" }).click();
    const editor = form.locator('.cm-content[aria-label="Expression"]');
    assert.equal(
      await text(editor),
      'any(dns.domains[*] in $ads) or dns.fqdn wildcard "*.wild.example"',
    );
    await editor.click();
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.type('(dns.fqdn == "a.example" and dns.src_port > 1');
    await page.keyboard.press("End");
    await page.keyboard.type(' or dns.fqdn == "b.example"');
    assert.equal(
      await text(editor),
      '(dns.fqdn == "a.example" and dns.src_port > 1) or dns.fqdn == "b.example"',
    );
    // Mixed and/or with a group in parentheses: the builder shows the group with its own join.
    await form.getByRole("button", { name: "Builder" }).click();
    assert.equal(await form.getByLabel("Join the conditions with").inputValue(), "or");
    assert.equal(await form.getByLabel("Join group 1 with").inputValue(), "and");
    assert.equal(await form.getByLabel("Field 1.1").inputValue(), "dns.fqdn");
    assert.equal(await form.getByLabel("Value 1.1").inputValue(), "a.example");
    assert.equal(await form.getByLabel("Operator 1.2").inputValue(), "gt");
    assert.equal(await form.getByLabel("Value 2").inputValue(), "b.example");
    await form.getByRole("button", { name: "Add condition to group 1" }).click();
    await form.getByLabel("Field 1.3").selectOption("dns.fqdn");
    await form.getByLabel("Operator 1.3").selectOption({ label: "contains" });
    await form.getByLabel("Value 1.3").fill("ads");
    await form.getByLabel("Join group 1 with").selectOption("or");
    const grouped =
      '(dns.fqdn == "a.example" or dns.src_port > 1 or dns.fqdn contains "ads") or dns.fqdn == "b.example"';
    assert.equal(await form.locator(".builder code").textContent(), grouped);
    await form.getByRole("button", { name: "Add group" }).click();
    await form.getByLabel("Field 3.1").selectOption("dns.src_port");
    await form.getByLabel("Value 3.1").fill("53");
    await form.getByLabel("Field 3.2").selectOption("dns.src_port");
    await form.getByLabel("Value 3.2").fill("853");
    assert.equal(
      await form.locator(".builder code").textContent(),
      `${grouped} or (dns.src_port == 53 and dns.src_port == 853)`,
    );
    await form.getByRole("button", { name: "Remove group 3" }).click();
    assert.equal(await form.locator(".builder code").textContent(), grouped);
    await form.getByText("The expression compiles.").waitFor();
    // What the rows cannot say (xor) stays text.
    await form.getByRole("button", { name: "Text" }).click();
    await editor.click();
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.type('dns.fqdn == "a.example" xor dns.fqdn == "b.example"');
    await form.getByRole("button", { name: "Builder" }).click();
    await form
      .getByRole("status")
      .filter({ hasText: "The builder cannot show this expression as rows: it uses xor" })
      .waitFor();
    assert.equal(
      await form.getByRole("button", { name: "Text" }).getAttribute("aria-pressed"),
      "true",
    );
    assert.equal(await text(editor), 'dns.fqdn == "a.example" xor dns.fqdn == "b.example"');
    await form.getByRole("button", { name: "Cancel" }).click();

    const unexpected = stack.problems.filter((p) => !/status of 422 /.test(p));
    assert.deepEqual(unexpected, [], "no console errors or CSP violations");
  });
});
