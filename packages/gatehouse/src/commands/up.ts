// `gatehouse up`: the one-command product on loopback — control (PGlite in the data directory)
// and one edge enrolled to it, in one process. The first run seeds control with a starter
// configuration and enrols the edge; re-running keeps the database, the edge's credential and
// its last good bundle.

import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { ResolverSettings } from "@gatehouse/contract";
import { startControl } from "@gatehouse/control";
import {
  createOpLogger,
  EdgeState,
  lineSink,
  probeUpstreamDnssec,
  splitHostPort,
  withComponent,
} from "@gatehouse/edge";
import { openAnalytics } from "./analytics-store.ts";
import { ControlClient } from "./control-client.ts";
import { describeEdge } from "./edge.ts";
import { checkChosen, type ListenerSpec, listenScope, pickDefault } from "./ports.ts";
import type { Io } from "./rules.ts";
import { onShutdown } from "./signals.ts";
import { startSyncedEdge } from "./synced-edge.ts";
import { readTrustAnchorFile, withTrustAnchors } from "./trust-anchor.ts";

const USAGE = `usage: gatehouse up [--data-dir DIR] [--dns ADDR:PORT] [--proxy ADDR:PORT] [--api ADDR:PORT] [--metrics ADDR:PORT] [--trust-anchor FILE]

Runs control and an edge on loopback. Defaults: data in ./gatehouse-data, DNS on 127.0.0.1:53
when it may bind there (else 127.0.0.1:10053), the proxy on 127.0.0.1:3128, the API and the
dashboard on 127.0.0.1:8787, the edge's metrics on 127.0.0.1:9153. A default port that is taken
falls back to the next free port above it, and a line says which; a port given with a flag is
used as given or the start stops with an error. --trust-anchor FILE sets the DNSSEC trust anchors
(DS or DNSKEY lines, replacing the built-in root keys) in control's resolver settings. The first
run asks the machine's nameservers whether they pass DNSSEC records and, when they strip them,
seeds the resolver with validation off and says so. Ctrl-C stops everything cleanly.`;

const DNS: ListenerSpec = { what: "DNS server", flag: "--dns", udp: true };
const PROXY: ListenerSpec = { what: "HTTP proxy", flag: "--proxy" };
const API: ListenerSpec = { what: "dashboard and API", flag: "--api" };
const METRICS: ListenerSpec = { what: "edge metrics", flag: "--metrics" };

/**
 * The listen addresses: each flag given is checked (a clear error when it cannot bind), each
 * default that is taken falls back to a free port, with a note saying so.
 */
async function chooseListeners(values: {
  dns?: string | undefined;
  proxy?: string | undefined;
  api?: string | undefined;
  metrics?: string | undefined;
}): Promise<{ dns: string; proxy: string; api: string; metrics: string; notes: string[] }> {
  const wanted: [ListenerSpec, string | undefined, number[]][] = [
    [API, values.api, [8787]],
    [DNS, values.dns, [53, 10053]],
    [PROXY, values.proxy, [3128]],
    [METRICS, values.metrics, [9153]],
  ];
  const avoid = new Set<number>();
  for (const [spec, chosen] of wanted)
    if (chosen !== undefined) avoid.add(splitHostPort(await checkChosen(spec, chosen)).port);
  const notes: string[] = [];
  const out: string[] = [];
  for (const [spec, chosen, ports] of wanted) {
    if (chosen !== undefined) {
      out.push(chosen);
      continue;
    }
    const picked = await pickDefault(spec, "127.0.0.1", ports, avoid);
    if (picked.note) notes.push(picked.note);
    out.push(picked.address);
  }
  const [api, dns, proxy, metrics] = out as [string, string, string, string];
  return { api, dns, proxy, metrics, notes };
}

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

const upstreamOf = (ip: string) => `udp://${ip.includes(":") ? `[${ip}]` : ip}:53`;

