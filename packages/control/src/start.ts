// startControl: open the store (migrations apply on start), bootstrap, listen. Loopback unless
// told otherwise.

import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import type { AnalyticsStore } from "./analytics/types.ts";
import { buildApp } from "./app.ts";
import type { ServingEndpointsSource } from "./connect/connect-info.ts";

/** How long control's close() lets requests in flight finish before cutting connections. */
const CLOSE_GRACE_MS = 2000;

export interface StartOptions {
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  /** "host:port" or "[v6]:port"; default 127.0.0.1:8787. Port 0 picks a free port. */
  readonly listen?: string;
  /** Use this admin token (GATEHOUSE_ADMIN_TOKEN) instead of generating one on first start. */
  readonly adminToken?: string;
  /** GATEHOUSE_ADMIN_PASSWORD: the first dashboard user's password instead of a generated one. */
  readonly adminPassword?: string;
  readonly logger?: boolean;
  /** Log through this pino logger (see AppOptions.loggerInstance). */
  readonly loggerInstance?: FastifyBaseLogger;
  readonly autoPublishDelayMs?: number;
  /**
   * Also serve GET /metrics without authentication on this address (for Prometheus; keep it
   * on loopback or a private interface). On the API listener /metrics needs a system admin.
   */
  readonly metricsListen?: string;
  /** Mounts /api/v1/analytics/* and POST /api/v1/edge/logs over this store. */
  readonly analytics?: AnalyticsStore;
  /** Reverse proxies whose X-Forwarded-For is believed (AppOptions.trustedProxies). */
  readonly trustedProxies?: readonly string[];
  /** AppOptions.serving: where the listeners devices use are (GET /locations/{id}/connect). */
  readonly serving?: ServingEndpointsSource;
  /** AppOptions.minimumEdgeVersion: refuse edges older than this. */
  readonly minimumEdgeVersion?: string;
  /**
   * The same API and dashboard over HTTPS on more addresses ("host:port" each), e.g. the
   * machine's LAN addresses under `gatehouse up --listen lan`, with this certificate.
   */
  readonly https?: {
    readonly listen: readonly string[];
    readonly cert: string;
    readonly key: string;
  };
  /** The root CA key's key-encryption key file (AppOptions.caKekFile). */
  readonly caKekFile?: string;
  /**
   * Dashboard session limits; default from GATEHOUSE_SESSION_IDLE and GATEHOUSE_SESSION_MAX
   * (durations such as `30m`, `12h`, `7d`), else 12 h idle and 7 days in all.
   */
  readonly session?: { readonly idleMs?: number; readonly maxMs?: number };
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3600_000,
  d: 86_400_000,
};

/** A duration as `90s`, `30m`, `12h` or `7d` in milliseconds; throws with the value otherwise. */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d{1,6})\s*([smhd])\s*$/.exec(text);
  const n = m ? Number(m[1]) : 0;
  const unit = m?.[2] === undefined ? undefined : DURATION_UNITS[m[2]];
  if (unit === undefined || n <= 0)
    throw new Error(
      `${what} must be a duration such as 30m, 12h or 7d, got ${JSON.stringify(text)}`,
    );
  return n * unit;
}

/** Session limits from GATEHOUSE_SESSION_IDLE / GATEHOUSE_SESSION_MAX (absent: defaults). */
export function sessionLimitsFromEnv(env: Readonly<Record<string, string | undefined>>): {
  idleMs?: number;
  maxMs?: number;
} {
  const idle = env["GATEHOUSE_SESSION_IDLE"];
  const max = env["GATEHOUSE_SESSION_MAX"];
  return {
    ...(idle ? { idleMs: parseDuration(idle, "GATEHOUSE_SESSION_IDLE") } : {}),
    ...(max ? { maxMs: parseDuration(max, "GATEHOUSE_SESSION_MAX") } : {}),
  };
}

export interface StartedControl {
  /** Base URL, e.g. http://127.0.0.1:8787 */
  readonly address: string;
  /** "host:port" of the unauthenticated metrics listener, when one was asked for. */
  readonly metricsAddress?: string;
  /** Set only on the first start when a token was generated: print it once. */
  readonly adminToken?: string;
  /** Set only when the dashboard user "admin" was made with a generated password: print it once. */
  readonly adminPassword?: string;
  /** Base URLs of the HTTPS listeners (StartOptions.https), e.g. https://192.168.1.5:8787 */
  readonly httpsAddresses: readonly string[];
  /** Present a new certificate on the HTTPS listeners (a renewal); open connections keep theirs. */
  setCertificate(cert: string, key: string): void;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new Error(`listen address must be HOST:PORT, got ${JSON.stringify(listen)}`);
  // One of the two host groups takes part in a match.
  return { host: m[1] ?? m[2] ?? "", port };
}

