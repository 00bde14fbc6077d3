// Every query-log record names the edge that handled it: `edge.name`, else the host name
// (an edge following control runs with its enrolled id as its name).
import assert from "node:assert/strict";
import { connect } from "node:net";
import { hostname } from "node:os";
import { test } from "node:test";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { startEdge } from "@gatehouse/edge";
import { a, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

const portOf = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));

/** One raw HTTP request through the proxy; resolves with the status line. */
function proxyGet(hostPort: string, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(portOf(hostPort), "127.0.0.1");
    let got = "";
    s.on("data", (c) => {
      got += c.toString("latin1");
      if (got.includes("\r\n")) {
        s.destroy();
        resolve(got.slice(0, got.indexOf("\r\n")));
      }
    });
    s.on("error", reject);
    s.write(`GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\n\r\n`);
  });
}

test("DNS (pipeline and packet-cache repeats) and proxy records carry the edge's name", async () => {
  const up = await startFakeUpstream(
    new Map([["n.example/1", { answers: [a("n.example", "192.0.2.5")] }]]),
  );
  const config = (name?: string): EdgeConfigFile => ({
    resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
    lists: [],
    policies: [],
    edge: {
      ...(name ? { name } : {}),
      dns: { udp: ["127.0.0.1:0"] },
      proxy: { http: ["127.0.0.1:0"] },
    },
  });
  const named = await startEdge({ config: config("edge-a"), log: () => {} });
  try {
    assert.equal(named.edgeId, "edge-a");
    const port = portOf(named.addresses.dns.udp[0]!);
    for (let i = 0; i < 3; i++) assert.ok(await udpQuery(port, "n.example"));
    // A private destination is refused by the proxy, which still logs the request.
    await proxyGet(named.addresses.proxy.http[0]!, "http://127.0.0.1:9/");
    const records = named.queryLog.peekNewest(100);
    const dnsRecords = records.filter((r) => r.kind === "dns" && r.transport === "udp");
    assert.equal(dnsRecords.length, 3);
    assert.ok(
      dnsRecords.some((r) => r.cache === "hit"),
      "a packet-cache repeat is among them",
    );
    assert.ok(records.some((r) => r.kind === "http"));
    for (const r of records) assert.equal(r.edgeId, "edge-a", JSON.stringify(r));
  } finally {
    await named.close();
  }
  const unnamed = await startEdge({ config: config(), log: () => {} });
  try {
    assert.equal(unnamed.edgeId, hostname());
    assert.ok(await udpQuery(portOf(unnamed.addresses.dns.udp[0]!), "n.example"));
    assert.equal(unnamed.queryLog.peekNewest(1)[0]?.edgeId, hostname());
  } finally {
    await unnamed.close();
    await up.close();
  }
});
