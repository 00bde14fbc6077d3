// Adblock exceptions uploaded to control reach the edge's `$<list>.allow`, as they do from an
// edge-local list file: control stores `@@||name^` items, publishes them in the bundle, and the
// edge's list parser files them under `<list>.allow`.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type ConfigBundle, checkBundle } from "@gatehouse/contract";
import { buildApp } from "@gatehouse/control";
import { compileSnapshot } from "@gatehouse/edge";
import type { FastifyInstance } from "fastify";

let app: FastifyInstance;
let token: string;

const api = (method: "GET" | "POST", url: string, body?: unknown, type = "application/json") =>
  app.inject({
    method,
    url: `/api/v1${url}`,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": type }),
    },
    ...(body === undefined
      ? {}
      : { payload: typeof body === "string" ? body : JSON.stringify(body) }),
  });

before(async () => {
  app = await buildApp({ logger: false, autoPublishDelayMs: 0 });
  token = app.gatehouse.adminToken!;
});
after(async () => app?.close());

test("@@ exceptions uploaded to control become the edge's $name.allow", async () => {
  const created = await api("POST", "/lists", {
    name: "ads",
    type: "domain",
    items: ["tracker.example", "@@||Fine.Tracker.Example^"],
  });
  assert.equal(created.statusCode, 201, created.body);
  const id = created.json().id as string;
  const upload = await api(
    "POST",
    `/lists/${id}/items?format=adblock`,
    "! a filter list\n||ads.example^\n@@||good.ads.example^\n@@||x.example^$document\n",
    "text/plain",
  );
  assert.equal(upload.statusCode, 200, upload.body);
  // Two rules taken (one exception among them), the comment and the `$document` rule skipped.
  assert.deepEqual(upload.json(), {
    changed: 2,
    skipped: 2,
    itemCount: 4,
    invalid: 0,
    unsupported: 1,
    rejected: [],
  });

  const policy = await api("POST", "/policies", {
    name: "ads but not the exceptions",
    type: "dns",
    expression: "any(dns.domains[*] in $ads) and not any(dns.domains[*] in $ads.allow)",
    action: "block",
  });
  assert.equal(policy.statusCode, 201, policy.body);
  const published = await api("POST", "/config/publish", {});
  assert.equal(published.statusCode, 200, published.body);
  const bundle = (
    await api("GET", `/config/versions/${published.json().version}`)
  ).json() as ConfigBundle;
  assert.deepEqual(checkBundle(bundle), []);
  assert.deepEqual([...(bundle.lists.find((l) => l.name === "ads")?.items ?? [])].sort(), [
    "@@||fine.tracker.example^",
    "@@||good.ads.example^",
    "ads.example",
    "tracker.example",
  ]);

  const snap = compileSnapshot(bundle);
  const ads = snap.lists.bytes("ads")!;
  const allow = snap.lists.bytes("ads.allow")!;
  for (const blocked of ["ads.example", "tracker.example"]) assert.ok(ads.has(blocked), blocked);
  for (const excepted of ["good.ads.example", "fine.tracker.example"]) {
    assert.ok(allow.has(excepted), excepted);
    assert.ok(!ads.has(excepted), `${excepted} is not a block entry`);
  }
});

test("a bad line never fails an upload: skipped, counted, named with its line number", async () => {
  const created = await api("POST", "/lists", { name: "more", type: "domain" });
  const id = created.json().id as string;
  const up = await api(
    "POST",
    `/lists/${id}/items`,
    "||ok.example^\n@@||bad..example^\n",
    "text/plain",
  );
  assert.equal(up.statusCode, 200, up.body);
  assert.equal(up.json().itemCount, 1);
  assert.equal(up.json().invalid, 1);
  assert.equal(up.json().rejected[0].line, 2);
  assert.match(up.json().rejected[0].reason, /not a valid domain name/);
  const view = await api("GET", `/lists/${id}`);
  assert.equal(view.json().importStatus.invalid, 1);
  assert.equal(view.json().importStatus.rejected[0].line, 2);
  // A wildcard exception is a rule of its own now.
  const wildcard = await api("POST", "/lists", {
    name: "wild",
    type: "domain",
    items: ["@@||*.example^"],
  });
  assert.equal(wildcard.statusCode, 201, wildcard.body);
});
