// An edge worker process (mode "processes") that dies is replaced: the replacement starts with
// the config the other workers run now (the last bundle applied, not the file's), answers on the
// shared port, and the primary keeps serving meanwhile. (Threads: dns-workers-threads.test.ts.)

import assert from "node:assert/strict";
import cluster from "node:cluster";
import { test } from "node:test";
import { startEdgeWorkers } from "../src/workers.ts";
import { a, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

const livePids = () =>
  Object.values(cluster.workers ?? {})
    .filter((w) => w && !w.isDead())
    .map((w) => w!.process.pid!);

async function until<T>(what: string, f: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a crashed edge worker is restarted with the current config", {
  timeout: 60_000,
}, async () => {
  const up = await startFakeUpstream(
    new Map([["r.example/1", { answers: [a("r.example", "192.0.2.8")] }]]),
  );
  const lines: string[] = [];
  const base = {
    resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
    lists: [],
  };
  const h = await startEdgeWorkers({
    mode: "processes",
    config: { ...base, policies: [], edge: { dns: { udp: ["127.0.0.1:0"] }, workers: 2 } },
    log: (l) => lines.push(l),
  });
  try {
    if (h.mode !== "cluster") throw new Error("expected cluster mode");
    const port = Number(h.addresses.dns.udp[0]!.split(":").pop());
    // A bundle applied after start: the replacement must get this one, not the file's.
    await h.apply({
      ...base,
      schemaVersion: 1,
      version: 2,
      policies: [
        {
          id: "b",
          name: "Block r",
          type: "dns",
          enabled: true,
          precedence: 1,
          expression: 'dns.fqdn == "r.example"',
          action: "block",
        },
      ],
    });
    const before = livePids();
    assert.equal(before.length, 2);
    process.kill(before[0]!, "SIGKILL");
    const after = await until("a replacement worker", () => {
      const now = livePids();
      return now.length === 2 && !now.includes(before[0]!) ? now : undefined;
    });
    assert.ok(after.includes(before[1]!), "the other worker kept running");
    await until("the restart to be logged", () =>
      lines.some((l) => /edge worker \d+ exited/.test(l)) ? true : undefined,
    );
    // Once the replacement has applied the current bundle it says so; then every query,
    // whichever worker's socket the kernel picks, is answered under that bundle.
    await until("the replacement to be ready", () =>
      lines.some((l) => /edge worker \d+ restarted/.test(l)) ? true : undefined,
    );
    const answers = await Promise.all(
      Array.from({ length: 32 }, () => udpQuery(port, "r.example")),
    );
    assert.ok(
      answers.every((m) => m?.answers[0]?.data === "0.0.0.0"),
      JSON.stringify(answers.map((m) => m?.answers[0]?.data)),
    );
    // Requests to every worker still work (metrics, apply).
    assert.ok((await (await h.metrics()).metrics()).includes("gatehouse_dns_queries_total"));
  } finally {
    await h.close();
    await up.close();
  }
});

test("a worker restarted after kill -9 never answers a known client REFUSED", {
  timeout: 90_000,
}, async () => {
  const up = await startFakeUpstream(
    new Map([["k.example/1", { answers: [a("k.example", "192.0.2.9")] }]]),
  );
  const lines: string[] = [];
  // As a synced edge starts before its first bundle: no locations, so every client is refused.
  const empty = {
    // One test client sends the whole load: no per-source rate limit (REFUSED is what this
    // test looks for, and the default limit would answer it).
    resolver: {
      upstreams: [{ address: up.address }],
      rateLimit: false as const,
      dnssec: { validate: false },
    },
    locations: [],
    lists: [],
    policies: [],
  };
  const h = await startEdgeWorkers({
    mode: "processes",
    config: { ...empty, edge: { dns: { udp: ["127.0.0.1:0"] }, workers: 2 } },
    log: (l) => lines.push(l),
  });
  let stop = false;
  try {
    if (h.mode !== "cluster") throw new Error("expected cluster mode");
    const port = Number(h.addresses.dns.udp[0]!.split(":").pop());
    // The current bundle knows 127.0.0.0/8; a large list makes it take a while to compile, the
    // window in which a replacement that listened first answered under the file's config.
    await h.apply({
      ...empty,
      schemaVersion: 1,
      version: 2,
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
      lists: [
        {
          id: "big",
          name: "big",
          type: "domain",
          items: Array.from({ length: 200_000 }, (_, i) => `d${i}.example`),
        },
      ],
      policies: [
        {
          id: "p",
          name: "Block the big list",
          type: "dns",
          enabled: true,
          precedence: 1,
          expression: "dns.fqdn in $big",
          action: "block",
        },
      ],
    });
    const known = await udpQuery(port, "k.example");
    assert.equal(known?.rcode, 0, "the known client is answered before the kill");
    // Load from the known client for the whole restart: each query from a new source port, so
    // the kernel spreads them over every worker's socket, the replacement's included.
    const rcodes = new Map<number, number>();
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const m = await udpQuery(port, "k.example", { timeoutMs: 500 });
        if (m) rcodes.set(m.rcode, (rcodes.get(m.rcode) ?? 0) + 1);
      }
    });
    const before = livePids();
    process.kill(before[0]!, "SIGKILL");
    await until("the replacement to be ready", () =>
      lines.some((l) => /edge worker \d+ restarted/.test(l)) ? true : undefined,
    );
    // And a while longer under load, with the replacement in the kernel's rotation.
    const answeredBy = (rcodes.get(0) ?? 0) + 400;
    await until("more answers after the restart", () =>
      (rcodes.get(0) ?? 0) >= answeredBy ? true : undefined,
    );
    stop = true;
    await Promise.all(load);
    assert.equal(livePids().length, 2);
    assert.equal(rcodes.get(5) ?? 0, 0, `answers by rcode: ${JSON.stringify([...rcodes])}`);
    assert.ok((rcodes.get(0) ?? 0) > 0);
  } finally {
    stop = true;
    await h.close();
    await up.close();
  }
});
