// The proxy as `gatehouse edge` runs it: started by startEdge from an edge config file's
// `edge.proxy.http` listeners, names resolved by the edge's DNS service, curl as the client.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { startEdge } from "../src/main.ts";
import { startOrigin } from "./proxy-harness.ts";

const run = promisify(execFile);

test("startEdge serves the proxy; curl -x reaches an allowed origin and sees the block page", async (t) => {
  const origin = await startOrigin();
  const edge = await startEdge({
    config: {
      resolver: { upstreams: [] },
      locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [
        {
          id: "no-admin",
          name: "No admin pages",
          type: "http",
          enabled: true,
          precedence: 1,
          expression: 'http.request.uri.path matches "^/admin"',
          action: "block",
        },
        {
          id: "origin",
          name: "Test origin on loopback",
          type: "net",
          enabled: true,
          precedence: 2,
          expression: "net.dst.ip == 127.0.0.1",
          action: "allow",
          settings: { allowPrivateDestinations: ["127.0.0.1"] },
        },
      ],
      edge: { proxy: { http: ["127.0.0.1:0"] } },
    },
    log: () => {},
  });
  try {
    const proxy = `http://${edge.addresses.proxy.http[0]}`;
    const url = `http://127.0.0.1:${origin.port}`;
    let ok: { stdout: string };
    try {
      ok = await run("curl", ["-sS", "--max-time", "5", "-x", proxy, `${url}/hello`]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return t.skip("curl not installed");
      throw e;
    }
    assert.equal(JSON.parse(ok.stdout).url, "/hello");
    const blocked = await run("curl", [
      "-sS",
      "--max-time",
      "5",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-x",
      proxy,
      `${url}/admin/x`,
    ]);
    assert.equal(blocked.stdout, "403");
    const kinds = edge.queryLog.peekNewest(10).filter((r) => r.kind === "http");
    assert.deepEqual(
      kinds.map((r) => r.action),
      ["block", "allow"],
    );
  } finally {
    await edge.close();
    await origin.close();
  }
});
