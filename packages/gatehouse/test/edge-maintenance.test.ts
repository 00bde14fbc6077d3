// Issue "Edge ↔ control": drain for maintenance (the edge stops answering without exiting, keeps
// syncing, and serves again when activated) and a synced edge with several worker processes.
// The real `gatehouse control` and `gatehouse edge --control` commands, on loopback.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
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

const A = (r: { answers: { type: string; data: unknown }[] }) =>
  r.answers.filter((a) => a.type === "A").map((a) => a.data);

/** "answered" or "silent" (no reply within 300 ms). */
const probe = (port: number, name: string) =>
  queryDns(port, name, "A", 300).then(
    () => "answered",
    () => "silent",
  );

/** The status a process exits with by itself. */
const exitCode = async (r: Running): Promise<number | null> =>
  r.child.exitCode ?? (await once(r.child, "exit"))[0];

describe("synced edges: drain/activate and multi-core", () => {
  let dir: string;
  let control: Running;
  const edges: Running[] = [];
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let apiPort: number;
  let call: ReturnType<typeof api>;
  let adminToken = "";

  const startEdge = async (extra: string[]) => {
    const join_ = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
    assert.equal(join_.status, 201);
    const dnsPort = await freePort();
    const edge = runCli([
      "edge",
      "--control",
      `http://127.0.0.1:${apiPort}`,
      "--data-dir",
      join(dir, `edge-${edges.length}`),
      "--dns",
      `127.0.0.1:${dnsPort}`,
      "--proxy",
      `127.0.0.1:${await freePort()}`,
      "--heartbeat-interval",
      "0.2",
      "--join-token",
      join_.body.joinToken,
      ...extra,
    ]);
    edges.push(edge);
    const [, edgeId] = await edge.waitFor(/following \S+ as (\S+)/);
    return { edge, dnsPort, edgeId: edgeId! };
  };

  /** Block `name` with a new policy and publish; resolves with the published version. */
  let precedence = 10;
  const block = async (name: string) => {
    const p = await call("POST", "/policies", {
      name: `Block ${name}`,
      type: "dns",
      precedence: precedence++,
      expression: `dns.fqdn == "${name}"`,
      action: "block",
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const pub = await call<{ version: number }>("POST", "/config/publish", {});
    assert.equal(pub.status, 200, JSON.stringify(pub.body));
    return pub.body.version;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-maint-"));
    upstream = await fakeUpstream("192.0.2.30");
    const started = await startControlProcess(join(dir, "control"));
    control = started.proc;
    apiPort = started.port;
    adminToken = started.token;
    call = started.call;
    const r = await call("PUT", "/resolver", {
      upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
      dnssec: { validate: false },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(
      (await call("POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] })).status,
      201,
    );
    await call("POST", "/config/publish", {});
  });

  after(async () => {
    for (const e of edges) await e.stop();
    await control?.stop();
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("--local FILE gives a synced edge its own listeners and proxy limits", async () => {
    const join_ = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
    const dnsPort = await freePort();
    const proxyPort = await freePort();
    const local = join(dir, "local.yaml");
    await writeFile(
      local,
      [
        "edge:",
        `  dns: { udp: [127.0.0.1:${dnsPort}] }`,
        `  proxy: { http: [127.0.0.1:${proxyPort}], limits: { maxUrlLength: 300 } }`,
        "",
      ].join("\n"),
    );
    const edge = runCli([
      "edge",
      "--control",
      `http://127.0.0.1:${apiPort}`,
      "--data-dir",
      join(dir, "edge-local"),
      "--local",
      local,
      "--join-token",
      join_.body.joinToken,
    ]);
    edges.push(edge);
    await edge.waitFor(/following \S+ as \S+/);
    await eventually(
      () => queryDns(dnsPort, "local.example"),
      (x) => A(x)[0] === "192.0.2.30",
      10_000,
    );
    // The file's proxy limit applies: a target longer than 300 characters gets 414.
    const head = await new Promise<string>((resolve, reject) => {
      const s = connect(proxyPort, "127.0.0.1", () =>
        s.write(
          `GET http://origin.example/${"a".repeat(400)} HTTP/1.1\r\nHost: origin.example\r\n\r\n`,
        ),
      );
      let got = "";
      s.on("data", (d) => {
        got += d.toString("latin1");
        if (got.includes("\r\n")) {
          s.destroy();
          resolve(got);
        }
      });
      s.on("error", reject);
    });
    assert.match(head, /^HTTP\/1\.1 414 /);
    // A file with more than the edge section is refused with the reason.
    await writeFile(local, "edge: {}\npolicies: []\n");
    const bad = runCli(["edge", "--control", `http://127.0.0.1:${apiPort}`, "--local", local]);
    edges.push(bad);
    await bad.waitFor(/expected only an `edge:` section/);
  });

  test("drain via the API: DNS stops being answered, the process stays up and keeps syncing; activate: answered again", async () => {
    const { edge, dnsPort, edgeId } = await startEdge([]);
    await eventually(
      () => queryDns(dnsPort, "up.example"),
      (x) => A(x)[0] === "192.0.2.30",
      10_000,
    );

    const d = await call<{ status: string }>("POST", `/edges/${edgeId}/drain`);
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal(d.body.status, "draining");
    await eventually(
      () => probe(dnsPort, "up.example"),
      (x) => x === "silent",
      10_000,
    );
    await edge.waitFor(/drained; still syncing config/);
    assert.equal(await probe(dnsPort, "up.example"), "silent");
    assert.equal(edge.child.exitCode, null, "a drained edge keeps running");

    // Config keeps flowing while drained; the edge keeps heartbeating.
    const v = await block("drained.example");
    await edge.waitFor(new RegExp(`applied config v${v}\\b`));
    const seen = await eventually(
      () => call<{ configVersion: number | null; stale: boolean }>("GET", `/edges/${edgeId}`),
      (x) => x.body.configVersion === v,
      10_000,
    );
    assert.equal(seen.body.stale, false);

    const act = await call<{ status: string }>("POST", `/edges/${edgeId}/activate`);
    assert.equal(act.status, 200, JSON.stringify(act.body));
    assert.equal(act.body.status, "active");
    const r = await eventually(
      () => queryDns(dnsPort, "drained.example"),
      (x) => A(x).length > 0,
      10_000,
    );
    assert.deepEqual(A(r), ["0.0.0.0"], "answered again, by the config published while drained");
    assert.deepEqual(A(await queryDns(dnsPort, "up.example")), ["192.0.2.30"]);
    assert.equal(edge.child.exitCode, null);
  });

  test("drain is woken like a config change, not left to the next heartbeat: with a one-hour heartbeat interval the edge drains, reports drained, and activates", async () => {
    const { edge, dnsPort, edgeId } = await startEdge(["--heartbeat-interval", "3600"]);
    await eventually(
      () => queryDns(dnsPort, "soon.example"),
      (x) => A(x)[0] === "192.0.2.30",
      10_000,
    );
    // Its one heartbeat so far (at start) said it serves.
    const first = await eventually(
      () => call<{ serving: string | null; softwareVersion: string }>("GET", `/edges/${edgeId}`),
      (x) => x.body.serving === "serving",
      10_000,
    );
    assert.match(first.body.softwareVersion, /^\d+\.\d+\.\d+/);
    assert.equal((await call("POST", `/edges/${edgeId}/drain`)).status, 200);
    await edge.waitFor(/drained; still syncing config/, 10_000);
    assert.equal(await probe(dnsPort, "soon.example"), "silent");
    // Empty: the edge said so at once, an hour before its next heartbeat was due.
    await eventually(
      () => call<{ serving: string | null }>("GET", `/edges/${edgeId}`),
      (x) => x.body.serving === "drained",
      10_000,
    );
    assert.equal((await call("POST", `/edges/${edgeId}/activate`)).status, 200);
    await eventually(
      () => probe(dnsPort, "soon.example"),
      (x) => x === "answered",
      10_000,
    );
    await eventually(
      () => call<{ serving: string | null }>("GET", `/edges/${edgeId}`),
      (x) => x.body.serving === "serving",
      10_000,
    );
  });

  test("decommission via the API: the edge stops polling at once, stops serving after --decommission-grace, and a restart refuses", async () => {
    const { edge, dnsPort, edgeId } = await startEdge(["--decommission-grace", "1"]);
    await eventually(
      () => queryDns(dnsPort, "bye.example"),
      (x) => A(x)[0] === "192.0.2.30",
      10_000,
    );
    const del = await call<{ status: string }>("DELETE", `/edges/${edgeId}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await edge.waitFor(/DECOMMISSIONED by control/, 10_000);
    // After the grace it closes its listeners and exits with 78, which the systemd unit does
    // not restart.
    await edge.waitFor(/decommissioned: listeners closed, not serving/, 10_000);
    assert.equal(await exitCode(edge), 78);
    assert.equal(await probe(dnsPort, "bye.example"), "silent");
    // Control answered its own credential 410 (counted apart from failed guesses).
    const res = await fetch(`http://127.0.0.1:${apiPort}/metrics`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    assert.match(
      await res.text(),
      /gatehouse_control_auth_failures_total\{credential="edge",reason="decommissioned"\} [1-9]/,
    );
    // Restarted on the same data directory, it refuses to serve and says how to come back.
    const again = runCli([
      "edge",
      "--control",
      `http://127.0.0.1:${apiPort}`,
      "--data-dir",
      join(dir, `edge-${edges.indexOf(edge)}`),
      "--dns",
      `127.0.0.1:${dnsPort}`,
      "--proxy",
      `127.0.0.1:${await freePort()}`,
    ]);
    edges.push(again);
    await again.waitFor(
      /this edge was decommissioned by control at \S+ \(edge \S+\) and does not serve/,
    );
    assert.equal(await exitCode(again), 78);
  });

  test("--workers 2: every worker applies a published bundle and ships its query log", async () => {
    const metricsPort = await freePort();
    const { edge, dnsPort, edgeId } = await startEdge([
      "--workers",
      "2",
      "--metrics",
      `127.0.0.1:${metricsPort}`,
    ]);
    await edge.waitFor(/with 2 workers/);
    const v = await block("multi.example");
    await edge.waitFor(new RegExp(`applied config v${v}\\b`));
    // Each query comes from a new source port, so SO_REUSEPORT spreads them over both workers.
    for (let i = 0; i < 3; i++) {
      const answers = await Promise.all(
        Array.from({ length: 16 }, () => queryDns(dnsPort, "multi.example")),
      );
      assert.deepEqual(
        answers.map((x) => A(x)[0]),
        Array(16).fill("0.0.0.0"),
      );
    }
    // 24 queries for one name, spread over the workers: every record reaches control.
    await Promise.all(Array.from({ length: 24 }, () => queryDns(dnsPort, "logged.example")));
    const logs = await eventually(
      () =>
        call<{ records: { qname?: string }[] }>(
          "GET",
          "/analytics/logs?domainSuffix=logged.example&limit=100",
        ),
      (x) => x.status === 200 && x.body.records.length >= 24,
      15_000,
    );
    assert.equal(logs.body.records.length, 24);
    // The heartbeat sums the workers' counters.
    const seen = await eventually(
      () =>
        call<{ configVersion: number | null; counters: Record<string, number> }>(
          "GET",
          `/edges/${edgeId}`,
        ),
      (x) => x.body.configVersion === v && (x.body.counters["dns.queries"] ?? 0) >= 72,
      10_000,
    );
    assert.ok(seen.body.counters["dns.blocked"]! >= 48);
    // One /metrics for the whole edge: the workers' counters and the primary's sync gauges.
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(text, new RegExp(`^gatehouse_edge_config_version ${v}$`, "m"));
    const blocked = [
      ...text.matchAll(/^gatehouse_dns_queries_total\{[^}]*action="block"[^}]*\} (\d+)/gm),
    ].reduce((t, m) => t + Number(m[1]), 0);
    assert.equal(blocked, 48);

    // Drain and activate reach every worker.
    assert.equal((await call("POST", `/edges/${edgeId}/drain`)).status, 200);
    await eventually(
      () => probe(dnsPort, "logged.example"),
      (x) => x === "silent",
      10_000,
    );
    assert.equal((await call("POST", `/edges/${edgeId}/activate`)).status, 200);
    await eventually(
      () => probe(dnsPort, "logged.example"),
      (x) => x === "answered",
      10_000,
    );
    const again = await Promise.all(
      Array.from({ length: 16 }, () => queryDns(dnsPort, "multi.example")),
    );
    assert.deepEqual(
      again.map((x) => A(x)[0]),
      Array(16).fill("0.0.0.0"),
    );
    assert.equal(await edge.stop(), 0, "SIGTERM stops the primary and its workers cleanly");
  });
});
