// `gatehouse up`: the one-command product — control (PGlite in the data directory) and one edge
// enrolled to it, in one process, on loopback or (--listen lan) on the local network too. The first run seeds control with a starter
// configuration and enrols the edge; re-running keeps the database, the edge's credential and
// its last good bundle.

import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { flushCompileCache } from "node:module";
import { BlockList, isIP } from "node:net";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  BUILTIN_DO_NOT_INSPECT,
  BUILTIN_DO_NOT_INSPECT_LIST,
  isLoopbackHost,
  type ResolverSettings,
} from "@gatehouse/contract";
import { type ServingEndpoints, startControl } from "@gatehouse/control";
import {
  createOpLogger,
  type Edge,
  type EdgeAddresses,
  EdgeState,
  joinHostPort,
  lineSink,
  probeUpstreamDnssec,
  releaseMemory,
  splitHostPort,
  withComponent,
} from "@gatehouse/edge";
import type { AcmeOptions } from "./acme.ts";
import { openAnalytics, SMALL_MACHINE_DUCKDB } from "./analytics-store.ts";
import { ControlClient } from "./control-client.ts";
import { describeEdge } from "./edge.ts";
import { DEFAULT_CONTROL_URL } from "./import.ts";
import { type ListenMode, lanNetworks, listenHosts } from "./listen-scope.ts";
import { trustOriginCaFiles } from "./origin-ca.ts";
import { checkChosen, type ListenerSpec, listenScope, pickDefault } from "./ports.ts";
import type { Io } from "./rules.ts";
import {
  certificateFromFiles,
  type ServingCertificate,
  selfSignedCertificate,
} from "./serving-tls.ts";
import { onShutdown } from "./signals.ts";
import { startSyncedEdge } from "./synced-edge.ts";
import { readTrustAnchorFile, withTrustAnchors } from "./trust-anchor.ts";

const USAGE = `usage: gatehouse up [--listen loopback|lan|ADDR[,ADDR…]] [--data-dir DIR] [--config FILE]
                    [--dns ADDR:PORT] [--dot ADDR:PORT] [--doh ADDR:PORT] [--proxy ADDR:PORT]
                    [--api ADDR:PORT] [--metrics ADDR:PORT]
                    [--hostname NAME | --public-name NAME] [--tls-cert FILE --tls-key FILE]
                    [--trust-anchor FILE]
                    [--acme-directory URL [--acme-email ADDR] [--acme-http ADDR:PORT] [--acme-ca FILE]]
                    [--tls-inspection] [--origin-ca FILE]…

Runs control and an edge. --listen says where: loopback (the default: this machine only), lan
(loopback and this machine's addresses on its local networks), or the addresses given. DNS
(UDP and TCP) defaults to port 53 when it may bind there (else 10053), DNS over TLS to 853
(else 8853), DNS over HTTPS to 443 (else 8443), the proxy to 3128, the dashboard and API to 8787
(plain HTTP on 127.0.0.1, HTTPS on the other addresses), the edge's metrics to 127.0.0.1:9153.
A default port that is taken falls back to the next free port above it, and a line says which;
a port given with a flag is used as given or the start stops with an error.

Only clients inside a location's networks are answered (the starter location covers loopback
and the local networks); Gatehouse never becomes an open resolver or proxy.

DoT, DoH and the HTTPS dashboard present the certificate from --tls-cert/--tls-key, or one from
the ACME CA at --acme-directory for --hostname (HTTP-01 answered on port 80 of the addresses
served, or --acme-http; renewed with a third of its lifetime left; --acme-ca trusts a private
CA's directory), else a self-signed one kept in DIR/tls (its SHA-256 fingerprint is in the
banner). --hostname (or --public-name, the edge's word for it) is the name devices use for DoT
and DoH (default: the first address served).

--config FILE (default DIR/gatehouse.yaml when it exists) holds the same settings as YAML:
listen, hostname (or publicName), dns, dot, doh, proxy, api, metrics, tls: {certFile, keyFile},
acme: {directory, email, http, ca}; a flag wins.

--trust-anchor FILE sets the DNSSEC trust anchors (DS or DNSKEY lines, replacing the built-in
root keys) in control's resolver settings. The first run asks the machine's nameservers whether
they pass DNSSEC records and, when they strip them, seeds the resolver with validation off and
says so. --tls-inspection turns TLS inspection on for the starter location: the proxy decrypts
HTTPS so HTTP policies see paths; devices must trust the root CA served at
/api/v1/tls/ca.pem (docs/tls-inspection.md). --origin-ca FILE (repeatable) also trusts that CA
when verifying origins of inspected connections. Ctrl-C stops everything cleanly.`;

