// The Rollouts page in headless Chromium against control in-process (in-memory PGlite) serving
// the dashboard built from its current source. Two edges speak the edge API through control (enrolment with
// a join token scoped to a label, heartbeats with counters). The plan is written on the page
// (canary by label, then every other edge); a publish starts a rollout the page shows (stage,
// edges on the new and old version); Pause, Resume and Promote now act on it (audited); a bad
// change's canary answers SERVFAIL and the page says which gate stopped it, with the numbers;
// the emergency publish goes to every edge at once (audited `publish-emergency`).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import type { Page } from "playwright-core";
import { type DashboardApp, SKIP, screenshot, signIn, startDashboardApp } from "./browser.ts";

describe("the Rollouts page", { skip: SKIP }, () => {
  let d: DashboardApp | undefined;
  let app: FastifyInstance;
  let page: Page;
  let base: string;
  let token: string;
  const edges = { canary: { id: "", credential: "" }, other: { id: "", credential: "" } };
  const uptime = { canary: 10, other: 10 };

  const A = async (method: string, url: string, body?: unknown, auth = token) => {
    const r = await app.inject({
      method: method as "GET",
      url: `/api/v1${url}`,
      headers: {
        authorization: `Bearer ${auth}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as never) : (null as never) };
  };
  /** A heartbeat of one edge: the version it runs and its counters since its start. */
  const beat = async (
    e: keyof typeof edges,
    configVersion: number,
    counters: Record<string, number> = {},
  ) => {
    uptime[e] += 1;
    const r = await A(
      "POST",
      "/edge/heartbeat",
      { version: "0.1.0", configVersion, uptimeSeconds: uptime[e], counters },
      edges[e].credential,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  let precedence = 10;
  const changeAndPublish = async (expression: string) => {
    const p = await A("POST", "/policies", {
      name: `p${precedence}`,
      type: "dns",
      precedence: precedence++,
      expression,
      action: "block",
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const pub = await A("POST", "/config/publish", {});
    assert.equal(pub.status, 200, JSON.stringify(pub.body));
    return (pub.body as { version: number }).version;
  };
  const current = () => page.getByTestId("current-rollout");

  before(async () => {
    // Heartbeats come when the test sends them: a long interval keeps the rollout's crash gate
    // (three missed beats) from firing while the browser works.
    d = await startDashboardApp("rollouts", { rolloutTickMs: 100, heartbeatIntervalMs: 120_000 });
    ({ app, page, base } = d);
    token = app.gatehouse.adminToken!;
    assert.equal(
      (await A("POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] })).status,
      201,
    );
    await changeAndPublish('dns.fqdn == "first.example"');
    for (const [name, labels] of [
      ["canary", { role: "canary" }],
      ["other", {}],
    ] as const) {
      const tok = await A("POST", "/edges/join-tokens", { labels });
      const r = await A(
        "POST",
        "/edge/enroll",
        { joinToken: (tok.body as { joinToken: string }).joinToken, name: `edge-${name}` },
        "",
      );
      assert.equal(r.status, 201, JSON.stringify(r.body));
      edges[name] = {
        id: (r.body as { edgeId: string }).edgeId,
        credential: (r.body as { credential: string }).credential,
      };
      await beat(name, 1);
    }
    page.on("dialog", (dialog) => void dialog.accept());
    await signIn(page, base, token);
  });

  after(async () => {
    await d?.close();
  });

  it("writes the plan on the page: a canary by label, then every other edge, and a gate threshold", async () => {
    await page.getByRole("link", { name: "Rollouts", exact: true }).click();
    await page.getByRole("heading", { name: "Rollouts", exact: true }).waitFor();
    await page.getByText("No rollout yet").waitFor();
    const form = page.getByRole("form", { name: "Rollout plan" });
    await form.getByText("No plan: publishes go to every edge at once.").waitFor();
    await form.getByRole("button", { name: "Add stage" }).click();
    await form.getByRole("button", { name: "Add stage" }).click();
    await form.getByLabel("Stage 1 name").fill("canary");
    await form.getByLabel("Stage 1 edges").selectOption("labels");
    await form.getByLabel("Stage 1 labels").fill("role=canary");
    await form.getByLabel("Stage 1 bake seconds").fill("3600");
    await form.getByLabel("Stage 2 name").fill("everyone");
    await form.getByLabel("Stage 2 bake seconds").fill("0");
    // A bad entry is refused on the page with the reason, nothing sent.
    await form.getByLabel("SERVFAIL ratio max").fill("lots");
    await form.getByRole("button", { name: "Save plan" }).click();
    await form.getByText("SERVFAIL ratio max: not a number").waitFor();
    assert.deepEqual((await A("GET", "/rollout-plan")).body, { plan: null });
    await form.getByLabel("SERVFAIL ratio max").fill("0.1");
    await form.getByLabel("Queries needed to judge").fill("50");
    await form.getByRole("button", { name: "Save plan" }).click();
    await page.getByText("Plan saved").waitFor();
    const saved = (await A("GET", "/rollout-plan")).body as {
      plan: { stages: unknown[]; gates: Record<string, number> };
    };
    assert.deepEqual(saved.plan.stages, [
      { name: "canary", bakeSeconds: 3600, labels: { role: "canary" } },
      { name: "everyone", bakeSeconds: 0 },
    ]);
    // What the form left empty is the default (control fills it in).
    assert.equal(saved.plan.gates["minQueries"], 50);
    assert.equal(saved.plan.gates["servfailRatioMax"], 0.1);
    assert.equal(saved.plan.gates["blockedRatioMax"], 0.5);
    await screenshot(page, "rollout-plan");
  });

  it("a publish starts a rollout: the page shows its stage and edges; pause, resume and promote act on it (audited)", async () => {
    const v = await changeAndPublish('dns.fqdn == "second.example"');
    await beat("canary", v);
    await beat("other", 1);
    await current().getByText(`Version ${v} (from 1)`).waitFor();
    await current().getByText("stage 1 of 2: canary").waitFor();
    await current().getByText("baking since").waitFor();
    await page
      .getByTestId("rollout-edges")
      .getByText(/On the new version: 1 edge \(edge-canary\).*held on version 1: 1 \(edge-other\)/)
      .waitFor();
    await screenshot(page, "rollout-baking");

    await current().getByRole("button", { name: "Pause" }).click();
    await current().locator(".badge-paused").waitFor();
    await current().getByRole("button", { name: "Resume" }).click();
    await current().locator(".badge-baking").waitFor();
    await current().getByRole("button", { name: "Promote now" }).click();
    await current().getByText("stage 2 of 2: everyone").waitFor();
    await beat("other", v);
    await current().locator(".badge-completed").waitFor();
    const audit = (await A("GET", "/audit?resource=rollout&limit=20")).body as {
      items: { action: string; actor: string }[];
    };
    const actions = audit.items.map((a) => a.action);
    for (const a of ["pause", "resume", "promote", "completed"])
      assert.ok(actions.includes(a), `${a} in ${actions.join(", ")}`);
    assert.ok(audit.items.some((a) => a.action === "pause" && a.actor.startsWith("token:")));
  });

  it("a bad change's canary answers SERVFAIL: the page names the gate that stopped it, with its numbers", async () => {
    // A short bake for this one (set through the API; the page wrote the first plan).
    const plan = await A("PUT", "/rollout-plan", {
      stages: [
        { name: "canary", labels: { role: "canary" }, bakeSeconds: 3 },
        { name: "everyone", bakeSeconds: 0 },
      ],
      gates: { minQueries: 50 },
    });
    assert.equal(plan.status, 200, JSON.stringify(plan.body));
    const before = (await A("GET", "/config/versions?limit=1")).body as {
      items: { version: number }[];
    };
    const good = before.items[0]!.version;
    const v = await changeAndPublish('dns.fqdn == "third.example"');
    await beat("canary", v, { "dns.queries": 0, "dns.servfail": 0 });
    // Once the bake has started (its counters noted), the canary answers SERVFAIL.
    for (;;) {
      const r = (await A("GET", "/rollouts?limit=1")).body as {
        items: { version: number; stages: { bakeStartedAt: string | null }[] }[];
      };
      if (r.items[0]?.version === v && r.items[0].stages[0]?.bakeStartedAt) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    await beat("canary", v, { "dns.queries": 400, "dns.servfail": 390 });
    await current().getByText(`Version ${v} (from ${good})`).waitFor();
    const failure = page.getByTestId("rollout-failure");
    await failure.waitFor();
    assert.match(await failure.innerText(), /Stopped by the servfail_ratio gate: .*97\.5/);
    await current().locator("p > .badge-failed").waitFor();
    const gates = current().getByRole("table", { name: "Gates of canary" });
    const row = gates.getByRole("row").filter({ hasText: "servfail_ratio" });
    const cells = await row.getByRole("cell").allTextContents();
    assert.equal(cells[1], "failed");
    assert.equal(cells[2], "97.5 %");
    assert.equal(cells[4], "5.0 %");
    await screenshot(page, "rollout-failed");
  });

  it("the emergency publish sends the draft to every edge at once, audited as publish-emergency", async () => {
    await page.getByRole("button", { name: "Emergency: publish to all edges at once" }).click();
    await page.getByText(/went to every edge at once \(audited as publish-emergency\)/).waitFor();
    const audit = (await A("GET", "/audit?resource=bundle&limit=5")).body as {
      items: { action: string }[];
    };
    assert.equal(audit.items[0]?.action, "publish-emergency");
    assert.deepEqual(d?.problems, []);
  });
});
