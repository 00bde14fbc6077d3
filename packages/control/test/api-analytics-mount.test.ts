// The analytics routes mounted in the control app: guarded by the app's auth (viewer for
// queries, edge credential for log ingestion) and scoped to the caller's account. The store is
// a recording stub: the stores themselves have their own conformance suite.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { AnalyticsStore } from "../src/analytics/types.ts";
import { call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

describe("analytics routes in the control app (pglite)", () => {
  let t: TestApp;
  const seen: { op: string; accountId: string | undefined }[] = [];
  const ingested: { edgeId?: string }[] = [];
  const stub = {
    async ingest(_batch: string, records: readonly { edgeId?: string }[], accountId?: string) {
      seen.push({ op: "ingest", accountId });
      ingested.push(...records);
      return { accepted: records.length, duplicate: false };
    },
    async top(q: { accountId?: string; dimension: string }) {
      seen.push({ op: "top", accountId: q.accountId });
      return { dimension: q.dimension, entries: [] };
    },
  } as unknown as AnalyticsStore;

  before(async () => {
    t = await openTestApp("pglite", { analytics: stub });
  });
  after(async () => t?.close());

  it("declares access on every analytics route", () => {
    const routes = t.app.gatehouse.routes.filter(
      (r) => r.url.includes("/analytics") || r.url.endsWith("/edge/logs"),
    );
    assert.ok(routes.length >= 6, JSON.stringify(routes));
    for (const r of routes)
      assert.ok(r.access === "viewer" || r.access === "edge", `${r.method} ${r.url}: ${r.access}`);
  });

  it("queries need a token and are scoped to its account", async () => {
    const url =
      "/api/v1/analytics/top?dimension=domain&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z";
    assert.equal((await call(t.app, undefined, "GET", url)).statusCode, 401);
    const r = await call(t.app, t.token, "GET", url);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(seen.at(-1), { op: "top", accountId: t.app.gatehouse.systemAccountId });
  });

  it("log ingestion takes only an edge credential and files records under the edge's account", async () => {
    assert.equal(
      (
        await call(t.app, t.token, "POST", "/api/v1/edge/logs", "", {
          "content-type": "application/x-ndjson",
        })
      ).statusCode,
      401,
    );
    const join = (await call(t.app, t.token, "POST", "/api/v1/edges/join-tokens")).json().joinToken;
    const edge = (
      await call(t.app, undefined, "POST", "/api/v1/edge/enroll", { joinToken: join, name: "e" })
    ).json();
    const record = {
      ts: Date.now(),
      kind: "dns",
      id: "r1",
      // Not this edge: control files the record under the edge that sent it.
      edgeId: "someone-else",
      client: "192.0.2.1",
      action: "allow",
      transport: "udp",
      durationMs: 1,
    };
    const r = await call(
      t.app,
      edge.credential,
      "POST",
      "/api/v1/edge/logs",
      `${JSON.stringify(record)}\n`,
      {
        "content-type": "application/x-ndjson",
        "x-batch-id": "b1",
      },
    );
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(seen.at(-1), { op: "ingest", accountId: edge.accountId });
    assert.equal(typeof edge.edgeId, "string");
    assert.deepEqual(
      ingested.map((r) => r.edgeId),
      [edge.edgeId],
    );
  });
});