const DNS: ListenerSpec = { what: "DNS server", flag: "--dns", udp: true };
const DOT: ListenerSpec = { what: "DNS-over-TLS server", flag: "--dot" };
const DOH: ListenerSpec = { what: "DNS-over-HTTPS server", flag: "--doh" };
const PROXY: ListenerSpec = { what: "HTTP proxy", flag: "--proxy" };
const API: ListenerSpec = { what: "dashboard and API", flag: "--api" };
const METRICS: ListenerSpec = { what: "edge metrics", flag: "--metrics" };

/** The settings `up` takes from flags and from its config file. */
interface UpSettings {
  listen?: string | undefined;
  hostname?: string | undefined;
  dns?: string | undefined;
  dot?: string | undefined;
  doh?: string | undefined;
  proxy?: string | undefined;
  api?: string | undefined;
  metrics?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  acmeDirectory?: string | undefined;
  acmeEmail?: string | undefined;
  acmeHttp?: string | undefined;
  acmeCa?: string | undefined;
}

interface Listeners {
  dns: string[];
  dot: string[];
  doh: string[];
  proxy: string[];
  /** Plain HTTP on loopback: the edge, the CLI and this machine's browser use it. */
  api: string;
  /** HTTPS on the other addresses served. */
  apiHttps: string[];
  metrics: string;
  notes: string[];
}

/**
 * The listen addresses: each flag given is checked (a clear error when it cannot bind), each
 * default that is taken falls back to a free port, the same on every host, with a note saying so.
 */
async function chooseListeners(values: UpSettings, hosts: readonly string[]): Promise<Listeners> {
  const local = ["127.0.0.1"];
  const apiHosts = [...local, ...hosts.filter((h) => h !== "127.0.0.1")];
  const wanted: [ListenerSpec, string | undefined, number[], readonly string[]][] = [
    [API, values.api, [8787], apiHosts],
    [DNS, values.dns, [53, 10053], hosts],
    [DOT, values.dot, [853, 8853], hosts],
    [DOH, values.doh, [443, 8443], hosts],
    [PROXY, values.proxy, [3128], hosts],
    [METRICS, values.metrics, [9153], local],
  ];
  const avoid = new Set<number>();
  for (const [spec, chosen] of wanted)
    if (chosen !== undefined) avoid.add(splitHostPort(await checkChosen(spec, chosen)).port);
  const notes: string[] = [];
  const out: string[][] = [];
  for (const [spec, chosen, ports, on] of wanted) {
    if (chosen !== undefined) {
      out.push([chosen]);
      continue;
    }
    const picked = await pickDefault(spec, on, ports, avoid);
    if (picked.note) notes.push(picked.note);
    out.push(picked.addresses);
  }
  const [api, dns, dot, doh, proxy, metrics] = out as [
    string[],
    string[],
    string[],
    string[],
    string[],
    string[],
  ];
  // The dashboard's HTTPS listeners: the API's port on every other address served.
  // pickDefault and the chosen flags give at least one address each.
  const apiFirst = api[0];
  const metricsFirst = metrics[0];
  if (apiFirst === undefined || metricsFirst === undefined)
    throw new Error("internal: no address chosen for the API or the metrics");
  const apiPort = splitHostPort(apiFirst).port;
  const apiHttps =
    values.api === undefined
      ? api.slice(1)
      : apiHosts.slice(1).map((h) => joinHostPort(h, apiPort));
  for (const a of values.api === undefined ? [] : apiHttps) await checkChosen(API, a);
  return { api: apiFirst, apiHttps, dns, dot, doh, proxy, metrics: metricsFirst, notes };
}

const SETTING_KEYS = [
  "listen",
  "hostname",
  "dns",
  "dot",
  "doh",
  "proxy",
  "api",
  "metrics",
] as const;

