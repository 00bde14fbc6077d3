// Worker threads (workers.ts, mode "threads") share one copy of the domain lists: the main
// thread builds each bundle's lists once into SharedArrayBuffers and every thread answers from
// that memory. A thread that dies is replaced with the lists the others hold, while the others
// keep answering on the shared port.

import assert from "node:assert/strict";
import { test } from "node:test";
import { bundleHash, type ConfigBundle } from "@gatehouse/contract";
import type { SharedLists } from "../src/lists/list-set.ts";
import { startEdgeWorkers } from "../src/workers.ts";
import { udpQuery } from "./dns-helpers.ts";
import { bigListBundle } from "./hashed-bundle.ts";

/** No upstream (a name not blocked is answered SERVFAIL at once), no per-source rate limit. */
const bundle = (version: number, names: number): ConfigBundle =>
  bigListBundle(names, {
    version,
    resolver: { upstreams: [], dnssec: { validate: false }, rateLimit: false },
  });

/** 32 queries from distinct source ports (so every thread sees some): the answers' data. */
async function ask32(port: number, name: string): Promise<Set<unknown>> {
  const answers = await Promise.all(
    Array.from({ length: 32 }, () => udpQuery(port, name, { timeoutMs: 3000 })),
  );
  return new Set(answers.map((m) => (m === undefined ? "timeout" : (m.answers[0]?.data ?? null))));
}

/**
 * Change one byte of `name` in the shared arena of list `big`, as the main thread holds it:
 * the name is no longer in the set for any thread that reads the same memory.
 */
function corrupt(lists: SharedLists | undefined, name: string): void {
  const arena = lists?.get(0)?.list.block.arena;
  assert.ok(arena instanceof Uint8Array, "list 0's arena");
  assert.ok(arena.buffer instanceof SharedArrayBuffer, "the arena is shared memory");
  // Names are stored back to back, each as its bytes up to its last dot and then one byte of
  // 0x80 or more for its last label (domain-set.ts): `name` lies between two such bytes.
  const bytes = Buffer.from(arena.buffer, arena.byteOffset, arena.byteLength);
  const head = name.slice(0, name.lastIndexOf("."));
  let at = -1;
  for (let i = bytes.indexOf(head); i > 0 && at < 0; i = bytes.indexOf(head, i + 1))
    if ((bytes[i - 1] ?? 0) >= 0x80 && (bytes[i + head.length] ?? 0) >= 0x80) at = i;
  assert.ok(at >= 0, `${name} is in the arena`);
  arena[at] = "x".charCodeAt(0);
}

test("worker threads answer from one list arena the main thread built", {
  timeout: 120_000,
}, async () => {
  const h = await startEdgeWorkers({
    config: {
      ...bundle(1, 1000),
      edge: { dns: { udp: ["127.0.0.1:0"] }, workers: 2, metrics: "127.0.0.1:0" },
    },
  });
  try {
    if (h.mode !== "cluster") throw new Error("expected workers");
    assert.equal(h.workerMode, "threads", "threads are the default");
    const port = Number(h.addresses.dns.udp[0]!.split(":").pop());
    assert.deepEqual(await ask32(port, "n5.blocked.example"), new Set(["0.0.0.0"]));
    // One copy: a byte changed in the main thread's arena changes every thread's answer.
    corrupt(h.sharedLists(), "n7.blocked.example");
    assert.deepEqual(await ask32(port, "n7.blocked.example"), new Set([null]));
    assert.deepEqual(await ask32(port, "n8.blocked.example"), new Set(["0.0.0.0"]));

    // A bundle from control (its JSON, hash checked): parsed and built once, here, while the
    // threads keep answering; then every thread answers under it.
    const big = bundle(2, 200_000);
    big.hash = await bundleHash(big);
    let applying = true;
    const applied = h.applyBody(Buffer.from(JSON.stringify(big))).finally(() => {
      applying = false;
    });
    let answeredDuring = 0;
    let sentDuring = 0;
    while (applying) {
      sentDuring++;
      const m = await udpQuery(port, "other.example", { timeoutMs: 5000 });
      if (m !== undefined && applying) answeredDuring++;
    }
    await applied;
    assert.ok(answeredDuring > 0, "queries were answered while the main thread compiled");
    assert.deepEqual(await ask32(port, "n199999.blocked.example"), new Set(["0.0.0.0"]));
    assert.equal(h.sharedLists()?.get(0)?.list.block.size, 200_000);
    corrupt(h.sharedLists(), "n1234.blocked.example");
    assert.deepEqual(await ask32(port, "n1234.blocked.example"), new Set([null]));

    // A body whose content does not match its hash is refused; the lists stay.
    const forged = bundle(3, 10);
    forged.hash = big.hash;
    await assert.rejects(h.applyBody(Buffer.from(JSON.stringify(forged))), /hash does not match/);
    // A bundle that does not compile is refused whole, with the problem's path.
    await assert.rejects(
      h.apply({ ...bundle(4, 10), policies: [{ ...big.policies[0]!, expression: "dns.fqdn ==" }] }),
      /config rejected/,
    );
    assert.deepEqual(await ask32(port, "n150000.blocked.example"), new Set(["0.0.0.0"]));
    assert.equal(h.sharedLists()?.get(0)?.list.block.size, 200_000);

    // /metrics sums the threads: every query above is counted once.
    const text = await (await fetch(`http://${h.addresses.metrics}/metrics`)).text();
    const total = [...text.matchAll(/^gatehouse_dns_queries_total\{[^}]*\} (\d+)/gm)].reduce(
      (t, m) => t + Number(m[1]),
      0,
    );
    assert.equal(total, 6 * 32 + sentDuring);
  } finally {
    await h.close();
  }
});

