// DoH over HTTP/2 checked with h2spec against node:http2's own failures (h2spec.ts says how).
// Skipped, with the reason printed, when h2spec is not on PATH and $GATEHOUSE_H2SPEC is unset.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startEdge } from "../src/main.ts";
import { assertNoFailuresBeyondNode, skip } from "./h2spec.ts";

if (skip) console.log(`# skipping the h2spec check of DoH over HTTP/2: ${skip}`);

test("DoH over HTTP/2 fails no h2spec case beyond node:http2's own", {
  skip,
  timeout: 180_000,
}, async (t) => {
  const edge = await startEdge({
    config: {
      resolver: { upstreams: [] },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.1"] }],
      lists: [],
      policies: [],
      edge: { dns: { doh: ["127.0.0.1:0"] }, dataDir: mkdtempSync(join(tmpdir(), "gh-h2spec-")) },
    },
    log: () => {},
  });
  try {
    const dohPort = Number(edge.addresses.dns.doh[0]!.split(":").pop());
    await assertNoFailuresBeyondNode(t, "edge DoH", dohPort, "/dns-query");
  } finally {
    await edge.close();
  }
});