/**
 * The ACME client (acme-client, axios and their dependencies: 30 modules, ~0.6 MB of source) loads
 * only when --acme-directory is given.
 */
function loadAcme(): Promise<typeof import("./acme.ts")> {
  return import("./acme.ts");
}

/** `up`'s YAML config file: the flags' settings, `tls: {certFile, keyFile}` for the two files. */
async function loadUpConfig(path: string): Promise<UpSettings> {
  // yaml loads with the file (a start without --config never reads one).
  const { parse: parseYaml } = await import("yaml");
  const doc: unknown = parseYaml(await readFile(path, "utf8"));
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new Error(`${path}: expected a mapping of settings`);
  const out: UpSettings = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (k === "tls") {
      const t = v as { certFile?: unknown; keyFile?: unknown } | null;
      if (
        !t ||
        typeof t.certFile !== "string" ||
        typeof t.keyFile !== "string" ||
        Object.keys(t).length !== 2
      )
        throw new Error(`${path}: tls must be {certFile: FILE, keyFile: FILE}`);
      out.tlsCert = resolve(dirname(path), t.certFile);
      out.tlsKey = resolve(dirname(path), t.keyFile);
      continue;
    }
    if (k === "acme") {
      const x = (v ?? {}) as Record<string, unknown>;
      const keys = {
        directory: "acmeDirectory",
        email: "acmeEmail",
        http: "acmeHttp",
        ca: "acmeCa",
      };
      for (const [ak, av] of Object.entries(x)) {
        const to = keys[ak as keyof typeof keys];
        if (!to || typeof av !== "string")
          throw new Error(`${path}: acme takes directory, email, http and ca, as strings`);
        out[to as "acmeDirectory"] = to === "acmeCa" ? resolve(dirname(path), av) : av;
      }
      if (!out.acmeDirectory) throw new Error(`${path}: acme needs directory (the CA's URL)`);
      continue;
    }
    if (k === "publicName") {
      // The edge's name for it (`edge.publicName`): the same setting as hostname.
      if (typeof v !== "string") throw new Error(`${path}: publicName must be a string`);
      const named = (doc as Record<string, unknown>)["hostname"];
      if (named !== undefined && named !== v)
        throw new Error(`${path}: hostname and publicName name the same thing: give one`);
      out.hostname = v;
      continue;
    }
    if (k === "listen" && Array.isArray(v) && v.every((x) => typeof x === "string")) {
      out.listen = v.join(",");
      continue;
    }
    if (!(SETTING_KEYS as readonly string[]).includes(k))
      throw new Error(
        `${path}: unknown setting ${JSON.stringify(k)} (known: ${[...SETTING_KEYS, "publicName", "tls", "acme"].join(", ")})`,
      );
    if (typeof v !== "string") throw new Error(`${path}: ${k} must be a string`);
    out[k as (typeof SETTING_KEYS)[number]] = v;
  }
  return out;
}

/** Nameservers from resolv.conf (the machine's own resolver becomes the upstream). */
async function systemNameservers(path = "/etc/resolv.conf"): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const ip = /^\s*nameserver\s+([0-9a-fA-F:.]+)(?:%\S+)?\s*$/.exec(line)?.[1];
    if (ip !== undefined) out.push(ip);
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
 * The starter's DNS cache (answers and packets together; an edge's default is 32 MiB): `up` is
 * for a small machine, and unbound's defaults are 4 MB of messages and 4 MB of records. Under
 * 1,000 new names a second V8's heap holds 80 MB instead of 103 (docs/benchmarks.md,
 * "gatehouse up"); the dashboard's Resolver page raises it.
 */
const STARTER_CACHE_BYTES = 8 * 1024 * 1024;

/**
 * The starter configuration a first run puts into control: one location for loopback and the
 * local networks, the machine's nameservers as upstreams, and an example blocklist with a policy
 * that shows how blocking looks.
 */
