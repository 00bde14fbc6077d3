// `gatehouse up`: the one-command product on loopback — the control API (PGlite in the data
// directory) and an edge (DNS + HTTP proxy) in one process. The edge runs from
// `<data-dir>/edge.yaml`, written with a starter configuration on the first run (one location for
// loopback and the local networks, upstreams from /etc/resolv.conf, an example blocklist and a
// policy that shows how blocking looks); re-running keeps it and the control database.

import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { startControl } from "@gatehouse/control";
import { loadEdgeConfigFile, startEdge } from "@gatehouse/edge";
import { stringify } from "yaml";
import { describeEdge } from "./edge.ts";
import type { Io } from "./rules.ts";
import { onShutdown } from "./signals.ts";

const USAGE = `usage: gatehouse up [--data-dir DIR] [--dns ADDR:PORT] [--proxy ADDR:PORT] [--api ADDR:PORT]

Runs control and an edge on loopback. Defaults: data in ./gatehouse-data, DNS on 127.0.0.1:53
when it may bind there (else 127.0.0.1:10053), the proxy on 127.0.0.1:3128, the API on
127.0.0.1:8787. Ctrl-C stops everything cleanly.`;

/** Nameservers from resolv.conf (the machine's own resolver becomes the upstream). */
export async function systemNameservers(path = "/etc/resolv.conf"): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+([0-9a-fA-F:.]+)(?:%\S+)?\s*$/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** True when both UDP and TCP may bind host:port right now (port 53 needs privileges). */
async function canBind(host: string, port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => res(true)));
  });
  if (!tcp) return false;
  return new Promise<boolean>((res) => {
    const u = createSocket("udp4");
    u.once("error", () => {
      u.close();
      res(false);
    });
    u.bind({ address: host, port, exclusive: true }, () => u.close(() => res(true)));
  });
}

export function starterConfig(opts: {
  upstreams: string[];
  dns: string;
  proxy: string;
  dataDir: string;
}): EdgeConfigFile {
  return {
    resolver: {
      upstreams: opts.upstreams.map((ip) => ({
        address: `udp://${ip.includes(":") ? `[${ip}]` : ip}:53`,
      })),
      strategy: "failover",
      cache: { maxEntries: 100_000, serveStale: true, prefetch: true },
    },
    locations: [
      {
        id: "local",
        name: "This machine and local networks",
        networks: [
          "127.0.0.0/8",
          "::1/128",
          "10.0.0.0/8",
          "172.16.0.0/12",
          "192.168.0.0/16",
          "fc00::/7",
        ],
      },
    ],
    lists: [
      {
        id: "example-blocklist",
        name: "example_blocklist",
        type: "domain",
        description: "An example: these names and their subdomains are blocked.",
        items: ["blocked.example", "ads.example", "tracker.example"],
      },
    ],
    policies: [
      {
        id: "block-example-list",
        name: "Block the example list",
        type: "dns",
        enabled: true,
        precedence: 100,
        expression: "any(dns.domains[*] in $example_blocklist)",
        action: "block",
      },
    ],
    edge: {
      dns: { udp: [opts.dns], tcp: [opts.dns] },
      proxy: { http: [opts.proxy] },
      dataDir: opts.dataDir,
    },
  };
}

export async function upCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      "data-dir": { type: "string" },
      dns: { type: "string" },
      proxy: { type: "string" },
      api: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const dataDir = resolve(values["data-dir"] ?? "gatehouse-data");
  await mkdir(dataDir, { recursive: true });
  const edgeFile = join(dataDir, "edge.yaml");
  if (!existsSync(edgeFile)) {
    const dns =
      values.dns ?? ((await canBind("127.0.0.1", 53)) ? "127.0.0.1:53" : "127.0.0.1:10053");
    const starter = starterConfig({
      upstreams: await systemNameservers(),
      dns,
      proxy: values.proxy ?? "127.0.0.1:3128",
      dataDir: join(dataDir, "edge"),
    });
    await writeFile(
      edgeFile,
      `# Gatehouse edge configuration (docs/configuration.md). Edit and restart.\n${stringify(starter)}`,
    );
    io.err(`gatehouse up: wrote a starter configuration to ${edgeFile}`);
  }
  const config = await loadEdgeConfigFile(edgeFile);
  if (values.dns)
    config.edge = {
      ...config.edge,
      dns: { ...config.edge?.dns, udp: [values.dns], tcp: [values.dns] },
    };
  if (values.proxy) config.edge = { ...config.edge, proxy: { http: [values.proxy] } };

  const adminToken = process.env["GATEHOUSE_ADMIN_TOKEN"];
  const control = await startControl({
    dataDir: join(dataDir, "control"),
    listen: values.api ?? "127.0.0.1:8787",
    ...(adminToken ? { adminToken } : {}),
    logger: false,
  });
  let edge: Awaited<ReturnType<typeof startEdge>>;
  try {
    edge = await startEdge({ config, configPath: edgeFile, log: io.err });
  } catch (e) {
    await control.close();
    throw e;
  }
  const dnsAddr = edge.addresses.dns.udp[0];
  const proxyAddr = edge.addresses.proxy.http[0];
  const lines = [
    "",
    "Gatehouse is running (loopback only):",
    ...describeEdge(edge),
    `  control API     ${control.address}/api/v1   (docs: ${control.address}/api/v1/docs)`,
    `  data            ${dataDir}   (edge config: ${edgeFile})`,
  ];
  if (control.adminToken)
    lines.push("", `Admin token (shown once, keep it): ${control.adminToken}`);
  lines.push("", "Try:");
  if (dnsAddr) {
    const [host, port] = splitHostPort(dnsAddr);
    lines.push(
      `  dig @${host} -p ${port} blocked.example      # answered 0.0.0.0 by the example policy`,
    );
  }
  if (proxyAddr) lines.push(`  curl -x http://${proxyAddr} http://example.com/`);
  lines.push(
    `  curl -H "Authorization: Bearer $TOKEN" ${control.address}/api/v1/policies`,
    "",
    "Ctrl-C stops everything.",
  );
  for (const l of lines) io.err(l);

  await onShutdown(async () => {
    await edge.close();
    await control.close();
  }, io.err);
  return 0;
}

function splitHostPort(a: string): [string, string] {
  const i = a.lastIndexOf(":");
  return [a.slice(0, i).replace(/^\[|\]$/g, ""), a.slice(i + 1)];
}
