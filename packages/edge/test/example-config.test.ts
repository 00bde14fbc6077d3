// The documented example config loads, compiles and serves.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bundleOfEdgeConfig, shadowedPolicies } from "@gatehouse/contract";
import { EdgeConfigError, loadEdgeConfigFile } from "../src/config-file.ts";
import { parseUpstream } from "../src/dns/upstream/pool.ts";
import { Rcode } from "../src/dns/wire/constants.ts";
import { startEdge } from "../src/main.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { udpQuery } from "./dns-helpers.ts";

const example = new URL("../examples/edge.yaml", import.meta.url).pathname;

test("examples/edge.yaml loads and compiles; list files resolve next to it", async () => {
  const cfg = await loadEdgeConfigFile(example);
  const snap = compileSnapshot(bundleOfEdgeConfig(cfg));
  assert.equal(snap.policies.dns.size, 6);
  // The example (docs/configuration.md shows the same policies) shadows none of its policies.
  assert.deepEqual(shadowedPolicies(bundleOfEdgeConfig(cfg)), []);
  assert.ok(snap.lists.bytes("ads")!.has("tracker.example.net"));
  assert.ok(snap.lists.bytes("ads.allow")!.has("good.ads.example.com"));
  assert.equal(snap.locations.byDohToken("office-token-0001")?.id, "office");
  // The DoT upstream's private CA file resolves next to the config and loads.
  const dot = cfg.resolver.upstreams.find((u) => u.address.startsWith("tls://"))!;
  assert.equal(dot.caFile, new URL("../examples/certs/private-ca.pem", import.meta.url).pathname);
  assert.ok(parseUpstream(dot).secureContext);
  // And it serves: same config on port 0, answering a blocked name.
  const edge = await startEdge({
    config: { ...cfg, edge: { dns: { udp: ["127.0.0.1:0"] } } },
    log: () => {},
  });
  try {
    const port = Number(edge.addresses.dns.udp[0]!.split(":").pop());
    const r = await udpQuery(port, "ads.example.com");
    assert.equal(r?.rcode, Rcode.NOERROR);
    assert.equal(r?.answers[0]?.data, "0.0.0.0");
    assert.equal((await udpQuery(port, "intranet.example"))?.answers[0]?.data, "10.0.0.5");
  } finally {
    await edge.close();
  }
});

test("bad config files get clear errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-cfg-"));
  const cases: [string, RegExp][] = [
    ["resolver: [", /not valid YAML/],
    ["- a\n- b\n", /expected a mapping/],
    [
      "resolver: {upstreams: []}\nlocations: []\nlists: []\npolicies: [{id: x}]\n",
      /invalid edge config:\n {2}\/policies\/0/,
    ],
  ];
  for (const [text, re] of cases) {
    const f = join(dir, "c.yaml");
    writeFileSync(f, text);
    await assert.rejects(
      loadEdgeConfigFile(f),
      (e: unknown) => e instanceof EdgeConfigError && re.test(e.message),
    );
  }
  await assert.rejects(loadEdgeConfigFile(join(dir, "missing.yaml")), /cannot read/);
});
