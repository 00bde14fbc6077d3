// An edge that serves plain DNS and the proxy does not load what only other features need:
// Node's bundled undici (pulled in by an ESM import of node:http), node:http2 (DoH), the X.509
// and self-signed certificate libraries (TLS inspection, generated DoT/DoH certificates), and the
// YAML parser when no file is read. Each costs megabytes of RSS for the life of the process
// (docs/benchmarks.md, "Edge memory"); this checks which modules a started edge loaded, in a
// child process so the test runner's own modules do not count.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const main = new URL("../src/main.ts", import.meta.url).href;

const configFile = new URL("../src/config-file.ts", import.meta.url).href;

/**
 * Start an edge in a fresh process with `config`, then report what it loaded. `config` may use
 * `loadEdgeConfigFile` (config-file.ts), as `gatehouse edge --config FILE` does.
 */
function loadedBy(config: string): { builtins: string[]; files: string[] } {
  const script = `
    import { registerHooks } from "node:module";
    const files = [];
    registerHooks({ load(url, ctx, next) { files.push(url); return next(url, ctx); } });
    const { startEdge } = await import(${JSON.stringify(main)});
    const { loadEdgeConfigFile } = await import(${JSON.stringify(configFile)});
    const edge = await startEdge(${config});
    const builtins = process.moduleLoadList.filter((m) => m.startsWith("NativeModule "));
    await edge.close();
    console.log(JSON.stringify({ builtins, files }));
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split("\n").pop()!);
}

const plain = `{
  config: {
    schemaVersion: 1, version: 1,
    resolver: { upstreams: [{ address: "udp://127.0.0.1:9" }], dnssec: { validate: false } },
    locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
    lists: [], policies: [],
    edge: {
      dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] },
      proxy: { http: ["127.0.0.1:0"] },
      metrics: "127.0.0.1:0",
    },
  },
  log: () => {},
}`;

test("an edge with DNS, the proxy and metrics loads no undici, http2, x509, selfsigned or yaml", () => {
  const { builtins, files } = loadedBy(plain);
  assert.ok(
    builtins.some((m) => m.endsWith(" dgram")),
    "the report lists builtins (dgram is loaded)",
  );
  for (const m of ["internal/deps/undici/undici", "http2"])
    assert.ok(!builtins.includes(`NativeModule ${m}`), `${m} is not loaded`);
  assert.ok(
    files.some((f) => f.endsWith("/dns/dns-service.ts")),
    "the report lists files",
  );
  for (const pkg of ["/@peculiar/x509/", "/selfsigned/", "/asn1js/", "/yaml/"])
    assert.deepEqual(
      files.filter((f) => f.includes(pkg)),
      [],
      `nothing from ${pkg} is loaded`,
    );
});

// A DNS-only edge from a config file, as the idle-memory bench runs it (bench/dns/memory.ts): the
// config is checked without TypeBox and its schemas (the contract's generated shape checks),
// and nothing of TLS, HTTP, the cluster module, prom-client's Pushgateway and aggregator, the
// proxy or the DoH listener loads until a feature needs it (docs/benchmarks.md, "Idle edge:
// what loads at start").
test("a DNS-only edge from a config file loads no TypeBox, tls, http, cluster or proxy", () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-lazy-"));
  const file = join(dir, "edge.yaml");
  writeFileSync(
    file,
    [
      "resolver:",
      '  upstreams: [{ address: "udp://127.0.0.1:9" }]',
      "  dnssec: { validate: false }",
      "locations: [{ id: lo, name: lo, networks: [127.0.0.0/8] }]",
      "lists: [{ id: ads, name: ads, type: domain, items: [ads.example] }]",
      "policies: [{ id: ads, name: ads, type: dns, enabled: true, precedence: 1, expression: 'any(dns.domains[*] in $ads)', action: block }]",
      'edge: { dns: { udp: ["127.0.0.1:0"] } }',
      "",
    ].join("\n"),
  );
  const { builtins, files } = loadedBy(
    `{ config: await loadEdgeConfigFile(${JSON.stringify(file)}), log: () => {} }`,
  );
  assert.ok(
    files.some((f) => f.endsWith("/contract/src/shape-checks.ts")),
    "the config was checked by the generated shape checks",
  );
  for (const m of ["tls", "https", "http", "_http_server", "cluster", "child_process", "http2"])
    assert.ok(!builtins.includes(`NativeModule ${m}`), `${m} is not loaded`);
  for (const part of [
    "/@sinclair/typebox/",
    "/contract/src/config-bundle.ts",
    "/contract/src/api.ts",
    "/prom-client/lib/pushgateway.js",
    "/prom-client/lib/cluster.js",
    "/edge/src/proxy/index.ts",
    "/edge/src/dns/server/doh-server.ts",
  ])
    assert.deepEqual(
      files.filter((f) => f.includes(part)),
      [],
      `nothing from ${part} is loaded`,
    );
});