/**
 * Whether DNSSEC validation can work behind these nameservers: false when one answered the
 * root's DNSKEY without its signature (it strips DNSSEC records, so every signed answer would be
 * bogus); true when they pass them or could not be asked (validation stays on, the default).
 */
export async function upstreamsPassDnssec(nameservers: readonly string[]): Promise<boolean> {
  const results = await Promise.all(nameservers.map((ip) => probeUpstreamDnssec(upstreamOf(ip))));
  return !results.includes("strips");
}

/**
 * The starter configuration a first run puts into control: one location for loopback and the
 * local networks, the machine's nameservers as upstreams, and an example blocklist with a policy
 * that shows how blocking looks.
 */
export async function seedStarter(
  api: ControlClient,
  upstreams: readonly string[],
  dnssecValidate = true,
): Promise<void> {
  await api.call("PUT", "/resolver", {
    upstreams: upstreams.map((ip) => ({ address: upstreamOf(ip) })),
    strategy: "failover",
    cache: { maxEntries: 100_000, serveStale: true, prefetch: true },
    ...(dnssecValidate ? {} : { dnssec: { validate: false } }),
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
      "trust-anchor": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  // Every port is settled before anything starts: a chosen port that is taken stops here.
  const listen = await chooseListeners(values);
  const anchors =
    values["trust-anchor"] !== undefined
      ? await readTrustAnchorFile(values["trust-anchor"])
      : undefined;
  const notes = [...listen.notes];
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
      listen: listen.api,
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
    if (firstRun && adminToken) {
      const nameservers = await systemNameservers();
      const validate = await upstreamsPassDnssec(nameservers);
      if (!validate)
        notes.push(
          `DNSSEC validation is off: the nameservers of this machine (${nameservers.join(", ")}) strip DNSSEC records. Point the resolver at upstreams that pass them and turn validation on (dashboard: Resolver).`,
        );
      await seedStarter(new ControlClient(control.address, adminToken), nameservers, validate);
    }
    if (anchors !== undefined) {
      if (!adminToken)
        throw new Error("--trust-anchor needs control's admin token: set GATEHOUSE_ADMIN_TOKEN");
      const api = new ControlClient(control.address, adminToken);
      const current = await api.call<ResolverSettings>("GET", "/resolver");
      await api.call("PUT", "/resolver", withTrustAnchors(current, anchors));
      await api.call("POST", "/config/publish", {});
    }

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
    const synced = await startSyncedEdge({
      controlUrl: control.address,
      dataDir: edgeDir,
      local: {
        dns: { udp: [listen.dns], tcp: [listen.dns] },
        proxy: { http: [listen.proxy] },
        metrics: listen.metrics,
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
    const a = edge.addresses;
    const bound = [
      ...a.dns.udp,
      ...a.dns.tcp,
      ...a.dns.dot,
      ...a.dns.doh,
      ...a.proxy.http,
      ...(a.metrics ? [a.metrics] : []),
      control.address,
    ];
    const lines = [
      "",
      ...listenScope(bound),
      ...describeEdge(edge),
      `  dashboard       ${control.address}/   (sign in with the admin token)`,
      `  control API     ${control.address}/api/v1   (docs: ${control.address}/api/v1/docs)`,
      `  data            ${dataDir}`,
      ...(notes.length ? ["", ...notes] : []),
    ];
    if (control.adminToken)
      lines.push("", `Admin token (shown once, keep it): ${control.adminToken}`);
    lines.push("", "Try:");
    if (dnsAddr) {
      const { host, port } = splitHostPort(dnsAddr);
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

/** Control's request logger under `up`: warn unless GATEHOUSE_LOG_LEVEL asks for more. */
function quietControlLogger(logger: ReturnType<typeof createOpLogger>) {
  const l = withComponent(logger, "control");
  if (process.env["GATEHOUSE_LOG_LEVEL"] === undefined) l.level = "warn";
  return l;
}
