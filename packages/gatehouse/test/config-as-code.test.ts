// Configuration as code against a real `gatehouse control` on loopback: `gatehouse config test
// FILE.yaml` runs a document's policy tests (exit 0 when they pass, 1 with the failing case
// and its FILE:LINE when one fails or the document does not validate, 2 for usage); `pull`
// writes the configuration (subscribed lists by reference, the rollout plan), `plan` shows
// what a file would change, `apply` applies and publishes it and is idempotent.

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import { type ControlProcess, runCli, startControlProcess } from "./support/processes.ts";

/** Run the CLI to its end: exit code and everything it printed. */
async function gatehouse(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const r = runCli(args, env);
  const code = await new Promise<number | null>((res) => {
    if (r.child.exitCode !== null) res(r.child.exitCode);
    else r.child.once("exit", (c) => res(c));
  });
  return { code, out: r.output() };
}

const DOC = (expectTracker: string) => `kind: gatehouse/account-config
version: 1
lists:
  - name: ads
    type: domain
    items: [ads.example.com]
locations:
  - name: Office
    networks: [192.0.2.0/24]
policies:
  - name: Block ads
    type: dns
    enabled: true
    precedence: 1
    expression: any(dns.domains[*] in $ads)
    action: block
tests:
  - name: ads from the office are blocked
    dns: { query: ads.example.com, location: Office }
    expect: { action: block, policy: Block ads }
  - name: tracker
    dns: { query: tracker.example }
    expect: { action: ${expectTracker} }
`;

