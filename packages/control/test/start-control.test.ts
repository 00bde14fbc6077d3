// startControl: listens on loopback, prints the admin token only on the first start, keeps its
// state in the PGlite data directory across restarts, and takes GATEHOUSE_ADMIN_TOKEN.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseDuration, parseListen, sessionLimitsFromEnv, startControl } from "../src/start.ts";

describe("startControl with a PGlite data directory", () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-control-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("persists across restarts; the first start alone generates an admin token", async () => {
    const first = await startControl({ dataDir: dir, listen: "127.0.0.1:0", logger: false });
    let policyId: string;
    try {
      assert.match(first.address, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(first.adminToken);
      const h = { authorization: `Bearer ${first.adminToken}`, "content-type": "application/json" };
      const r = await fetch(`${first.address}/api/v1/policies`, {
        method: "POST",
        headers: h,
        body: JSON.stringify({
          name: "kept",
          type: "dns",
          expression: 'dns.fqdn == "kept.example"',
          action: "block",
        }),
      });
      assert.equal(r.status, 201);
      policyId = ((await r.json()) as { id: string }).id;
      const docs = await fetch(`${first.address}/api/v1/openapi.json`);
      assert.equal(docs.status, 200);
    } finally {
      await first.close();
    }
    const second = await startControl({ dataDir: dir, listen: "127.0.0.1:0", logger: false });
    try {
      assert.equal(second.adminToken, undefined, "no second token is generated");
      const r = await fetch(`${second.address}/api/v1/policies/${policyId}`, {
        headers: { authorization: `Bearer ${first.adminToken}` },
      });
      assert.equal(r.status, 200);
    } finally {
      await second.close();
    }
  });

  it("parses listen addresses", () => {
    assert.deepEqual(parseListen("127.0.0.1:8787"), { host: "127.0.0.1", port: 8787 });
    assert.deepEqual(parseListen("[::1]:0"), { host: "::1", port: 0 });
    assert.throws(() => parseListen("8787"));
    assert.throws(() => parseListen("host:99999"));
  });

  it("reads session limits from GATEHOUSE_SESSION_IDLE / GATEHOUSE_SESSION_MAX", () => {
    assert.equal(parseDuration("90s", "x"), 90_000);
    assert.equal(parseDuration("30m", "x"), 1_800_000);
    assert.equal(parseDuration("7d", "x"), 604_800_000);
    assert.deepEqual(sessionLimitsFromEnv({}), {});
    assert.deepEqual(
      sessionLimitsFromEnv({ GATEHOUSE_SESSION_IDLE: "2h", GATEHOUSE_SESSION_MAX: "1d" }),
      { idleMs: 7_200_000, maxMs: 86_400_000 },
    );
    for (const bad of ["", "12", "0h", "1w", "-1h", "1.5h"])
      assert.throws(
        () => parseDuration(bad, "GATEHOUSE_SESSION_IDLE"),
        /GATEHOUSE_SESSION_IDLE must be a duration/,
      );
  });
});
