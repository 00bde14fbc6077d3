// DNSSEC on the command line: `--trust-anchor FILE` is checked before anything starts (the line at
// fault named), goes with `gatehouse edge --config` but not `--control`, and replaces the
// anchors of the running edge; `gatehouse up`'s first-run probe of the machine's nameservers
// (do they pass DNSSEC records?).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import dnsPacket from "dns-packet";
import { upstreamsPassDnssec } from "../src/commands/up.ts";
import { CLI, fakeUpstream, freePort, queryDns, runCli } from "./support/processes.ts";

const ROOT_KEY =
  "AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQ";

/** An upstream that answers the root DNSKEY query with the key and (when `signed`) an RRSIG. */
async function dnskeyUpstream(signed: boolean) {
  const s = createSocket("udp4");
  s.on("message", (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0]!;
    const key = {
      type: "DNSKEY" as const,
      name: ".",
      ttl: 60,
      data: { flags: 257, algorithm: 8, key: Buffer.from(ROOT_KEY, "base64") },
    };
    const sig = {
      type: "RRSIG" as const,
      name: ".",
      ttl: 60,
      data: {
        typeCovered: "DNSKEY",
        algorithm: 8,
        labels: 0,
        originalTTL: 60,
        expiration: 2000000000,
        inception: 1700000000,
        keyTag: 20326,
        signersName: ".",
        signature: Buffer.alloc(256, 1),
      },
    };
    s.send(
      dnsPacket.encode({
        id: q.id,
        type: "response",
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: [question],
        answers: signed ? [key, sig] : [key],
      }),
      rinfo.port,
      rinfo.address,
    );
  });
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  return { port: s.address().port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

describe("gatehouse up: do the machine's nameservers pass DNSSEC records?", () => {
  test("signed DNSKEY answer: yes; unsigned: no; silent: assumed yes (validation stays on)", async () => {
    const signed = await dnskeyUpstream(true);
    const stripped = await dnskeyUpstream(false);
    const silent = await freePort();
    try {
      const { probeUpstreamDnssec } = await import("@gatehouse/edge");
      assert.equal(await probeUpstreamDnssec(`udp://127.0.0.1:${signed.port}`), "passes");
      assert.equal(await probeUpstreamDnssec(`udp://127.0.0.1:${stripped.port}`), "strips");
      assert.equal(await probeUpstreamDnssec(`udp://127.0.0.1:${silent}`, 300), "unreachable");
      // No nameservers at all: nothing says validation cannot work.
      assert.equal(await upstreamsPassDnssec([]), true);
    } finally {
      await signed.close();
      await stripped.close();
    }
  });
});

describe("--trust-anchor", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-anchor-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test("a file that is not DS/DNSKEY lines stops the command with the line; --control refuses it", async () => {
    const bad = join(dir, "bad.txt");
    await writeFile(bad, "; root\n. IN DS 20326 8 2 E06D44B8\nexample.com. IN A 192.0.2.1\n");
    const cfg = join(dir, "edge.yaml");
    await writeFile(cfg, "resolver: {upstreams: []}\nlocations: []\nlists: []\npolicies: []\n");
    const r = spawnSync(process.execPath, [CLI, "edge", "--config", cfg, "--trust-anchor", bad], {
      encoding: "utf8",
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--trust-anchor .*bad\.txt: trust anchor line 3: only DS and DNSKEY/);
    const missing = spawnSync(
      process.execPath,
      [CLI, "edge", "--config", cfg, "--trust-anchor", join(dir, "nope")],
      { encoding: "utf8" },
    );
    assert.match(missing.stderr, /--trust-anchor .*nope: ENOENT/);
    const c = spawnSync(
      process.execPath,
      [CLI, "edge", "--control", "http://127.0.0.1:9", "--trust-anchor", bad],
      { encoding: "utf8" },
    );
    assert.equal(c.status, 2);
    assert.match(c.stderr, /--trust-anchor goes with --config/);
  });

  test("gatehouse edge --config F --trust-anchor A: the edge validates from A (the root's real keys fail against a fake root)", async () => {
    // A fake upstream that answers every A query, unsigned. With the built-in root anchors the
    // root's DNSKEY cannot be had from it: SERVFAIL. With an anchor for a zone it does not
    // cover, the name is outside every anchor: insecure, answered.
    const up = await fakeUpstream("192.0.2.77");
    const port = await freePort();
    const cfg = join(dir, "edge2.yaml");
    await writeFile(
      cfg,
      [
        "resolver:",
        `  upstreams: [{ address: "udp://127.0.0.1:${up.port}", timeoutMs: 500 }]`,
        "locations: [{ id: lo, name: lo, networks: [127.0.0.0/8] }]",
        "lists: []",
        "policies: []",
        "edge:",
        `  dns: { udp: ["127.0.0.1:${port}"], tcp: ["127.0.0.1:${port}"] }`,
        "",
      ].join("\n"),
    );
    const anchor = join(dir, "anchor.txt");
    await writeFile(
      anchor,
      "private.invalid. IN DS 12345 13 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
    );
    const plain = runCli(["edge", "--config", cfg]);
    try {
      await plain.waitFor(/serving config/);
      const r = await queryDns(port, "www.example.com", "A", 3000);
      assert.equal(r.rcode, "SERVFAIL");
    } finally {
      await plain.stop();
    }
    const anchored = runCli(["edge", "--config", cfg, "--trust-anchor", anchor]);
    try {
      await anchored.waitFor(/serving config/);
      const r = await queryDns(port, "www.example.com", "A", 3000);
      assert.equal(r.rcode, "NOERROR");
      assert.deepEqual(
        r.answers.map((a) => a.data),
        ["192.0.2.77"],
      );
    } finally {
      await anchored.stop();
      await up.close();
    }
  });
});
