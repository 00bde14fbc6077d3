// IPv6 end to end: a proxy listening on [::1], an IPv6 client, an IPv6 literal target.

import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { Registry } from "prom-client";
import { startProxy } from "../src/proxy/index.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { bundle, StaticResolver } from "./proxy-harness.ts";

test("IPv6 listener, client and origin; the guard sees ::1 as loopback", async (t) => {
  const origin = createServer((req, res) => res.end(`v6 ${req.url}`));
  try {
    origin.listen(0, "::1");
    await once(origin, "listening");
  } catch {
    return t.skip("no IPv6 loopback here");
  }
  const originPort = (origin.address() as AddressInfo).port;
  const snapshot = compileSnapshot(
    bundle({
      locations: [{ id: "v6", name: "IPv6 loopback", networks: ["::1/128"] }],
      policies: [
        {
          id: "allow-v6",
          name: "IPv6 test origin",
          type: "net",
          enabled: true,
          precedence: 1,
          expression: `net.dst.ip == ::1 and net.dst.port == ${originPort}`,
          action: "allow",
          settings: { allowPrivateDestinations: ["::1"] },
        },
      ],
    }),
  );
  const log = new QueryLog(100);
  const proxy = await startProxy({
    listen: ["[::1]:0"],
    getSnapshot: () => snapshot,
    resolver: new StaticResolver({}),
    log,
    registry: new Registry(),
  });
  const get = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: "::1",
          port: proxy.addresses[0]!.port,
          path: url,
          headers: { host: new URL(url).host },
          agent: false,
        },
        (res) => {
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  try {
    const ok = await get(`http://[::1]:${originPort}/six`);
    assert.deepEqual(ok, { status: 200, body: "v6 /six" });
    const rec = log.peekNewest(1)[0]!;
    assert.equal(rec.client, "::1");
    assert.equal(rec.location, "v6");
    assert.equal(rec.upstreamAddr, `[::1]:${originPort}`);
    // Another loopback port is not covered by the allow policy: the SSRF guard refuses it.
    const other = await get("http://[::1]:9/");
    assert.equal(other.status, 403);
    assert.equal(log.peekNewest(1)[0]!.reason, "private_target");
  } finally {
    await proxy.close();
    origin.close();
  }
});
