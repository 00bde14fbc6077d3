// The Gatehouse proxy as the benchmark runs it: one process, ten HTTP policies loaded (none
// matching the benchmark URL, so every request evaluates all ten), a network policy allowing the
// loopback origin, listening on the port given. Several copies can share the port (reusePort).
//   node bench/proxy/gatehouse-proxy.ts --port 3128 --connect-port 9000

import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { startProxy } from "../../packages/edge/src/proxy/index.ts";
import type { ResolveResult } from "../../packages/edge/src/resolver.ts";
import { compileSnapshot } from "../../packages/edge/src/snapshot.ts";
import { QueryLog } from "../../packages/edge/src/telemetry/query-log.ts";
import { benchBundle } from "./bench-bundle.ts";

const { values } = parseArgs({
  options: { port: { type: "string" }, "connect-port": { type: "string" } },
});
const port = Number(values.port ?? 0);
const connectPort = Number(values["connect-port"] ?? 443);

const bundle = benchBundle(connectPort);
const snapshot = compileSnapshot(bundle);
const resolver = {
  async resolve(): Promise<ResolveResult> {
    return { addresses: [], rcode: "NXDOMAIN" };
  },
};
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
});
process.stdout.write(`listening ${proxy.addresses[0]!.port}\n`);
process.on("SIGTERM", () => {
  void proxy.close().then(() => process.exit(0));
});
