import assert from "node:assert/strict";
import { test } from "node:test";
import { dnsMetrics, serveMetrics } from "./metrics.ts";

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
