// `gatehouse up`: the one-command product on loopback — control (PGlite in the data directory)
// and one edge enrolled to it, in one process. The first run seeds control with a starter
// configuration and enrols the edge; re-running keeps the database, the edge's credential and
// its last good bundle.

import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startControl } from "@gatehouse/control";
import { createOpLogger, EdgeState, lineSink, withComponent } from "@gatehouse/edge";
import { openAnalytics } from "./analytics-store.ts";
import { ControlClient } from "./control-client.ts";
import { describeEdge } from "./edge.ts";
import type { Io } from "./rules.ts";
import { onShutdown } from "./signals.ts";
import { startSyncedEdge } from "./synced-edge.ts";

const USAGE = `usage: gatehouse up [--data-dir DIR] [--dns ADDR:PORT] [--proxy ADDR:PORT] [--api ADDR:PORT] [--metrics ADDR:PORT]

Runs control and an edge on loopback. Defaults: data in ./gatehouse-data, DNS on 127.0.0.1:53
when it may bind there (else 127.0.0.1:10053), the proxy on 127.0.0.1:3128, the API on
127.0.0.1:8787, the edge's metrics on 127.0.0.1:9153 when free. Ctrl-C stops everything cleanly.`;

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
async function canBind(host: string, port: number, udp = true): Promise<boolean> {
  const tcp = await new Promise<boolean>((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => res(true)));
  });
  if (!tcp || !udp) return tcp;
  return new Promise<boolean>((res) => {
    const u = createSocket("udp4");
    u.once("error", () => {
      u.close();
      res(false);
    });
    u.bind({ address: host, port, exclusive: true }, () => u.close(() => res(true)));
  });
}

/**
 * The starter configuration a first run puts into control: one location for loopback and the
 * local networks, the machine's nameservers as upstreams, and an example blocklist with a policy
 * that shows how blocking looks.
 */
export async function seedStarter(api: ControlClient, upstreams: readonly string[]): Promise<void> {
  await api.call("PUT", "/resolver", {
    upstreams: upstreams.map((ip) => ({
      address: `udp://${ip.includes(":") ? `[${ip}]` : ip}:53`,
    })),
    strategy: "failover",
    cache: { maxEntries: 100_000, serveStale: true, prefetch: true },
  });
  await api.call("POST", "/locations", {
    name: "This machine and local networks",
    networks: [
      "127.0.0.0/8",
      "::1/128",
      "10.0.0.0/8",
      "172.16.0.0/12",
      "192.168.0.0/16",
      "fc00::/7",
    ],
  });
  await api.call("POST", "/lists", {
    name: "example_blocklist",
    type: "domain",
    description: "An example: these names and their subdomains are blocked.",
    items: ["blocked.example", "ads.example", "tracker.example"],
  });
  await api.call("POST", "/policies", {
    name: "Block the example list",
    type: "dns",
    precedence: 100,
    expression: "any(dns.domains[*] in $example_blocklist)",
    action: "block",
  });
  await api.call("POST", "/config/publish", {});
}