export async function startControl(opts: StartOptions = {}): Promise<StartedControl> {
  const { host, port } = parseListen(opts.listen ?? "127.0.0.1:8787");
  const session = opts.session ?? sessionLimitsFromEnv(process.env);
  const app = await buildApp({
    auth: {
      ...(session.idleMs !== undefined ? { sessionIdleMs: session.idleMs } : {}),
      ...(session.maxMs !== undefined ? { sessionMaxMs: session.maxMs } : {}),
    },
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
    ...(opts.adminPassword ? { adminPassword: opts.adminPassword } : {}),
    ...(opts.logger === false ? { logger: false } : {}),
    ...(opts.loggerInstance && opts.logger !== false
      ? { loggerInstance: opts.loggerInstance }
      : {}),
    ...(opts.analytics ? { analytics: opts.analytics } : {}),
    ...(opts.trustedProxies ? { trustedProxies: opts.trustedProxies } : {}),
    ...(opts.caKekFile ? { caKekFile: opts.caKekFile } : {}),
    ...(opts.autoPublishDelayMs !== undefined
      ? { autoPublishDelayMs: opts.autoPublishDelayMs }
      : {}),
    ...(opts.serving ? { serving: opts.serving } : {}),
    ...(opts.minimumEdgeVersion ? { minimumEdgeVersion: opts.minimumEdgeVersion } : {}),
  });
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const a = app.server.address();
  const address =
    a && typeof a === "object"
      ? `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`
      : `http://${host}:${port}`;
  const { adminToken, adminPassword } = app.gatehouse;
  let secure: HttpsServer[];
  try {
    secure = await listenHttps(app.server, opts.https);
  } catch (err) {
    await app.close();
    throw err;
  }
  const httpsAddresses = secure.map((srv) => {
    const x = srv.address() as AddressInfo;
    return `https://${x.family === "IPv6" ? `[${x.address}]` : x.address}:${x.port}`;
  });
  let metricsServer: Server | undefined;
  let metricsAddress: string | undefined;
  if (opts.metricsListen) {
    const m = parseListen(opts.metricsListen);
    const metrics = app.gatehouse.metrics;
    const server = createServer((req, res) => {
      if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
        return;
      }
      metrics.render().then(
        ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
        () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n"),
      );
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(m.port, m.host, () => resolve());
      });
    } catch (err) {
      await closeHttps(secure);
      await app.close();
      throw err;
    }
    metricsServer = server;
    const ma = server.address() as AddressInfo;
    metricsAddress = `${ma.family === "IPv6" ? `[${ma.address}]` : ma.address}:${ma.port}`;
  }
  return {
    address,
    ...(adminToken ? { adminToken } : {}),
    ...(adminPassword ? { adminPassword } : {}),
    ...(metricsAddress ? { metricsAddress } : {}),
    httpsAddresses,
    setCertificate: (cert, key) => {
      for (const srv of secure) srv.setSecureContext({ cert, key });
    },
    close: async () => {
      await closeHttps(secure);
      const ms = metricsServer;
      if (ms) await new Promise<void>((r) => ms.close(() => r()));
      // Requests in flight get CLOSE_GRACE_MS to finish; then every connection is cut, so a
      // client that keeps one open (a kept-alive edge, a stuck upload) cannot hold shutdown.
      const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
    },
  };
}

/**
 * HTTPS listeners that hand every request to the API server's own handler (Fastify's), so the
 * routes, hooks and limits are the same as on the main listener.
 */
async function listenHttps(main: Server, https: StartOptions["https"]): Promise<HttpsServer[]> {
  const out: HttpsServer[] = [];
  if (!https) return out;
  try {
    for (const addr of https.listen) {
      const { host, port } = parseListen(addr);
      const srv = createHttpsServer(
        { cert: https.cert, key: https.key, keepAliveTimeout: main.keepAliveTimeout },
        (req, res) => main.emit("request", req, res),
      );
      srv.headersTimeout = main.headersTimeout;
      srv.requestTimeout = main.requestTimeout;
      await new Promise<void>((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(port, host, () => {
          srv.off("error", reject);
          resolve();
        });
      });
      out.push(srv);
    }
  } catch (err) {
    await closeHttps(out);
    throw err;
  }
  return out;
}

async function closeHttps(servers: readonly HttpsServer[]): Promise<void> {
  await Promise.all(
    servers.map((srv) => {
      const cut = setTimeout(() => srv.closeAllConnections(), CLOSE_GRACE_MS);
      return new Promise<void>((r) => srv.close(() => r())).finally(() => clearTimeout(cut));
    }),
  );
}
