// End to end: `gatehouse edge --config FILE.yaml` queried with dig and kdig over UDP, TCP, DoT
// and DoH, plus BIND's EDNS compliance checks (test/fixtures/bind9-ednscompliance-checks.json,
// run as a forwarder: a zone the upstream serves, RD=1). Skipped, with the reason printed, when
// the tools are not installed.

import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { a, type FakeUpstream, has, soa, startFakeUpstream } from "./dns-helpers.ts";

const missing = ["dig", "kdig"].filter((b) => !has(b));
const skip =
  missing.length > 0
    ? `${missing.join(", ")} not installed (bind9-dnsutils, knot-dnsutils)`
    : false;
if (skip) console.log(`# skipping dig/kdig end-to-end tests: ${skip}`);

const cli = new URL("../../gatehouse/src/cli.ts", import.meta.url).pathname;

describe("gatehouse edge --config with dig and kdig", { skip }, () => {
  let up: FakeUpstream;
  let proc: ChildProcess;
  const ports: Record<string, number> = {};
  before(async () => {
    up = await startFakeUpstream(
      new Map([
        ["www.example/1", { answers: [a("www.example", "192.0.2.80", 120)] }],
        ["example/6", { answers: [soa("example", 60)] }],
      ]),
    );
    const dir = mkdtempSync(join(tmpdir(), "gh-e2e-"));
    const file = join(dir, "edge.yaml");
    writeFileSync(
      file,
      [
        "resolver:",
        `  upstreams: [{ address: "${up.address}" }]`,
        "  dnssec: { validate: false }",
        "locations: [{ id: lo, name: Loopback, networks: [127.0.0.0/8] }]",
        "lists: [{ id: ads, name: ads, type: domain, items: [ads.example] }]",
        "policies:",
        "  - { id: p1, name: Block ads, type: dns, enabled: true, precedence: 1, expression: 'any(dns.domains[*] in $ads)', action: block }",
        "edge:",
        "  dns: { udp: [127.0.0.1:0], tcp: [127.0.0.1:0], dot: [127.0.0.1:0], doh: [127.0.0.1:0] }",
        `  dataDir: ${dir}`,
      ].join("\n"),
    );
    proc = spawn(process.execPath, [cli, "edge", "--config", file], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`edge did not start:\n${out}`)), 20_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        for (const [key, re] of [
          ["udp", /DNS over UDP\s+127\.0\.0\.1:(\d+)/],
          ["tcp", /DNS over TCP\s+127\.0\.0\.1:(\d+)/],
          ["dot", /DNS over TLS\s+127\.0\.0\.1:(\d+)/],
          ["doh", /DNS over HTTPS\s+https:\/\/127\.0\.0\.1:(\d+)/],
        ] as const) {
          const m = re.exec(out);
          if (m) ports[key] = Number(m[1]);
        }
        if (Object.keys(ports).length === 4) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout!.on("data", onData);
      proc.stderr!.on("data", onData);
      proc.on("exit", (c) => reject(new Error(`edge exited ${c}:\n${out}`)));
    });
  });
  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.removeAllListeners("exit");
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    await up?.close();
  });

  // Asynchronous: the fake upstream lives in this process and must keep answering meanwhile.
  const run = (bin: string, args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(bin, args, { encoding: "utf8", timeout: 10_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );

  test("dig over UDP and TCP", async () => {
    assert.equal(
      (await run("dig", ["@127.0.0.1", "-p", String(ports.udp), "www.example", "+short"])).trim(),
      "192.0.2.80",
    );
    assert.equal(
      (
        await run("dig", ["@127.0.0.1", "-p", String(ports.tcp), "+tcp", "www.example", "+short"])
      ).trim(),
      "192.0.2.80",
    );
    const blocked = await run("dig", ["@127.0.0.1", "-p", String(ports.udp), "ads.example"]);
    assert.match(blocked, /ads\.example\.\s+\d+\s+IN\s+A\s+0\.0\.0\.0/);
    assert.match(blocked, /EDE: 15 \(Blocked\): \(Block ads\)/);
  });

  test("kdig over DoT and DoH", async () => {
    assert.match(
      await run("kdig", ["@127.0.0.1", "-p", String(ports.dot), "+tls", "www.example"]),
      /192\.0\.2\.80/,
    );
    assert.match(
      await run("kdig", ["@127.0.0.1", "-p", String(ports.doh), "+https", "www.example"]),
      /192\.0\.2\.80/,
    );
    assert.match(
      await run("kdig", ["@127.0.0.1", "-p", String(ports.doh), "+https-get", "www.example"]),
      /192\.0\.2\.80/,
    );
  });

  test("BIND EDNS compliance checks (forwarder form)", async () => {
    const dig = (...extra: string[]) =>
      run("dig", ["@127.0.0.1", "-p", String(ports.udp), ...extra, "soa", "example"]);
    // 4: unknown EDNS version → BADVERS, our OPT says version 0, no SOA.
    const v100 = await dig("+edns=100", "+noednsnegotiation");
    assert.match(v100, /status: BADVERS/);
    assert.match(v100, /EDNS: version: 0,/);
    assert.doesNotMatch(v100, /^example\.\s+\d+\s+IN\s+SOA/m);
    // 5: unknown option ignored and not echoed.
    const opt = await dig("+ednsopt=100");
    assert.match(opt, /status: NOERROR/);
    assert.doesNotMatch(opt, /OPT=100/);
    assert.match(opt, /^example\.\s+\d+\s+IN\s+SOA/m);
    // 6: version + option: BADVERS, not echoed.
    const both = await dig("+edns=100", "+noednsneg", "+ednsopt=100");
    assert.match(both, /status: BADVERS/);
    assert.doesNotMatch(both, /OPT=100/);
    // 7/8: unknown flag not echoed.
    const flag = await dig("+ednsflags=0x80");
    assert.match(flag, /status: NOERROR/);
    assert.doesNotMatch(flag, /MBZ/);
    assert.match(await dig("+edns=100", "+noednsneg", "+ednsflags=0x80"), /status: BADVERS/);
    // 9: dig's negotiation retries with version 0 after BADVERS.
    const neg = await dig("+edns=100");
    assert.match(neg, /status: NOERROR/);
    assert.match(neg, /^example\.\s+\d+\s+IN\s+SOA/m);
  });
});
