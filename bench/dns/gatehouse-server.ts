// The Gatehouse side of the DNS benchmark: an edge (optionally one per core) from a config file,
// printing "ready <udp address>" once listening; SIGINT/SIGTERM close it cleanly.
// Run: node bench/dns/gatehouse-server.ts CONFIG.yaml

import { loadEdgeConfigFile } from "../../packages/edge/src/config-file.ts";
import { startEdgeWorkers } from "../../packages/edge/src/workers.ts";

const t0 = performance.now();
const cfg = await loadEdgeConfigFile(process.argv[2]!);
const handle = await startEdgeWorkers({
  config: cfg,
  log: () => {},
  onReady: (addrs) =>
    console.log(`ready ${addrs.dns.udp[0]} in ${Math.round(performance.now() - t0)} ms`),
});
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => {
    handle.close().then(() => process.exit(0));
  });
