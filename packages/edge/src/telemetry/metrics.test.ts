import assert from "node:assert/strict";
import { test } from "node:test";
import { dnsMetrics, edgeRegistry, serveMetrics, trackQueryLogDrops } from "./metrics.ts";
import { QueryLog } from "./query-log.ts";

test("serves the edge registry on /metrics with gatehouse_dns_* and process metrics", async () => {
  const m = dnsMetrics();
  m.queries.inc({ transport: "udp", action: "allow", rcode: "NOERROR" });
  const srv = await serveMetrics("127.0.0.1:0");
  try {
    const res = await fetch(`http://127.0.0.1:${srv.address.port}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(
      text,
      /gatehouse_dns_queries_total\{transport="udp",action="allow",rcode="NOERROR"\} \d+/,
    );
    assert.match(text, /gatehouse_edge_process_resident_memory_bytes/);
    assert.equal((await fetch(`http://127.0.0.1:${srv.address.port}/other`)).status, 404);
  } finally {
    await srv.close();
  }
});

test("records overwritten in a query-log ring are counted whichever path pushed them", async () => {
  const value = async () =>
    (await edgeRegistry().getSingleMetric("gatehouse_edge_query_log_dropped_total")!.get())
      .values[0]?.value ?? 0;
  const ring = new QueryLog(2);
  const untrack = trackQueryLogDrops(ring);
  const before = await value();
  // The DNS fast path's compact records and whole records (pipeline, proxy) alike.
  const template = { kind: "dns", action: "allow", rcode: "NOERROR", cache: "hit" } as const;
  for (let i = 0; i < 3; i++)
    ring.pushCompact(template, "192.0.2.1", "udp", Date.now(), 0.1, i + 1);
  ring.push({
    ...template,
    ts: Date.now(),
    id: "p1",
    client: "192.0.2.1",
    transport: "http",
    durationMs: 1,
  });
  assert.equal((await value()) - before, 2);
  untrack();
  ring.push({
    ...template,
    ts: Date.now(),
    id: "p2",
    client: "192.0.2.1",
    transport: "http",
    durationMs: 1,
  });
  assert.equal((await value()) - before, 2, "an untracked ring is no longer read");
});
