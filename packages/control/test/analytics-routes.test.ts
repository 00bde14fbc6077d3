// The analytics and ingestion route plugins on a bare Fastify instance, with a fake auth
// preHandler (the control app supplies the real one), over a DuckDB store.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { DuckDbStore } from "../src/analytics/duckdb-store.ts";
import { EDGE_LOGS_PATH, edgeLogIngestRoutes } from "../src/analytics/ingest-route.ts";
import { analyticsRoutes } from "../src/analytics/routes.ts";
import { dataset, dns, T0 } from "./analytics-conformance.ts";

const RANGE = `from=${T0 - 3_600_000}&to=${T0 + 3_600_000}`;

describe("analytics routes", () => {
  let app: FastifyInstance;
  let store: DuckDbStore;
  const auth = async (req: FastifyRequest, reply: import("fastify").FastifyReply) => {
    const h = req.headers.authorization;
    if (h !== "Bearer viewer" && h !== "Bearer edge") {
      return reply.status(401).send({ error: { code: "GH_ERR_UNAUTHENTICATED", message: "no" } });
    }
  };
  const account = (req: FastifyRequest) => (req.headers["x-test-account"] as string) ?? "";

  before(async () => {
    store = await DuckDbStore.open({ path: ":memory:", threads: 2 });
    app = Fastify({ logger: false });
    await app.register(analyticsRoutes(store, { preHandler: auth, accountOf: account }));
    await app.register(
      edgeLogIngestRoutes(store, {
        preHandler: auth,
        accountOf: account,
        maxBodyBytes: 64 * 1024,
        maxInflatedBytes: 256 * 1024,
        maxRecords: 500,
      }),
    );
    await app.ready();
    const body = `${dataset()
      .map((r) => JSON.stringify(r))
      .join("\n")}\n`;
    const res = await app.inject({
      method: "POST",
      url: EDGE_LOGS_PATH,
      headers: {
        authorization: "Bearer edge",
        "content-type": "application/x-ndjson",
        "content-encoding": "gzip",
        "x-batch-id": "seed",
      },
      payload: gzipSync(body),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { batchId: "seed", accepted: 32, duplicate: false });
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  const get = (url: string, headers: Record<string, string> = {}) =>
    app.inject({ method: "GET", url, headers: { authorization: "Bearer viewer", ...headers } });

  it("runs the caller's preHandler on every route", async () => {
    for (const url of ["timeseries", "top?dimension=domain", "logs", "export"]) {
      const res = await app.inject({ method: "GET", url: `/api/v1/analytics/${url}` });
      assert.equal(res.statusCode, 401, url);
    }
    const sim = await app.inject({
      method: "POST",
      url: "/api/v1/analytics/simulate",
      payload: { policies: [] },
    });
    assert.equal(sim.statusCode, 401);
    const ingest = await app.inject({ method: "POST", url: EDGE_LOGS_PATH, payload: "" });
    assert.equal(ingest.statusCode, 401);
  });

  it("GET timeseries", async () => {
    const res = await get(`/api/v1/analytics/timeseries?${RANGE}&bucket=day&by=kind`);
    assert.equal(res.statusCode, 200, res.body);
    const day = Date.UTC(2026, 10, 20);
    assert.deepEqual(res.json(), {
      bucket: "day",
      by: "kind",
      points: [
        { t: day, key: "dns", count: 30 },
        { t: day, key: "http", count: 1 },
        { t: day, key: "net", count: 1 },
      ],
    });
  });

  it("GET timeseries and top by edge, and an edgeId filter", async () => {
    const series = await get(`/api/v1/analytics/timeseries?${RANGE}&bucket=day&by=edge`);
    assert.equal(series.statusCode, 200, series.body);
    const day = Date.UTC(2026, 10, 20);
    assert.deepEqual(series.json().points, [
      { t: day, key: "edge-1", count: 30 },
      { t: day, key: "edge-2", count: 1 },
      { t: day, key: null, count: 1 },
    ]);
    const top = await get(`/api/v1/analytics/top?${RANGE}&dimension=edge`);
    assert.equal(top.statusCode, 200, top.body);
    assert.deepEqual(top.json().entries, [
      { key: "edge-1", count: 30 },
      { key: "edge-2", count: 1 },
    ]);
    const logs = await get(`/api/v1/analytics/logs?${RANGE}&edgeId=edge-2`);
    assert.equal(logs.statusCode, 200, logs.body);
    assert.deepEqual(
      logs.json().records.map((r: { id: string }) => r.id),
      ["h1"],
    );
  });

  it("GET top with a filter, ISO times accepted", async () => {
    const from = new Date(T0 - 3_600_000).toISOString();
    const to = new Date(T0 + 3_600_000).toISOString();
    const res = await get(
      `/api/v1/analytics/top?from=${from}&to=${to}&dimension=blocked_domain&limit=1&kind=dns`,
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().entries, [{ key: "ads0.tracker.net", count: 3 }]);
  });

  it("GET logs pages with the cursor", async () => {
    const first = await get(`/api/v1/analytics/logs?${RANGE}&limit=20`);
    assert.equal(first.statusCode, 200);
    const a = first.json();
    assert.equal(a.records.length, 20);
    assert.ok(typeof a.nextCursor === "string");
    const second = await get(
      `/api/v1/analytics/logs?${RANGE}&limit=20&cursor=${encodeURIComponent(a.nextCursor)}`,
    );
    const b = second.json();
    assert.equal(b.records.length, 12);
    assert.equal(b.nextCursor, undefined);
    assert.ok(a.records[19].ts >= b.records[0].ts);
    const filtered = await get(
      `/api/v1/analytics/logs?${RANGE}&domainSuffix=tracker.net&action=block`,
    );
    assert.equal(filtered.json().records.length, 6);
  });

  it("GET logs filters on the TLS inspection fields", async () => {
    const all = (await get(`/api/v1/analytics/logs?${RANGE}&limit=1000`)).json().records.length;
    const none = await get(`/api/v1/analytics/logs?${RANGE}&inspected=true&alpn=h2`);
    assert.equal(none.statusCode, 200, none.body);
    assert.deepEqual(none.json().records, [], "nothing in the data set was inspected");
    const plain = await get(`/api/v1/analytics/logs?${RANGE}&inspected=false&limit=1000`);
    assert.equal(plain.json().records.length, all);
    const cert = await get(
      `/api/v1/analytics/logs?${RANGE}&originCert=CERT_HAS_EXPIRED&tlsVersion=TLSv1.3`,
    );
    assert.equal(cert.statusCode, 200, cert.body);
    assert.equal((await get(`/api/v1/analytics/logs?${RANGE}&inspected=maybe`)).statusCode, 400);
  });

  it("rejects bad input with 400 and the error body", async () => {
    const cases = [
      `/api/v1/analytics/top?${RANGE}&dimension=nope`,
      `/api/v1/analytics/top?${RANGE}&dimension=domain&limit=0`,
      `/api/v1/analytics/logs?${RANGE}&cursor=garbage`,
      `/api/v1/analytics/logs?from=yesterday`,
      `/api/v1/analytics/logs?from=${T0}&to=${T0 - 1}`,
      `/api/v1/analytics/logs?${RANGE}&action=maybe`,
      `/api/v1/analytics/timeseries?${RANGE}&bucket=week`,
    ];
    for (const url of cases) {
      const res = await get(url);
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.equal(res.json().error.code, "GH_ERR_BAD_REQUEST", url);
    }
  });

  it("GET export streams NDJSON, CSV and Parquet", async () => {
    const nd = await get(`/api/v1/analytics/export?${RANGE}&format=ndjson&kind=dns`);
    assert.equal(nd.statusCode, 200);
    assert.equal(nd.headers["content-type"], "application/x-ndjson");
    assert.match(
      String(nd.headers["content-disposition"]),
      /attachment; filename="query-log-.*\.ndjson"/,
    );
    assert.equal(nd.body.trimEnd().split("\n").length, 30);
    const csv = await get(`/api/v1/analytics/export?${RANGE}&format=csv`);
    assert.equal(csv.body.split("\r\n").length, 34);
    const pq = await get(`/api/v1/analytics/export?${RANGE}&format=parquet`);
    assert.equal(pq.statusCode, 200);
    assert.equal(pq.rawPayload.subarray(0, 4).toString("latin1"), "PAR1");
  });

  it("POST simulate with a whole draft", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/api/v1/analytics/simulate",
      headers: { authorization: "Bearer viewer" },
      payload: {
        from: String(T0 - 3_600_000),
        to: String(T0 + 3_600_000),
        policies: [
          {
            id: "p1",
            name: "ads and host0",
            type: "dns",
            enabled: true,
            precedence: 1,
            action: "block",
            expression: 'any(dns.domains[*] in $t) or dns.fqdn == "host0.example.com"',
          },
        ],
        lists: [{ id: "t", name: "t", type: "domain", items: ["tracker.net"] }],
      },
    });
    assert.equal(res.statusCode, 200, res.body);
    const r = res.json();
    assert.equal(r.newlyBlocked.count, 8);
    assert.equal(r.newlyAllowed.count, 0);
  });

  it("POST simulate rejects an invalid draft with 400", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/api/v1/analytics/simulate",
      headers: { authorization: "Bearer viewer" },
      payload: {
        policies: [
          {
            id: "p1",
            name: "x",
            type: "dns",
            enabled: true,
            precedence: 1,
            action: "block",
            expression: "dns.fqdn ==",
          },
        ],
      },
    });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /policy "p1"/);
    const single = await app.inject({
      method: "POST",
      url: "/api/v1/analytics/simulate",
      headers: { authorization: "Bearer viewer" },
      payload: {
        policy: {
          id: "p1",
          name: "x",
          type: "dns",
          enabled: true,
          precedence: 1,
          action: "block",
          expression: 'dns.fqdn == "a"',
        },
      },
    });
    // No currentConfig was given to this plugin: one policy alone cannot be simulated.
    assert.equal(single.statusCode, 400);
  });

  describe("edge log ingestion", () => {
    const post = (payload: string | Buffer, headers: Record<string, string> = {}) =>
      app.inject({
        method: "POST",
        url: EDGE_LOGS_PATH,
        headers: {
          authorization: "Bearer edge",
          "content-type": "application/x-ndjson",
          "x-test-account": "acct-2",
          ...headers,
        },
        payload,
      });
    const line = (i: number) => JSON.stringify(dns(i, { id: `ing-${i}` }));

    it("stores a plain NDJSON batch once, scoped to the edge's account", async () => {
      const body = `${line(1)}\r\n\n${line(2)}`;
      const first = await post(body, { "x-batch-id": "b-1" });
      assert.equal(first.statusCode, 200, first.body);
      assert.deepEqual(first.json(), { batchId: "b-1", accepted: 2, duplicate: false });
      const again = await post(body, { "x-batch-id": "b-1" });
      assert.deepEqual(again.json(), { batchId: "b-1", accepted: 0, duplicate: true });
      const logs = await get(`/api/v1/analytics/logs?${RANGE}`, { "x-test-account": "acct-2" });
      assert.deepEqual(
        logs.json().records.map((r: { id: string }) => r.id),
        ["ing-2", "ing-1"],
      );
    });

    it("400 names the malformed line; nothing of the batch is stored", async () => {
      const bad = await post(`${line(3)}\n{"ts": 1,\n`, { "x-batch-id": "b-2" });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json().error.message, /^line 2: not JSON/);
      assert.deepEqual(bad.json().error.details, { line: 2 });
      const invalid = await post(`${line(3)}\n${line(4)}\n{"ts":1,"kind":"smtp"}`, {
        "x-batch-id": "b-3",
      });
      assert.equal(invalid.statusCode, 400);
      assert.match(invalid.json().error.message, /^line 3: not a query-log record/);
      const logs = await get(`/api/v1/analytics/logs?${RANGE}&client=10.0.0.3`, {
        "x-test-account": "acct-2",
      });
      assert.equal(logs.json().records.length, 0);
      // The batch id was not consumed by the failed attempt.
      const ok = await post(line(3), { "x-batch-id": "b-2" });
      assert.equal(ok.json().accepted, 1);
    });

    it("requires a well-formed X-Batch-Id", async () => {
      assert.equal((await post(line(5))).statusCode, 400);
      assert.equal((await post(line(5), { "x-batch-id": "has space" })).statusCode, 400);
    });

    it("enforces size limits on the wire and after inflating", async () => {
      const big = `${line(6)}\n`.repeat(400); // ~100 KiB > 64 KiB limit
      const tooBig = await post(big, { "x-batch-id": "big" });
      assert.equal(tooBig.statusCode, 413);
      // 300 KiB of whitespace inflates past 256 KiB from a tiny gzip body.
      const bomb = gzipSync(Buffer.alloc(300 * 1024, 0x20));
      const inflated = await post(bomb, { "x-batch-id": "bomb", "content-encoding": "gzip" });
      assert.equal(inflated.statusCode, 413, inflated.body);
      const notGzip = await post("plain", { "x-batch-id": "ng", "content-encoding": "gzip" });
      assert.equal(notGzip.statusCode, 400);
      const br = await post(line(6), { "x-batch-id": "br", "content-encoding": "br" });
      assert.equal(br.statusCode, 415);
      const many = `${line(7)}\n`.repeat(501);
      const tooMany = await post(gzipSync(many), {
        "x-batch-id": "many",
        "content-encoding": "gzip",
      });
      assert.equal(tooMany.statusCode, 413);
    });

    it("refuses other content types", async () => {
      const res = await post(line(8), { "x-batch-id": "ct", "content-type": "text/plain" });
      assert.equal(res.statusCode, 415);
    });
  });
});
