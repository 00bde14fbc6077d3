// Issue 18, staged rollouts with health gates: the real `gatehouse control` and three
// `gatehouse edge --control` processes on loopback. A change that makes the canary answer
// SERVFAIL (its upstream is a closed port) reaches the canary only: the SERVFAIL gate trips, the
// configuration is rolled back, and the other edges go from the old version straight to the
// rollback. A good change then goes through every stage.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type api,
  eventually,
  fakeUpstream,
  freePort,
  queryDns,
  type Running,
  runCli,
  startControlProcess,
} from "./support/processes.ts";

interface Edge {
  id: string;
  configVersion: number | null;
  pinnedVersion: number | null;
}
interface Rollout {
  id: string;
  state: string;
  version: number;
  stage: number;
  stages: { name: string; edgeIds: string[]; gates: { gate: string; ok: boolean }[] }[];
  failure: { gate: string; message: string; rollbackVersion: number | null } | null;
}

describe("staged rollout with health gates (3 edges)", () => {
  let dir: string;
  let control: Running;
  const procs: Running[] = [];
  const edges: { id: string; dnsPort: number }[] = [];
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let apiPort: number;
  let call: ReturnType<typeof api>;
  let adminToken = "";
  /** Every (edge, version) seen running, polled all along. */
  const seen = new Set<string>();
  let watching = true;
  let watcher: Promise<void>;

  const edgeList = async () => (await call<{ items: Edge[] }>("GET", "/edges")).body.items;
  const latestRollout = async () =>
    (await call<{ items: Rollout[] }>("GET", "/rollouts")).body.items[0]!;
  /** Queries with names never asked before (no cache), at `port`; the rcodes. */
  let n = 0;
  const traffic = async (port: number, count: number) => {
    const out: string[] = [];
    await Promise.all(
      Array.from({ length: count }, () =>
        queryDns(port, `q${n++}.example`, "A", 3000).then(
          (r) => out.push(r.rcode),
          () => out.push("timeout"),
        ),
      ),
    );
    return out;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-rollout-"));
    upstream = await fakeUpstream("192.0.2.40");
    const started = await startControlProcess(join(dir, "control"));
    control = started.proc;
    apiPort = started.port;
    adminToken = started.token;
    call = started.call;
    assert.equal(
      (
        await call("PUT", "/resolver", {
          upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
          dnssec: { validate: false },
        })
      ).status,
      200,
    );
    assert.equal(
      (await call("POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] })).status,
      201,
    );
    const first = await call<{ version: number }>("POST", "/config/publish", {});
    for (let i = 0; i < 3; i++) {
      const join_ = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
      const dnsPort = await freePort();
      const edge = runCli([
        "edge",
        "--control",
        `http://127.0.0.1:${apiPort}`,
        "--data-dir",
        join(dir, `edge-${i}`),
        "--dns",
        `127.0.0.1:${dnsPort}`,
        "--proxy",
        `127.0.0.1:${await freePort()}`,
        "--heartbeat-interval",
        "0.2",
        "--join-token",
        join_.body.joinToken,
      ]);
      procs.push(edge);
      const [, id] = await edge.waitFor(/following \S+ as (\S+)/);
      edges.push({ id: id!, dnsPort });
    }
    await eventually(
      edgeList,
      (l) => l.length === 3 && l.every((e) => e.configVersion === first.body.version),
      20_000,
    );
    watcher = (async () => {
      while (watching) {
        for (const e of await edgeList().catch(() => [])) seen.add(`${e.id}@${e.configVersion}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const label = await call("PUT", `/edges/${edges[0]!.id}/labels`, {
      labels: { role: "canary", site: "lab" },
    });
    assert.equal(label.status, 200, JSON.stringify(label.body));
    const plan = await call("PUT", "/rollout-plan", {
      stages: [
        { name: "canary", labels: { role: "canary" }, bakeSeconds: 8 },
        { name: "half", percent: 50, bakeSeconds: 0.5 },
        { name: "all", bakeSeconds: 0.5 },
      ],
      gates: { minQueries: 20 },
    });
    assert.equal(plan.status, 200, JSON.stringify(plan.body));
  });

  after(async () => {
    watching = false;
    await watcher;
    for (const e of procs) await e.stop();
    await control?.stop();
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("a change that makes the canary answer SERVFAIL stops at the canary and is rolled back", async () => {
    const before_ = (await call<{ items: { version: number }[] }>("GET", "/config/versions")).body
      .items[0]!.version;
    // The bad change: the upstream is a closed port.
    const closed = await freePort();
    assert.equal(
      (
        await call("PUT", "/resolver", {
          upstreams: [{ address: `udp://127.0.0.1:${closed}` }],
          dnssec: { validate: false },
        })
      ).status,
      200,
    );
    const pub = await call<{ version: number }>("POST", "/config/publish", {});
    assert.equal(pub.status, 200, JSON.stringify(pub.body));
    const bad = pub.body.version;
    let r = await latestRollout();
    assert.equal(r.version, bad);
    assert.deepEqual(r.stages[0]!.edgeIds, [edges[0]!.id], "the canary is the labelled edge");
    // A second publish while it runs is refused unless it is an emergency.
    assert.equal((await call("POST", "/config/publish", { force: true })).status, 409);
    await eventually(
      edgeList,
      (l) => l.find((e) => e.id === edges[0]!.id)?.configVersion === bad,
      20_000,
    );
    // Traffic on the canary (now failing) and on an old-version edge (fine).
    const [canary, old] = await Promise.all([
      traffic(edges[0]!.dnsPort, 40),
      traffic(edges[1]!.dnsPort, 40),
    ]);
    assert.ok(canary.filter((c) => c === "SERVFAIL").length >= 30, canary.join());
    assert.ok(
      old.every((c) => c === "NOERROR"),
      old.join(),
    );
    r = await eventually(latestRollout, (x) => x.state !== "baking", 30_000);
    assert.equal(r.state, "failed", JSON.stringify(r));
    assert.equal(r.failure!.gate, "servfail_ratio");
    assert.match(r.failure!.message, /servfail_ratio \d+\.\d % over \d+ dns\.queries/);
    const rollback = r.failure!.rollbackVersion!;
    assert.equal(rollback, bad + 1);
    const l = await eventually(
      edgeList,
      (x) => x.every((e) => e.configVersion === rollback && e.pinnedVersion === null),
      20_000,
    );
    assert.equal(l.length, 3);
    for (const e of edges.slice(1))
      assert.ok(!seen.has(`${e.id}@${bad}`), `edge ${e.id} never ran the bad version ${bad}`);
    assert.ok(seen.has(`${edges[0]!.id}@${bad}`));
    assert.ok(before_ < bad);
    // The canary serves again (the rollback carries the old upstream).
    assert.ok((await traffic(edges[0]!.dnsPort, 5)).every((c) => c === "NOERROR"));
    // Audit and metrics say which gate failed.
    const audit = await call<{ items: { resource: string; action: string; after: unknown }[] }>(
      "GET",
      "/audit?limit=50",
    );
    const failed = audit.body.items.find((a) => a.resource === "rollout" && a.action === "failed");
    assert.ok(failed, JSON.stringify(audit.body.items.map((a) => `${a.resource}:${a.action}`)));
    assert.match(JSON.stringify(failed.after), /servfail_ratio/);
    const metrics = await fetch(`http://127.0.0.1:${apiPort}/metrics`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const text = await metrics.text();
    assert.match(text, /gatehouse_control_rollout_gate_failures_total\{gate="servfail_ratio"\} 1/);
    assert.match(text, /gatehouse_control_rollouts_total\{outcome="failed"\} 1/);
  });

  test("a good change goes through every stage", async () => {
    assert.equal(
      (
        await call("PUT", "/resolver", {
          upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
          dnssec: { validate: false },
        })
      ).status,
      200,
    );
    const p = await call("POST", "/policies", {
      name: "Block rollout.example",
      type: "dns",
      precedence: 10,
      expression: 'dns.fqdn == "rollout.example"',
      action: "block",
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const pub = await call<{ version: number }>("POST", "/config/publish", {});
    assert.equal(pub.status, 200, JSON.stringify(pub.body));
    const good = pub.body.version;
    await eventually(
      edgeList,
      (l) => l.find((e) => e.id === edges[0]!.id)?.configVersion === good,
      20_000,
    );
    const [canary] = await Promise.all([
      traffic(edges[0]!.dnsPort, 30),
      traffic(edges[1]!.dnsPort, 30),
    ]);
    assert.ok(
      canary.every((c) => c === "NOERROR"),
      canary.join(),
    );
    const r = await eventually(latestRollout, (x) => x.state !== "baking", 30_000);
    assert.equal(r.state, "completed", JSON.stringify(r));
    assert.deepEqual(
      r.stages.map((s) => s.edgeIds.length),
      [1, 1, 1],
      "canary, then 50 % of 3 (2 in total), then the rest",
    );
    assert.ok(r.stages[0]!.gates.find((g) => g.gate === "servfail_ratio")?.ok);
    await eventually(
      edgeList,
      (l) => l.every((e) => e.configVersion === good && e.pinnedVersion === null),
      20_000,
    );
  });
});
