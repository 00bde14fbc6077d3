// The shipped systemd unit (deploy/systemd/gatehouse-edge.service) runs the edge under
// RestrictAddressFamilies=. These tests run the real `gatehouse edge` under the same kernel
// restriction: support/restrict-address-families.c installs a seccomp filter that refuses
// socket(2) and socketpair(2) for unlisted families with EAFNOSUPPORT, as systemd does, and execs
// the edge. With the unit's own list the edge must start, serve DNS and the proxy, and list its
// interface addresses; with AF_NETLINK taken away (a stricter unit) it must still start and
// serve, and say in its log what it cannot do. Control runs under its own unit's list too.
// What this does not prove: the rest of the units' sandbox (ProtectSystem=, capabilities, …),
// which needs systemd itself.

import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { a, type FakeUpstream, has, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

const cli = new URL("../../gatehouse/src/cli.ts", import.meta.url).pathname;
const helperSource = new URL("./support/restrict-address-families.c", import.meta.url).pathname;
/** The families a shipped unit allows, as the helper's comma-separated list. */
function unitFamilies(unit: "gatehouse-edge" | "gatehouse-control"): string {
  const file = new URL(`../../../deploy/systemd/${unit}.service`, import.meta.url);
  const line = /^RestrictAddressFamilies=(.+)$/m.exec(readFileSync(file, "utf8"));
  assert.ok(line, `${unit}.service sets RestrictAddressFamilies=`);
  return line[1]!.trim().split(/\s+/).join(",");
}

const dir = mkdtempSync(join(tmpdir(), "gh-restrict-af-"));
const helper = join(dir, "restrict-address-families");
let skip: string | false = false;
if (!has("cc")) {
  skip = "no C compiler (cc) to build the seccomp helper";
} else {
  execFileSync("cc", ["-O2", "-Wall", "-Wextra", "-o", helper, helperSource]);
  // The probe: does this kernel/container let us install the filter at all?
  const probe = spawnSync(helper, ["AF_INET,AF_INET6,AF_UNIX", "--", "true"], { encoding: "utf8" });
  if (probe.status !== 0) skip = `seccomp filters are not available here: ${probe.stderr.trim()}`;
}
if (skip) console.log(`# skipping RestrictAddressFamilies tests: ${skip}`);

interface RunningEdge {
  proc: ChildProcess;
  output: () => string;
  udp: number;
  proxy: number;
}

async function startRestricted(families: string, config: string): Promise<RunningEdge> {
  const proc = spawn(helper, [families, "--", process.execPath, cli, "edge", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const ports = await new Promise<{ udp: number; proxy: number }>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const udp = /DNS over UDP\s+127\.0\.0\.1:(\d+)/.exec(out);
      const proxy = /HTTP proxy\s+(?:http:\/\/)?127\.0\.0\.1:(\d+)/.exec(out);
      if (udp && proxy) {
        proc.off("exit", onExit);
        resolve({ udp: Number(udp[1]), proxy: Number(proxy[1]) });
      }
    };
    const onExit = (code: number | null) => reject(new Error(`edge exited ${code}:\n${out}`));
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    proc.on("exit", onExit);
  });
  return { proc, output: () => out, ...ports };
}

async function stop(e: RunningEdge | undefined): Promise<void> {
  if (!e || e.proc.exitCode !== null) return;
  const exited = new Promise((r) => e.proc.once("exit", r));
  e.proc.kill("SIGTERM");
  await exited;
}

function getPac(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/proxy.pac" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the edge under RestrictAddressFamilies (seccomp)", { skip }, () => {
  let up: FakeUpstream;
  let config: string;
  before(async () => {
    up = await startFakeUpstream(
      new Map([["www.example/1", { answers: [a("www.example", "192.0.2.80", 60)] }]]),
    );
    config = join(dir, "edge.yaml");
    writeFileSync(
      config,
      [
        "resolver:",
        `  upstreams: [{ address: "${up.address}" }]`,
        "  dnssec: { validate: false }",
        "locations: [{ id: lo, name: Loopback, networks: [127.0.0.0/8] }]",
        "lists: []",
        "policies: []",
        "edge:",
        "  dns: { udp: [127.0.0.1:0] }",
        "  proxy: { http: [127.0.0.1:0] }",
        `  dataDir: ${dir}`,
      ].join("\n"),
    );
  });
  after(async () => {
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the filter reproduces the restriction: without AF_NETLINK interfaces cannot be listed", () => {
    const code =
      "try { require('node:os').networkInterfaces(); } catch (e) { console.log(e.message); process.exit(3); }";
    const denied = spawnSync(
      helper,
      ["AF_INET,AF_INET6,AF_UNIX", "--", process.execPath, "-e", code],
      {
        encoding: "utf8",
      },
    );
    assert.equal(denied.status, 3, denied.stdout + denied.stderr);
    assert.match(denied.stdout, /uv_interface_addresses/);
    const allowed = spawnSync(helper, [
      "AF_INET,AF_INET6,AF_UNIX,AF_NETLINK",
      "--",
      process.execPath,
      "-e",
      code,
    ]);
    assert.equal(allowed.status, 0);
  });

  test("with the shipped unit's families the edge starts, serves, and lists its addresses", async () => {
    const families = unitFamilies("gatehouse-edge");
    let edge: RunningEdge | undefined;
    try {
      edge = await startRestricted(families, config);
      const answer = await udpQuery(edge.udp, "www.example", { timeoutMs: 5000 });
      assert.equal(answer?.answers[0]?.data, "192.0.2.80");
      assert.equal((await getPac(edge.proxy)).status, 200);
      assert.doesNotMatch(edge.output(), /cannot list this machine's interface addresses/);
    } finally {
      await stop(edge);
    }
  });

  test("without AF_NETLINK the edge still starts and serves, and logs what it cannot guard", async () => {
    let edge: RunningEdge | undefined;
    try {
      edge = await startRestricted("AF_INET,AF_INET6,AF_UNIX", config);
      const answer = await udpQuery(edge.udp, "www.example", { timeoutMs: 5000 });
      assert.equal(answer?.answers[0]?.data, "192.0.2.80");
      assert.equal((await getPac(edge.proxy)).status, 200);
      assert.match(edge.output(), /cannot list this machine's interface addresses/);
    } finally {
      await stop(edge);
    }
  });

  test("control starts and answers under its own unit's families", async () => {
    const proc = spawn(
      helper,
      [unitFamilies("gatehouse-control"), "--", process.execPath, cli, "control"].concat([
        "--data-dir",
        join(dir, "control"),
        "--listen",
        "127.0.0.1:0",
      ]),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    try {
      let out = "";
      const api = await new Promise<string>((resolve, reject) => {
        proc.stderr!.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        proc.on("exit", (code) => reject(new Error(`control exited ${code}:\n${out}`)));
      });
      const health = await fetch(`${api}/api/v1/health`);
      assert.equal(health.status, 200);
    } finally {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await exited;
      }
    }
  });
});
