// Worker processes (mode "processes") take a large bundle from control as a file they each read
// and parse off their event loop (workers.ts applyBody): no bundle object crosses the IPC
// channel, answers keep coming while they compile, and a replacement worker starts from the
// same file.

import assert from "node:assert/strict";
import cluster, { Worker as ClusterWorker } from "node:cluster";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bundleHash, type ConfigBundle } from "@gatehouse/contract";
import { startEdgeWorkers } from "../src/workers.ts";
import { udpQuery } from "./dns-helpers.ts";
import { bigListBundle } from "./hashed-bundle.ts";

const NAMES = 200_000;

/**
 * No upstream (a name not blocked is answered SERVFAIL at once). No per-source rate limit: the
 * loop below asks as fast as answers come for as long as the compile takes, which on a loaded
 * machine is more than the default bucket holds, and a REFUSED answer has no data.
 */
const bundle = (version: number, names: number): ConfigBundle =>
  bigListBundle(names, {
    version,
    resolver: { upstreams: [], dnssec: { validate: false }, rateLimit: false },
  });

/** 16 queries from distinct source ports (so both workers see some): the answers' data. */
async function ask16(port: number, name: string): Promise<unknown[]> {
  const answers = await Promise.all(
    Array.from({ length: 16 }, () => udpQuery(port, name, { timeoutMs: 3000 })),
  );
  return answers.map((m) => (m === undefined ? "timeout" : m.answers[0]?.data));
}

test("workers apply a large bundle from a file: small IPC messages, answers meanwhile, replacements start from it", {
  timeout: 180_000,
}, async () => {
  const bundleDir = await mkdtemp(join(tmpdir(), "gh-workers-bundle-"));
  const lines: string[] = [];
  // What the primary sends each worker, by size (the IPC channel serializes it as JSON).
  const sent: number[] = [];
  const send = ClusterWorker.prototype.send;
  ClusterWorker.prototype.send = function (this: ClusterWorker, m: unknown, ...rest: unknown[]) {
    sent.push(JSON.stringify(m)?.length ?? 0);
    return (send as (...a: unknown[]) => boolean).call(this, m, ...rest);
  } as typeof send;
  const h = await startEdgeWorkers({
    mode: "processes",
    config: { ...bundle(1, 0), edge: { dns: { udp: ["127.0.0.1:0"] }, workers: 2 } },
    bundleDir,
    log: (l) => lines.push(l),
  });
  try {
    if (h.mode !== "cluster") throw new Error("expected cluster mode");
    const port = Number(h.addresses.dns.udp[0]!.split(":").pop());
    // v1 has no names: answered (SERVFAIL, no upstream), not blocked.
    for (const d of await ask16(port, "n5.blocked.example")) assert.equal(d, undefined);
    const big = bundle(2, NAMES);
    big.hash = await bundleHash(big);
    const body = Buffer.from(JSON.stringify(big));
    sent.length = 0;
    let applying = true;
    const applied = h.applyBody(body).finally(() => {
      applying = false;
    });
    let answeredDuring = 0;
    while (applying) {
      const m = await udpQuery(port, "other.example", { timeoutMs: 5000 });
      if (m !== undefined && applying) answeredDuring++;
    }
    await applied;
    assert.ok(answeredDuring > 0, "queries were answered while the workers compiled");
    assert.ok(
      Math.max(...sent) < 4096,
      `IPC messages to the workers stay small: ${Math.max(...sent)} bytes (the body is ${body.byteLength})`,
    );
    assert.deepEqual(
      new Set(await ask16(port, `n${NAMES - 1}.blocked.example`)),
      new Set(["0.0.0.0"]),
    );
    // A bundle whose content does not match its hash is refused by the workers.
    const forged = bundle(3, 10);
    forged.hash = big.hash;
    await assert.rejects(h.applyBody(Buffer.from(JSON.stringify(forged))), /hash does not match/);
    assert.deepEqual(new Set(await ask16(port, "n7.blocked.example")), new Set(["0.0.0.0"]));
    // A worker killed now is replaced from the file: once it serves, every answer blocks.
    Object.values(cluster.workers ?? {})[0]!.process.kill("SIGKILL");
    const until = Date.now() + 90_000;
    while (!lines.some((l) => /edge worker \d restarted/.test(l))) {
      if (Date.now() > until) throw new Error(`no replacement: ${lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(
      new Set(await ask16(port, `n${NAMES - 2}.blocked.example`)),
      new Set(["0.0.0.0"]),
    );
    assert.deepEqual(await readdir(bundleDir), ["workers-bundle.1.json"]);
  } finally {
    await h.close();
    ClusterWorker.prototype.send = send;
  }
  assert.deepEqual(await readdir(bundleDir), [], "close removes the workers' bundle file");
});