test("a crashed worker thread is replaced with the shared lists while the other keeps serving", {
  timeout: 120_000,
}, async () => {
  const lines: string[] = [];
  const h = await startEdgeWorkers({
    config: { ...bundle(1, 0), edge: { dns: { udp: ["127.0.0.1:0"] }, workers: 2 } },
    mode: "threads",
    log: (l) => lines.push(l),
  });
  let stop = false;
  try {
    if (h.mode !== "cluster") throw new Error("expected workers");
    const port = Number(h.addresses.dns.udp[0]!.split(":").pop());
    await h.apply(bundle(2, 5000));
    assert.deepEqual(await ask32(port, "n1.blocked.example"), new Set(["0.0.0.0"]));
    // Load for the whole restart, each query from a new source port: every one is answered
    // (once the thread is gone its socket leaves the port's group and the other takes all).
    const answers = new Map<unknown, number>();
    const load = Array.from({ length: 4 }, async () => {
      for (let i = 0; !stop; i++) {
        const m = await udpQuery(port, `n${2 + (i % 4000)}.blocked.example`, { timeoutMs: 2000 });
        const d = m === undefined ? "timeout" : (m.answers[0]?.data ?? null);
        answers.set(d, (answers.get(d) ?? 0) + 1);
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    h.kill(0);
    const until = Date.now() + 60_000;
    while (!lines.some((l) => /edge worker 0 restarted/.test(l))) {
      if (Date.now() > until) throw new Error(`no replacement: ${lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(
      lines.some((l) => /edge worker 0 exited/.test(l)),
      lines.join("\n"),
    );
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(load);
    // The one "timeout" allowed: a query in the thread's socket queue as it was terminated.
    assert.ok((answers.get("timeout") ?? 0) <= 4, JSON.stringify([...answers]));
    assert.ok((answers.get("0.0.0.0") ?? 0) > 0, JSON.stringify([...answers]));
    assert.deepEqual(
      [...answers.keys()].filter((k) => k !== "timeout"),
      ["0.0.0.0"],
    );
    // The replacement answers under the current bundle, from the same arena.
    assert.deepEqual(await ask32(port, "n4999.blocked.example"), new Set(["0.0.0.0"]));
    corrupt(h.sharedLists(), "n4321.blocked.example");
    assert.deepEqual(await ask32(port, "n4321.blocked.example"), new Set([null]));
    // Requests to every thread still work.
    assert.ok((await (await h.metrics()).metrics()).includes("gatehouse_dns_queries_total"));
  } finally {
    stop = true;
    await h.close();
  }
});
