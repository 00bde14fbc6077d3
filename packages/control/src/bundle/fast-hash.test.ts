import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bundleHash, type ConfigBundle } from "@gatehouse/contract";
import { fastBundleHash } from "./fast-hash.ts";

describe("fast bundle hash", () => {
  it("gives the contract's bundle hash", async () => {
    const bundle = {
      schemaVersion: 1,
      version: 3,
      resolver: { upstreams: [{ address: "udp://1.1.1.1:53" }] },
      locations: [{ id: "l", name: "office", networks: ["10.0.0.0/8"] }],
      lists: [
        { id: "x", name: "ads", type: "domain", items: ["a.example", "b.example"] },
        { id: "p", name: "ports", type: "int", items: [22, 23] },
      ],
      policies: [
        {
          id: "p1",
          name: "n",
          type: "dns",
          enabled: true,
          precedence: 1,
          expression: "dns.fqdn in $ads",
          action: "block",
        },
      ],
    } as ConfigBundle;
    assert.equal(fastBundleHash(bundle), await bundleHash(bundle));
  });
});