describe("gatehouse config", () => {
  let dir = "";
  let control: ControlProcess;
  let env: Record<string, string>;
  let url = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-config-"));
    control = await startControlProcess(join(dir, "control"));
    url = `http://127.0.0.1:${control.port}`;
    env = { GATEHOUSE_TOKEN: control.token };
  });
  after(async () => {
    await control?.proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("config test exits 0 when every case passes", async () => {
    const file = join(dir, "pass.yaml");
    await writeFile(file, DOC("allow"));
    const r = await gatehouse(["config", "test", file, "--control", url], env);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /PASS ads from the office are blocked \(block by "Block ads"\)/);
    assert.match(r.out, /2 passed, 0 failed/);
  });

  it("config test exits 1 and prints the failing case with its line", async () => {
    const file = join(dir, "fail.yaml");
    await writeFile(file, DOC("block"));
    const r = await gatehouse(["config", "test", file, "--control", url], env);
    assert.equal(r.code, 1, r.out);
    assert.ok(
      r.out.includes(`FAIL ${file}:21:5: tracker: expected block, got allow (no policy matched)`),
      r.out,
    );
    assert.match(r.out, /1 passed, 1 failed/);
  });

  it("config test exits 1 with the problem's line when the document does not validate", async () => {
    const file = join(dir, "broken.yaml");
    await writeFile(file, DOC("allow").replace("any(dns.domains[*] in $ads)", "dns.fqdn =="));
    const r = await gatehouse(["config", "test", file, "--control", url], env);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`${file}:15:17: /policies/0/expression: `));
  });

  it("config without a token or with a wrong subcommand is a usage error", async () => {
    const file = join(dir, "pass.yaml");
    const noToken = await gatehouse(["config", "test", file, "--control", url], {
      GATEHOUSE_TOKEN: "",
    });
    assert.equal(noToken.code, 2, noToken.out);
    assert.match(noToken.out, /GATEHOUSE_TOKEN/);
    const wrong = await gatehouse(["config", "frobnicate"], env);
    assert.equal(wrong.code, 2, wrong.out);
  });

  it("pull, plan, apply: a subscription by reference, the rollout plan, idempotent", async () => {
    const list = await control.call<{ id: string }>("POST", "/lists", {
      name: "feed",
      type: "domain",
      items: ["feed-item.example"],
    });
    assert.equal(list.status, 201);
    const sub = await control.call("PUT", `/lists/${list.body.id}/subscription`, {
      url: "http://127.0.0.1:9/feed.txt",
      refreshSeconds: 3600,
    });
    assert.equal(sub.status, 200, JSON.stringify(sub.body));
    const file = join(dir, "gatehouse.yaml");
    const pulled = await gatehouse(["config", "pull", "-o", file, "--control", url], env);
    assert.equal(pulled.code, 0, pulled.out);
    const doc = YAML.parse(await readFile(file, "utf8"));
    const feed = doc.lists.find((l: { name: string }) => l.name === "feed");
    assert.deepEqual(feed.subscription, {
      url: "http://127.0.0.1:9/feed.txt",
      refreshSeconds: 3600,
      format: "auto",
      maxBytes: 67108864,
    });
    assert.equal(feed.items, undefined, "a subscribed list is exported by reference");
    assert.equal(doc.rolloutPlan, null);

    const unchanged = await gatehouse(["config", "plan", file, "--control", url], env);
    assert.equal(unchanged.code, 0, unchanged.out);
    assert.match(unchanged.out, /^No changes\.$/m);

    // Written by hand: no ids, a new policy, a rollout plan, a test.
    doc.policies = [
      {
        name: "Block games",
        type: "dns",
        enabled: true,
        precedence: 5,
        expression: 'dns.fqdn == "games.example"',
        action: "block",
      },
    ];
    doc.rolloutPlan = { stages: [{ name: "all", bakeSeconds: 0 }] };
    doc.tests = [
      { name: "games blocked", dns: { query: "games.example" }, expect: { action: "block" } },
    ];
    await writeFile(file, YAML.stringify(doc));
    const plan = await gatehouse(["config", "plan", file, "--control", url], env);
    assert.equal(plan.code, 0, plan.out);
    assert.match(plan.out, /^\+ policy "Block games"$/m);
    assert.match(plan.out, /^~ rolloutPlan$/m);
    assert.match(plan.out, /Policy tests: 1 passed, 0 failed/);

    const applied = await gatehouse(["config", "apply", file, "--control", url], env);
    assert.equal(applied.code, 0, applied.out);
    assert.match(applied.out, /Applied and published version (\d+)/);
    const plan2 = await control.call<{ plan: unknown }>("GET", "/rollout-plan");
    assert.deepEqual(plan2.body.plan, { stages: [{ name: "all", bakeSeconds: 0 }] });
    const items = await control.call<{ items: string[] }>("GET", `/lists/${list.body.id}/items`);
    assert.ok(JSON.stringify(items.body).includes("feed-item.example"), "the items stayed");
    const subAfter = await control.call<{ url: string }>(
      "GET",
      `/lists/${list.body.id}/subscription`,
    );
    assert.equal(subAfter.body.url, "http://127.0.0.1:9/feed.txt");

    const again = await gatehouse(["config", "apply", file, "--control", url], env);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /^No changes\.$/m);
    assert.match(again.out, /nothing new to publish/);
  });

  it("apply refuses a file whose test fails, and one control refuses, with the line", async () => {
    const file = join(dir, "gatehouse.yaml");
    const doc = YAML.parse(await readFile(file, "utf8"));
    doc.tests[0].expect.action = "allow";
    await writeFile(file, YAML.stringify(doc));
    const failing = await gatehouse(["config", "apply", file, "--control", url], env);
    assert.equal(failing.code, 1, failing.out);
    assert.match(failing.out, /not applied: 1 policy test\(s\) fail/);
    const before = await control.call<{ items: { name: string }[] }>("GET", "/policies");
    assert.deepEqual(
      before.body.items.map((p) => p.name),
      ["Block games"],
    );
    doc.tests[0].expect.action = "block";
    doc.policies[0].expression = "dns.fqdn ==";
    const text = YAML.stringify(doc);
    await writeFile(file, text);
    const line = text.split("\n").findIndex((l) => l.includes("dns.fqdn ==")) + 1;
    const broken = await gatehouse(["config", "apply", file, "--control", url], env);
    assert.equal(broken.code, 1, broken.out);
    assert.match(broken.out, new RegExp(`${file}:${line}:\\d+: /policies/0/expression: `));
  });
});
