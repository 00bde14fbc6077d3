// `gatehouse control`: the control plane's API server. PGlite in the data directory unless a
// PostgreSQL URL is given; migrations apply on start (`gatehouse control migrate` applies them
// and exits).

import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseVersion } from "@gatehouse/contract";
import { openStore, parseTrustedProxies, startControl } from "@gatehouse/control";
import { createOpLogger, lineSink, withComponent } from "@gatehouse/edge";
import { openAnalytics } from "./analytics-store.ts";
import type { Io } from "./rules.ts";
import { onShutdown } from "./signals.ts";

const USAGE = `usage: gatehouse control [migrate] [--data-dir DIR | --database-url URL] [--listen ADDR:PORT]

  --data-dir DIR       data directory: PGlite and the query-log store (default ./gatehouse-data/control)
  --database-url URL   PostgreSQL instead of PGlite (also DATABASE_URL)
  --listen ADDR:PORT   API address (default 127.0.0.1:8787)
  --metrics ADDR:PORT  also serve /metrics without auth here (for Prometheus)
  --trusted-proxies LIST  reverse proxies (IPs or CIDRs, comma-separated) whose
                       X-Forwarded-For names the client (also GATEHOUSE_TRUSTED_PROXIES)
  --minimum-edge-version V  refuse edges whose software is older than V (426
                       GH_ERR_EDGE_TOO_OLD; also GATEHOUSE_MINIMUM_EDGE_VERSION)
Query logs from edges go to DuckDB in the data directory, or ClickHouse at CLICKHOUSE_URL.
The first start prints an admin token once (or takes GATEHOUSE_ADMIN_TOKEN) and the dashboard
user admin's password once (or takes GATEHOUSE_ADMIN_PASSWORD). Dashboard sessions end after
GATEHOUSE_SESSION_IDLE without use (default 12h) and GATEHOUSE_SESSION_MAX after sign-in (7d).`;

export async function controlCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      "data-dir": { type: "string" },
      "database-url": { type: "string" },
      listen: { type: "string" },
      metrics: { type: "string" },
      "trusted-proxies": { type: "string" },
      "minimum-edge-version": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const databaseUrl = values["database-url"] ?? process.env["DATABASE_URL"];
  const dataDir = resolve(values["data-dir"] ?? "gatehouse-data/control");
  // The data directory holds PGlite's files (pglite/) and the query-log store (analytics.duckdb).
  const pgliteDir = join(dataDir, "pglite");
  const storage = databaseUrl ? { databaseUrl } : { dataDir: pgliteDir };
  const [sub] = positionals;
  if (sub === "migrate") {
    const store = await openStore(storage);
    io.out(
      store.applied.length === 0
        ? "migrations: up to date"
        : `migrations applied: ${store.applied.join(", ")}`,
    );
    await store.close();
    return 0;
  }
  if (sub !== undefined) {
    io.err(`unknown control command ${JSON.stringify(sub)}\n${USAGE}`);
    return 2;
  }
  const adminToken = process.env["GATEHOUSE_ADMIN_TOKEN"];
  const adminPassword = process.env["GATEHOUSE_ADMIN_PASSWORD"];
  const trustedProxies = parseTrustedProxies(
    values["trusted-proxies"] ?? process.env["GATEHOUSE_TRUSTED_PROXIES"] ?? "",
  );
  const minimumEdgeVersion =
    values["minimum-edge-version"] ?? process.env["GATEHOUSE_MINIMUM_EDGE_VERSION"];
  if (minimumEdgeVersion !== undefined && !parseVersion(minimumEdgeVersion)) {
    io.err(
      `gatehouse control: --minimum-edge-version must be a version like 1.4.0, got ${JSON.stringify(minimumEdgeVersion)}`,
    );
    return 2;
  }
  // Operational logs, the API's request logs included, are JSON lines on stderr; the banner
  // below stays plain text for people.
  const logger = createOpLogger({ write: io.err, component: "control" });
  const analytics = await openAnalytics(dataDir, lineSink(withComponent(logger, "analytics")));
  let control: Awaited<ReturnType<typeof startControl>>;
  try {
    control = await startControl({
      ...storage,
      // Encrypts the TLS-inspection root CA's key in the database (GATEHOUSE_CA_KEK overrides).
      caKekFile: join(dataDir, "ca-kek"),
      analytics: analytics.store,
      ...(values.listen ? { listen: values.listen } : {}),
      ...(values.metrics ? { metricsListen: values.metrics } : {}),
      ...(adminToken ? { adminToken } : {}),
      ...(adminPassword ? { adminPassword } : {}),
      ...(trustedProxies.length ? { trustedProxies } : {}),
      ...(minimumEdgeVersion ? { minimumEdgeVersion } : {}),
      loggerInstance: withComponent(logger, "control"),
    });
  } catch (e) {
    await analytics.close();
    throw e;
  }
  io.err(
    `gatehouse control: API on ${control.address}/api/v1 (docs at ${control.address}/api/v1/docs)`,
  );
  io.err(
    `  dashboard: ${control.address}/ (sign in with a username and password, or an API token)`,
  );
  io.err(
    `  storage: ${databaseUrl ? "PostgreSQL" : `PGlite in ${pgliteDir}`}; query logs: ${analytics.where}`,
  );
  if (control.metricsAddress) io.err(`  metrics: http://${control.metricsAddress}/metrics`);
  if (control.adminToken) io.err(`  admin token (shown once, keep it): ${control.adminToken}`);
  if (control.adminPassword)
    io.err(`  dashboard user admin, password (shown once, keep it): ${control.adminPassword}`);
  await onShutdown(async () => {
    await control.close();
    await analytics.close();
  }, lineSink(logger));
  return 0;
}
