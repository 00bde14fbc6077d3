// The Gatehouse proxy as the benchmark runs it: one process, ten HTTP policies loaded (none
// matching the benchmark URL, so every request evaluates all ten), a network policy allowing the
// loopback origin, listening on the port given. Several copies can share the port (reusePort).
//   node bench/proxy/gatehouse-proxy.ts --port 3128 --connect-port 9000
//     [--inspect-dir DIR --tls-host localhost --tls-port 9443]
// --inspect-dir: TLS inspection on for the loopback location (run.ts --inspect). Leaves come from
// a fresh test PKI whose root this writes to DIR/gatehouse-root.pem (what the load generator
// trusts); the HTTPS origin at tls-host:tls-port (resolved to 127.0.0.1) is trusted through
// DIR/origin-ca.pem, which run.ts wrote.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { startProxy } from "../../packages/edge/src/proxy/index.ts";
import type { ResolveResult } from "../../packages/edge/src/resolver.ts";
import { compileSnapshot } from "../../packages/edge/src/snapshot.ts";
import { QueryLog } from "../../packages/edge/src/telemetry/query-log.ts";
import { LeafMinter } from "../../packages/edge/src/tls/leaf-minter.ts";
import { testPki } from "../../packages/edge/test/tls-pki.ts";
import { type BenchInspect, benchBundle } from "./bench-bundle.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "connect-port": { type: "string" },
    "inspect-dir": { type: "string" },
    "tls-host": { type: "string", default: "localhost" },
    "tls-port": { type: "string" },
  },
});
const port = Number(values.port ?? 0);
const connectPort = Number(values["connect-port"] ?? 443);
const inspectDir = values["inspect-dir"];

const inspect: BenchInspect | undefined =
  inspectDir === undefined
    ? undefined
    : {
        host: values["tls-host"],
        port: Number(values["tls-port"] ?? 443),
        originCa: readFileSync(join(inspectDir, "origin-ca.pem"), "utf8"),
      };
const snapshot = compileSnapshot(benchBundle(connectPort, inspect));
const resolver = {
  async resolve(name: string): Promise<ResolveResult> {
    if (inspect !== undefined && name === inspect.host)
      return { addresses: ["127.0.0.1"], rcode: "NOERROR" };
    return { addresses: [], rcode: "NXDOMAIN" };
  },
};
let minter: LeafMinter | undefined;
if (inspectDir !== undefined) {
  const pki = await testPki();
  minter = new LeafMinter();
  minter.setIssuer(pki.issuer);
  writeFileSync(join(inspectDir, "gatehouse-root.pem"), pki.root);
}
const log = new QueryLog(65_536);
// Drain the ring as a shipper would, so the benchmark pays for records, not for a full ring.
setInterval(() => log.drain(), 1000).unref();
const proxy = await startProxy({
  listen: [`127.0.0.1:${port}`],
  getSnapshot: () => snapshot,
  resolver,
  log,
  registry: new Registry(),
  reusePort: true,
  ...(minter === undefined ? {} : { minter }),
});
process.stdout.write(`listening ${proxy.addresses[0]?.port}\n`);
process.on("SIGTERM", () => {
  void proxy.close().then(() => process.exit(0));
});