async function seedStarter(
  api: ControlClient,
  upstreams: readonly string[],
  dnssecValidate = true,
  localNetworks: readonly string[] = lanNetworks(),
): Promise<void> {
  await api.call("PUT", "/resolver", {
    upstreams: upstreams.map((ip) => ({ address: upstreamOf(ip) })),
    strategy: "failover",
    cache: { maxBytes: STARTER_CACHE_BYTES, maxEntries: 100_000, serveStale: true, prefetch: true },
    ...(dnssecValidate ? {} : { dnssec: { validate: false } }),
  });
  await api.call("POST", "/locations", {
    name: STARTER_LOCATION,
    networks: starterNetworks(localNetworks),
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
  await ensureBuiltinDoNotInspect(api);
  await api.call("POST", "/config/publish", {});
}

/**
 * The built-in do-not-inspect list (certificate-pinned apps, OS and browser updates) and its
 * do_not_inspect HTTP policy, unless a list of that name exists already. Called on the first run
 * and when --tls-inspection turns inspection on for the starter location.
 */
export async function ensureBuiltinDoNotInspect(api: ControlClient): Promise<boolean> {
  let cursor: string | undefined;
  do {
    const page: { items: { name: string }[]; nextCursor?: string } = await api.call(
      "GET",
      `/lists?limit=500&type=domain${cursor === undefined ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    if (page.items.some((l) => l.name === BUILTIN_DO_NOT_INSPECT_LIST)) return false;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  await api.call("POST", "/lists", BUILTIN_DO_NOT_INSPECT.list);
  await api.call("POST", "/policies", BUILTIN_DO_NOT_INSPECT.policy);
  return true;
}

const STARTER_LOCATION = "This machine and local networks";

/** `--tls-inspection`: the starter location inspects HTTPS from now on (publishes). */
export async function inspectStarterLocation(api: ControlClient): Promise<void> {
  const page = await api.call<{ items: { id: string; name: string; tlsInspection?: boolean }[] }>(
    "GET",
    "/locations?limit=500",
  );
  const starter = page.items.find((l) => l.name === STARTER_LOCATION);
  if (!starter)
    throw new Error(
      `--tls-inspection: no location named "${STARTER_LOCATION}" (turn inspection on per location in the dashboard)`,
    );
  if (starter.tlsInspection === true) return;
  // An install seeded before the built-in list existed gets it now, before anything is decrypted.
  await ensureBuiltinDoNotInspect(api);
  await api.call("PATCH", `/locations/${starter.id}`, { tlsInspection: true });
  await api.call("POST", "/config/publish", {});
}

const PRIVATE_NETWORKS = [
  "127.0.0.0/8",
  "::1/128",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "fc00::/7",
];

/** Loopback, the private ranges, and the networks of this machine's own interfaces. */
export function starterNetworks(localNetworks: readonly string[]): string[] {
  const known = new BlockList();
  for (const n of PRIVATE_NETWORKS) {
    const [a, bits] = n.split("/") as [string, string];
    known.addSubnet(a, Number(bits), isIP(a) === 6 ? "ipv6" : "ipv4");
  }
  const extra = localNetworks.filter((n) => {
    const [a = ""] = n.split("/");
    return !known.check(a, isIP(a) === 6 ? "ipv6" : "ipv4");
  });
  return [...PRIVATE_NETWORKS, ...extra];
}

export async function upCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      "data-dir": { type: "string" },
      config: { type: "string" },
      listen: { type: "string" },
      hostname: { type: "string" },
      "public-name": { type: "string" },
      dns: { type: "string" },
      dot: { type: "string" },
      doh: { type: "string" },
      proxy: { type: "string" },
      api: { type: "string" },
      metrics: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "acme-directory": { type: "string" },
      "acme-email": { type: "string" },
      "acme-http": { type: "string" },
      "acme-ca": { type: "string" },
      "trust-anchor": { type: "string" },
      "tls-inspection": { type: "boolean" },
      "origin-ca": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const dataDir = resolve(values["data-dir"] ?? "gatehouse-data");
  const configPath = values.config ?? join(dataDir, "gatehouse.yaml");
  const file =
    values.config !== undefined || existsSync(configPath) ? await loadUpConfig(configPath) : {};
  if (
    values.hostname !== undefined &&
    values["public-name"] !== undefined &&
    values.hostname !== values["public-name"]
  )
    throw new Error("--hostname and --public-name name the same thing: give one");
  const flags: UpSettings = {
    listen: values.listen,
    hostname: values.hostname ?? values["public-name"],
    dns: values.dns,
    dot: values.dot,
    doh: values.doh,
    proxy: values.proxy,
    api: values.api,
    metrics: values.metrics,
    tlsCert: values["tls-cert"],
    tlsKey: values["tls-key"],
    acmeDirectory: values["acme-directory"],
    acmeEmail: values["acme-email"],
    acmeHttp: values["acme-http"],
    acmeCa: values["acme-ca"],
  };
  const settings: UpSettings = { ...file };
  for (const [k, v] of Object.entries(flags))
    if (v !== undefined) settings[k as keyof UpSettings] = v;
  if ((settings.tlsCert === undefined) !== (settings.tlsKey === undefined))
    throw new Error("--tls-cert and --tls-key go together");
  const { mode, hosts } = listenHosts(settings.listen ?? "loopback");
  // Every port is settled before anything starts: a chosen port that is taken stops here.
  const listen = await chooseListeners(settings, hosts);
  const anchors =
    values["trust-anchor"] !== undefined
      ? await readTrustAnchorFile(values["trust-anchor"])
      : undefined;
  const notes = [...listen.notes];
  await trustOriginCaFiles(values["origin-ca"]);
  await mkdir(dataDir, { recursive: true });
  // Operational logs are JSON lines on stderr; the banner below stays plain text for people.
  const logger = createOpLogger({ write: io.err, component: "cli" });
  const served = [
    ...new Set([
      ...hosts,
      ...[...listen.dns, ...listen.dot, ...listen.doh].map((a) => splitHostPort(a).host),
    ]),
  ];
  const deviceHost = settings.hostname ?? served.find((h) => !isLoopbackHost(h)) ?? served[0];
  if (deviceHost === undefined) throw new Error("--listen gave no address to serve on");
  const acmeOpts = acmeSettings(settings, hosts, dataDir, (l) => logger.info(l));
  let certificate =
    settings.tlsCert !== undefined && settings.tlsKey !== undefined
      ? await certificateFromFiles(settings.tlsCert, settings.tlsKey)
      : acmeOpts
        ? await (await loadAcme())
            .acmeCertificate(acmeOpts)
            .then((c) => certificateFromFiles(c.certFile, c.keyFile, "acme"))
        : await selfSignedCertificate({
            dir: join(dataDir, "tls"),
            names: [
              ...(settings.hostname ? [settings.hostname, `*.${settings.hostname}`] : []),
              "localhost",
            ],
            ips: [...new Set(["127.0.0.1", "::1", ...served])],
            log: (l) => logger.info(l),
          });
  const envToken = process.env["GATEHOUSE_ADMIN_TOKEN"];
  // A fresh data directory is a first run: seed it. Re-runs keep whatever the user changed.
  const firstRun = !existsSync(join(dataDir, "control"));
  const analytics = await openAnalytics(
    join(dataDir, "control"),
    lineSink(withComponent(logger, "analytics")),
    SMALL_MACHINE_DUCKDB,
  );
  // Filled in once the edge's listeners are open; until then the Connect route answers 409.
  let serving: ServingEndpoints | undefined;
  let control: Awaited<ReturnType<typeof startControl>>;
  try {
    control = await startControl({
      dataDir: join(dataDir, "control", "pglite"),
      // The key that encrypts the TLS-inspection root CA's key in the database.
      caKekFile: join(dataDir, "control", "ca-kek"),
      analytics: analytics.store,
      listen: listen.api,
      serving: () => serving,
      ...(listen.apiHttps.length
        ? { https: { listen: listen.apiHttps, cert: certificate.cert, key: certificate.key } }
        : {}),
      ...(envToken ? { adminToken: envToken } : {}),
      ...(process.env["GATEHOUSE_ADMIN_PASSWORD"]
        ? { adminPassword: process.env["GATEHOUSE_ADMIN_PASSWORD"] }
        : {}),
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
    if (values["tls-inspection"]) {
      if (!adminToken)
        throw new Error("--tls-inspection needs control's admin token: set GATEHOUSE_ADMIN_TOKEN");
      await inspectStarterLocation(new ControlClient(control.address, adminToken));
      notes.push(
        `TLS inspection is on for "${STARTER_LOCATION}": devices must trust the root CA at ${control.address}/api/v1/tls/ca.pem (docs/tls-inspection.md).`,
      );
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
        dns: { udp: listen.dns, tcp: listen.dns, dot: listen.dot, doh: listen.doh },
        proxy: { http: listen.proxy },
        metrics: listen.metrics,
        tls: { certFile: certificate.certFile, keyFile: certificate.keyFile },
        // Reported to control with the listeners (the Connect page of every edge).
        ...(settings.hostname ? { publicName: settings.hostname } : {}),
      },
      log: lineSink(withComponent(logger, "edge")),
      logger,
      name: "local",
      ...(joinToken ? { joinToken } : {}),
    });
    closers.push(() => synced.close());
    const edge = synced.edge;
    // A first run: the banner says who may use it once the edge has its first config.
    for (let i = 0; i < 200 && edge.snapshot.bundle.version === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    const a = edge.addresses;
    const describeServing = () =>
      servingEndpoints({
        scope: served.every(isLoopbackHost) ? "loopback" : "lan",
        host: deviceHost,
        addresses: a,
        dashboardUrl:
          control.httpsAddresses.find((u) => !isLoopbackHost(hostOfUrl(u))) ?? control.address,
        certificate,
      });
    serving = describeServing();
    if (acmeOpts)
      closers.push(
        stopAfter(
          (await loadAcme()).renewLoop(acmeOpts, (c) => {
            certificateFromFiles(c.certFile, c.keyFile, "acme").then(
              (renewed) => {
                certificate = renewed;
                edge.setCertificate(renewed.cert, renewed.key);
                control.setCertificate(renewed.cert, renewed.key);
                serving = describeServing();
                logger.info(`ACME: renewed certificate in use, SHA-256 ${renewed.summary.sha256}`);
              },
              (e: unknown) =>
                logger.error(`ACME: the renewed certificate is unusable: ${(e as Error).message}`),
            );
          }),
        ),
      );

    const dnsAddr = a.dns.udp[0];
    const proxyAddr = a.proxy.http[0];
    const bound = [
      ...a.dns.udp,
      ...a.dns.tcp,
      ...a.dns.dot,
      ...a.dns.doh,
      ...a.proxy.http,
      control.address,
      ...control.httpsAddresses,
    ];
    const c = certificate.summary;
    const lines = [
      "",
      ...listenScope(bound),
      ...describeEdge(edge),
      `  dashboard       ${control.address}/   (sign in as admin with its password, or with the admin token)`,
      ...control.httpsAddresses.map((u) => `  dashboard       ${u}/   (HTTPS)`),
      `  control API     ${control.address}/api/v1   (docs: ${control.address}/api/v1/docs)`,
      `  certificate     ${certificate.source === "self-signed" ? "self-signed" : certificate.source === "acme" ? "from the ACME CA" : `from ${certificate.certFile}`}, SHA-256 ${c.sha256}`,
      `                  for ${c.names.join(", ")}; until ${c.notAfter.slice(0, 10)}`,
      `  data            ${dataDir}`,
      "",
      ...whoMayUse(edge, mode),
      ...(notes.length ? ["", ...notes] : []),
    ];
    if (control.adminToken)
      lines.push("", `Admin token (shown once, keep it): ${control.adminToken}`);
    if (control.adminPassword)
      lines.push(
        `Dashboard sign-in (shown once, keep it): user admin, password ${control.adminPassword}`,
        "  (change it in the dashboard, or: GATEHOUSE_TOKEN=… gatehouse admin password)",
      );
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
      `  GATEHOUSE_TOKEN=$TOKEN gatehouse connect${control.address === DEFAULT_CONTROL_URL ? "" : ` --control ${control.address}`}   # how to set up a phone, a laptop, a router`,
      "",
      "Ctrl-C stops everything.",
    );
    for (const l of lines) io.err(l);
    // Node holds every loaded module's compile-cache entry in the C heap until it writes the
    // cache at exit (~1,850 modules here); written now, they are freed (C heap in use −10 MB,
    // docs/benchmarks.md, "gatehouse up: PGlite's shared memory, the compile cache"). Modules
    // loaded later keep theirs until exit. A no-op without NODE_COMPILE_CACHE.
    flushCompileCache();
    // What starting freed (migrations, the first bundle, the seeding's requests): one
    // collection and glibc's freed pages back now, not when load first comes (idle RSS −50 MB).
    void releaseMemory(true);
  } catch (e) {
    await closeAll();
    throw e;
  }
  await onShutdown(closeAll, lineSink(logger));
  return 0;
}

/** The ACME settings, when a CA is configured (it needs the name to certify). */
function acmeSettings(
  s: UpSettings,
  hosts: readonly string[],
  dataDir: string,
  log: (line: string) => void,
): AcmeOptions | undefined {
  if (s.acmeDirectory === undefined) return undefined;
  if (s.tlsCert !== undefined)
    throw new Error("--acme-directory and --tls-cert exclude each other: choose one source");
  if (!s.hostname)
    throw new Error("--acme-directory needs --hostname NAME: the name the CA certifies");
  return {
    directoryUrl: s.acmeDirectory,
    names: [s.hostname],
    email: s.acmeEmail,
    httpListen: s.acmeHttp
      ? s.acmeHttp.split(",").map((x) => x.trim())
      : hosts.map((h) => joinHostPort(h, 80)),
    dir: join(dataDir, "tls", "acme"),
    caFile: s.acmeCa,
    log,
  };
}

function stopAfter(stop: () => void): () => Promise<void> {
  return async () => stop();
}

function hostOfUrl(url: string): string {
  return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
}

/** What the Connect page is told: the listeners as a device on the network reaches them. */
function servingEndpoints(x: {
  scope: "loopback" | "lan";
  host: string;
  addresses: EdgeAddresses;
  dashboardUrl: string;
  certificate: ServingCertificate;
}): ServingEndpoints {
  const a = x.addresses;
  // Devices are told the LAN addresses first; loopback only when nothing else is served.
  const lanFirst = (list: readonly string[]) => {
    const lan = list.filter((l) => !isLoopbackHost(splitHostPort(l).host));
    return lan.length ? lan : [...list];
  };
  const portOf = (list: readonly string[]) => {
    const first = lanFirst(list)[0];
    return first === undefined ? undefined : splitHostPort(first).port;
  };
  const dohPort = portOf(a.dns.doh);
  const dotPort = portOf(a.dns.dot);
  const proxyPort = portOf(a.proxy.http);
  const c = x.certificate;
  return {
    scope: x.scope,
    host: x.host,
    dns: lanFirst(a.dns.udp),
    ...(dohPort !== undefined ? { dohPort } : {}),
    ...(dotPort !== undefined ? { dotPort } : {}),
    ...(proxyPort !== undefined ? { proxyPort } : {}),
    dashboardUrl: x.dashboardUrl,
    certificate: {
      source: c.source,
      pem: c.cert,
      sha256: c.summary.sha256,
      subject: c.summary.subject,
      notAfter: c.summary.notAfter,
      names: c.summary.names,
    },
  };
}

/** Who may use what: the networks of the locations the edge serves now. */
function whoMayUse(edge: Edge, mode: ListenMode): string[] {
  const locs = edge.snapshot.bundle.locations;
  const nets = locs.flatMap((l) => l.networks);
  const open = edge.snapshot.bundle.allowUnknownClients === true;
  const lines = [
    open
      ? "Who may use DNS and the proxy: ANY client (allowUnknownClients is on: an open resolver if reachable)."
      : nets.length
        ? `Who may use DNS and the proxy: clients in ${nets.join(", ")}`
        : "Who may use DNS and the proxy: no one yet (no location has networks; the config arrives from control).",
  ];
  if (!open)
    lines.push(
      "  (any other source gets REFUSED over DNS and 403 from the proxy; a location's DoH URL works from anywhere)",
    );
  lines.push(
    `The dashboard and the API need a token${mode === "loopback" ? "" : "; on the local network they are served over HTTPS"}.`,
  );
  return lines;
}

/** Control's request logger under `up`: warn unless GATEHOUSE_LOG_LEVEL asks for more. */
function quietControlLogger(logger: ReturnType<typeof createOpLogger>) {
  const l = withComponent(logger, "control");
  if (process.env["GATEHOUSE_LOG_LEVEL"] === undefined) l.level = "warn";
  return l;
}
