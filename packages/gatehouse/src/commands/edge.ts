// `gatehouse edge --config FILE.yaml`: the data plane on its own, configured by a file whose
// schema is the config bundle plus an `edge` section (docs/configuration.md). SIGHUP reloads the
// file; a file that does not compile is refused and the running config keeps serving.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { bundleOfEdgeConfig } from "@gatehouse/contract";
import { type Edge, loadEdgeConfigFile, startEdge } from "@gatehouse/edge";
import type { Io } from "./rules.ts";
import { onShutdown } from "./signals.ts";

const USAGE = `usage: gatehouse edge --config FILE.yaml

Runs the DNS resolver and HTTP proxy from a config file (docs/configuration.md).
SIGHUP reloads the file; SIGINT/SIGTERM shut down gracefully.`;

export function describeEdge(edge: Edge): string[] {
  const a = edge.addresses;
  const lines: string[] = [];
  for (const x of a.dns.udp) lines.push(`  DNS over UDP    ${x}`);
  for (const x of a.dns.tcp) lines.push(`  DNS over TCP    ${x}`);
  for (const x of a.dns.dot) lines.push(`  DNS over TLS    ${x}`);
  for (const x of a.dns.doh) lines.push(`  DNS over HTTPS  https://${x}/dns-query`);
  for (const x of a.proxy.http) lines.push(`  HTTP proxy      ${x}`);
  if (a.metrics) lines.push(`  metrics         http://${a.metrics}/metrics`);
  return lines;
}

export async function edgeCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help || values.config === undefined) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const path = resolve(values.config);
  const config = await loadEdgeConfigFile(path);
  const edge = await startEdge({ config, configPath: path, log: io.err });
  io.err(`gatehouse edge: serving config ${path}`);
  for (const l of describeEdge(edge)) io.err(l);

  process.on("SIGHUP", () => {
    loadEdgeConfigFile(path)
      .then((c) => edge.apply(bundleOfEdgeConfig(c)))
      .then(
        () => io.err(`gatehouse edge: reloaded ${path}`),
        (e: unknown) =>
          io.err(
            `gatehouse edge: reload refused, keeping the running config: ${(e as Error).message}`,
          ),
      );
  });
  await onShutdown(() => edge.close(), io.err);
  return 0;
}