export async function upCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      "data-dir": { type: "string" },
      dns: { type: "string" },
      proxy: { type: "string" },
      api: { type: "string" },
      metrics: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const dataDir = resolve(values["data-dir"] ?? "gatehouse-data");
  await mkdir(dataDir, { recursive: true });
  const envToken = process.env["GATEHOUSE_ADMIN_TOKEN"];
  // A fresh data directory is a first run: seed it. Re-runs keep whatever the user changed.
  const firstRun = !existsSync(join(dataDir, "control"));
  // Operational logs are JSON lines on stderr; the banner below stays plain text for people.
  const logger = createOpLogger({ write: io.err, component: "cli" });
  const analytics = await openAnalytics(
    join(dataDir, "control"),
    lineSink(withComponent(logger, "analytics")),
  );
  let control: Awaited<ReturnType<typeof startControl>>;
  try {
    control = await startControl({
      dataDir: join(dataDir, "control", "pglite"),
      analytics: analytics.store,
      listen: values.api ?? "127.0.0.1:8787",
      ...(envToken ? { adminToken: envToken } : {}),
      // Request logs at warn by default: at info every heartbeat and long-poll is a line.
      loggerInstance: quietControlLogger(logger),
    });
  } catch (e) {
    await analytics.close();
    throw e;
  }
  const closers: (() => Promise<void>)[] = [() => analytics.close(), () => control.close()];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const adminToken = control.adminToken ?? envToken;
    if (firstRun && adminToken)
      await seedStarter(new ControlClient(control.address, adminToken), await systemNameservers());

    const edgeDir = join(dataDir, "edge");
    let joinToken: string | undefined;
    if ((await new EdgeState(edgeDir).loadCredential()) === undefined) {
      if (!adminToken)
        throw new Error(
          `the edge in ${edgeDir} has no credential and control's admin token is not known: set GATEHOUSE_ADMIN_TOKEN`,
        );
      ({ joinToken } = await new ControlClient(control.address, adminToken).call<{
        joinToken: string;
      }>("POST", "/edges/join-tokens", { ttlSeconds: 600 }));
    }
    const dns =
      values.dns ?? ((await canBind("127.0.0.1", 53)) ? "127.0.0.1:53" : "127.0.0.1:10053");
    // Metrics on 9153 unless that port is taken (then only when asked for).
    const metrics =
      values.metrics ?? ((await canBind("127.0.0.1", 9153, false)) ? "127.0.0.1:9153" : undefined);
    const synced = await startSyncedEdge({
      controlUrl: control.address,
      dataDir: edgeDir,
      local: {
        dns: { udp: [dns], tcp: [dns] },
        proxy: { http: [values.proxy ?? "127.0.0.1:3128"] },
        ...(metrics ? { metrics } : {}),
      },
      log: lineSink(withComponent(logger, "edge")),
      logger,
      name: "local",
      ...(joinToken ? { joinToken } : {}),
    });
    closers.push(() => synced.close());
    const edge = synced.edge;

    const dnsAddr = edge.addresses.dns.udp[0];
    const proxyAddr = edge.addresses.proxy.http[0];
    const lines = [
      "",
      "Gatehouse is running (loopback only):",
      ...describeEdge(edge),
      `  dashboard       ${control.address}/   (sign in with the admin token)`,
      `  control API     ${control.address}/api/v1   (docs: ${control.address}/api/v1/docs)`,
      `  data            ${dataDir}`,
    ];
    if (control.adminToken)
      lines.push("", `Admin token (shown once, keep it): ${control.adminToken}`);
    lines.push("", "Try:");
    if (dnsAddr) {
      const [host, port] = splitHostPort(dnsAddr);
      lines.push(
        `  dig @${host} -p ${port} blocked.example      # 0.0.0.0, from the example policy`,
      );
    }
    if (proxyAddr) lines.push(`  curl -x http://${proxyAddr} http://example.com/`);
    lines.push(
      `  curl -H "Authorization: Bearer $TOKEN" ${control.address}/api/v1/policies`,
      "",
      "Ctrl-C stops everything.",
    );
    for (const l of lines) io.err(l);
  } catch (e) {
    await closeAll();
    throw e;
  }
  await onShutdown(closeAll, lineSink(logger));
  return 0;
}

function splitHostPort(a: string): [string, string] {
  const i = a.lastIndexOf(":");
  return [a.slice(0, i).replace(/^\[|\]$/g, ""), a.slice(i + 1)];
}

/** Control's request logger under `up`: warn unless GATEHOUSE_LOG_LEVEL asks for more. */
function quietControlLogger(logger: ReturnType<typeof createOpLogger>) {
  const l = withComponent(logger, "control");
  if (process.env["GATEHOUSE_LOG_LEVEL"] === undefined) l.level = "warn";
  return l;
}
