// Policy tests through the API: stored with the configuration (GET/PUT /config/tests, the YAML
// export), run by POST /config/check on the draft or on a sent YAML document (results with
// their YAML lines), and before every publish (a failing case refuses it, naming the case and
// the deciding policy).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

const b = BACKENDS[0]!;

describe("policy tests (API)", () => {
  let t: TestApp;
  const api = (method: string, url: string, body?: unknown, headers?: Record<string, string>) =>
    call(t.app, t.token, method as "GET", `/api/v1${url}`, body, headers);
  before(async () => {
    t = await openTestApp(b.name, {});
    assert.equal(
      (await api("POST", "/lists", { name: "ads", type: "domain", items: ["ads.example.com"] }))
        .statusCode,
      201,
    );
    await api("POST", "/locations", { name: "Office", networks: ["192.0.2.0/24"] });
    const p = await api("POST", "/policies", {
      name: "Block ads",
      type: "dns",
      expression: "any(dns.domains[*] in $ads)",
      action: "block",
    });
    assert.equal(p.statusCode, 201, p.body);
  });
  after(async () => t?.close());

  const adsBlocked = {
    name: "ads from the office are blocked",
    dns: { query: "ads.example.com", location: "Office" },
    expect: { action: "block", policy: "Block ads" },
  };
  const intranetAllowed = {
    name: "the intranet is allowed",
    dns: { query: "intranet.example" },
    expect: { action: "allow", policy: null },
  };

  it("stores the cases and runs them on the draft with POST /config/check", async () => {
    const put = await api("PUT", "/config/tests", { tests: [adsBlocked, intranetAllowed] });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal((await api("GET", "/config/tests")).json().tests.length, 2);
    const check = await api("POST", "/config/check");
    assert.equal(check.statusCode, 200, check.body);
    const c = check.json();
    assert.equal(c.ok, true);
    assert.equal(c.tests.passed, 2);
    assert.deepEqual(c.tests.results[0].actual.policyName, "Block ads");
    const audited = (await api("GET", "/audit?resource=policy-tests")).json();
    assert.ok(
      audited.items.some((e: { action: string }) => e.action === "update"),
      JSON.stringify(audited),
    );
    const published = await api("POST", "/config/publish");
    assert.equal(published.statusCode, 200, published.body);
  });

  it("a failing case refuses the publish with the case and the deciding policy", async () => {
    const pol = (await api("GET", "/policies")).json().items[0];
    // An over-broad change: every query is blocked.
    const patched = await api("PATCH", `/policies/${pol.id}`, { expression: 'dns.fqdn != ""' });
    assert.equal(patched.statusCode, 200, patched.body);
    const check = (await api("POST", "/config/check", {})).json();
    assert.equal(check.ok, false);
    assert.equal(check.tests.failed, 1);
    assert.equal(check.tests.results[1].name, "the intranet is allowed");
    const r = await api("POST", "/config/publish");
    assert.equal(r.statusCode, 422, r.body);
    const e = r.json().error;
    assert.equal(e.code, "GH_ERR_CONFIG_REJECTED");
    assert.equal(
      e.message,
      'policy test "the intranet is allowed" failed: expected allow (no policy matched), got block by policy "Block ads"',
    );
    assert.equal(e.details.tests[0].actual.policyId, pol.id);
    const versions = (await api("GET", "/config/versions")).json().items;
    assert.equal(versions.length, 1, "nothing published");
    const metrics = await call(t.app, t.token, "GET", "/metrics");
    assert.equal(metrics.statusCode, 200, metrics.body);
    assert.match(
      metrics.body,
      /gatehouse_control_policy_tests_total\{run="publish",result="failed"\} 1\n/,
    );
    assert.match(
      metrics.body,
      /gatehouse_control_policy_tests_total\{run="check",result="passed"\} 3\n/,
    );
    await api("PATCH", `/policies/${pol.id}`, { expression: "any(dns.domains[*] in $ads)" });
  });

  it("the YAML export carries the tests; a sent document is checked with its lines", async () => {
    const exported = (await api("GET", "/config/export")).body;
    const doc = YAML.parse(exported);
    assert.deepEqual(
      doc.tests.map((x: { name: string }) => x.name),
      [adsBlocked.name, intranetAllowed.name],
    );
    doc.tests.push({
      name: "tracker is blocked",
      dns: { query: "tracker.example" },
      expect: { action: "block" },
    });
    const text = YAML.stringify(doc, { lineWidth: 0 });
    const r = await api("POST", "/config/check", text, { "content-type": "application/yaml" });
    assert.equal(r.statusCode, 200, r.body);
    const c = r.json();
    assert.equal(c.ok, false, r.body);
    const failed = c.tests.results[2];
    assert.equal(failed.passed, false);
    assert.equal(failed.message, "expected block, got allow (no policy matched)");
    const lines = text.split("\n");
    assert.match(lines[failed.line - 1] ?? "", /name: tracker is blocked/, `line ${failed.line}`);
    // Nothing was stored from the document.
    assert.equal((await api("GET", "/config/tests")).json().tests.length, 2);
  });

  it("a document that does not validate is answered with problems located in the YAML", async () => {
    const text = [
      "kind: gatehouse/account-config",
      "version: 1",
      "policies:",
      "  - name: broken",
      "    type: dns",
      "    enabled: true",
      "    precedence: 1",
      '    expression: "dns.fqdn =="',
      "    action: block",
      "",
    ].join("\n");
    const r = await api("POST", "/config/check", text, { "content-type": "application/yaml" });
    assert.equal(r.statusCode, 200, r.body);
    const c = r.json();
    assert.equal(c.ok, false);
    assert.equal(c.problems[0].path, "/policies/0/expression");
    assert.deepEqual(c.spans[0], { path: "/policies/0/expression", line: 8, column: 17 });
    const imported = await api("PUT", "/config/export", text, {
      "content-type": "application/yaml",
    });
    assert.equal(imported.statusCode, 422, imported.body);
    assert.match(imported.json().error.message, /^line 8, column 17: /);
    assert.equal(imported.json().error.details.problems[0].line, 8);
  });

  it("refuses malformed cases with 400", async () => {
    const r = await api("PUT", "/config/tests", {
      tests: [{ name: "x", dns: { query: "a.example" }, expect: { action: "explode" } }],
    });
    assert.equal(r.statusCode, 400, r.body);
  });
});
