// A large bundle is compiled, hashed and written in slices: DNS keeps answering while it
// applies, and the sliced hash and file are the same as the one-go ones.
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  BUNDLE_SCHEMA_VERSION,
  bundleHash,
  type ConfigBundle,
  canonicalJson,
  checkBundle,
} from "@gatehouse/contract";
import { ConfigRejectedError, compileSnapshot, EdgeState, startEdge } from "@gatehouse/edge";
import { compileSnapshotSliced } from "../src/snapshot.ts";
import { bundleHashSliced } from "../src/sync/bundle-digest.ts";
import { a, startFakeUpstream, udpQuery } from "./dns-helpers.ts";

function bigBundle(items: number): ConfigBundle {
  return {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    version: 2,
    resolver: { upstreams: [{ address: "udp://127.0.0.1:9" }] },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
    lists: [
      {
        id: "big",
        name: "big",
        type: "domain",
        items: Array.from({ length: items }, (_, i) => `n${i}.blocked.example`),
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
  };
}

test("DNS queries keep being answered while a large bundle applies", {
  timeout: 120_000,
}, async () => {
  const up = await startFakeUpstream(
    new Map([["ok.example/1", { answers: [a("ok.example", "192.0.2.1")] }]]),
  );
  const edge = await startEdge({
    config: {
      resolver: { upstreams: [{ address: up.address }] },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
      lists: [],
      policies: [],
      edge: { dns: { udp: ["127.0.0.1:0"] } },
    },
    log: () => {},
  });
  try {
    const port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
    const big = bigBundle(400_000);
    let applying = true;
    const applied = edge.apply(big).finally(() => {
      applying = false;
    });
    let answeredDuring = 0;
    while (applying) {
      const m = await udpQuery(port, "ok.example", { timeoutMs: 5000 });
      if (m?.answers[0]?.data === "192.0.2.1" && applying) answeredDuring++;
    }
    const snap = await applied;
    assert.ok(answeredDuring > 0, "queries were answered while the bundle compiled");
    assert.equal(snap.version, 2);
    assert.equal((await udpQuery(port, "n399999.blocked.example"))?.answers[0]?.data, "0.0.0.0");
    // The snapshot keeps the names compactly, not the bundle's million strings a second time.
    assert.equal(edge.snapshot.bundle.lists[0]?.items, undefined);
    assert.equal(edge.snapshot.lists.domains("big")?.size, 400_000);
  } finally {
    await edge.close();
    await up.close();
  }
});

test("applies run in the order asked, a slow one is not overtaken", async () => {
  const edge = await startEdge({
    config: { resolver: { upstreams: [] }, locations: [], lists: [], policies: [] },
    log: () => {},
  });
  try {
    const slow = edge.apply(bigBundle(100_000));
    const small = edge.apply({ ...bigBundle(1), version: 3 });
    await Promise.all([slow, small]);
    assert.equal(edge.snapshot.version, 3);
  } finally {
    await edge.close();
  }
});

test("the sliced hash and the last good file match the one-go canonical form", async () => {
  const b: ConfigBundle = {
    ...bigBundle(20_000),
    blockPage: undefined,
    locations: [{ id: "lo", name: "Zürich ☃ \u2028", networks: ["127.0.0.0/8", "::1"] }],
  };
  b.hash = await bundleHash(b);
  assert.equal(await bundleHashSliced(b), b.hash);
  const state = new EdgeState(await mkdtemp(join(tmpdir(), "gh-bundle-apply-")));
  await state.saveLastGood(b);
  const { hash: _h, ...rest } = b;
  const text = await readFile(state.lastGoodPath, "utf8");
  assert.equal(text, canonicalJson(b));
  assert.notEqual(canonicalJson(rest), text);
  assert.equal((await state.loadLastGood())?.hash, b.hash);
});

test("a list item outside the contract's item schema refuses the bundle, sliced or not", async () => {
  const b = bigBundle(20_000);
  b.lists[0]!.items![17_000] = "x".repeat(1025);
  for (const compile of [
    async (x: ConfigBundle) => compileSnapshot(x),
    (x: ConfigBundle) => compileSnapshotSliced(x),
  ]) {
    await assert.rejects(compile(b), (e: unknown) => {
      assert.ok(e instanceof ConfigRejectedError);
      // The same problem the contract's one-go check reports.
      assert.deepEqual(e.problems, checkBundle(b));
      assert.equal(e.problems[0]!.path, "/lists/0/items/17000");
      return true;
    });
  }
});
