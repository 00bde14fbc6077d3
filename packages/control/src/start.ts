// startControl: open the store (migrations apply on start), bootstrap, listen. Loopback unless
// told otherwise.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import type { AnalyticsStore } from "./analytics/types.ts";
import { buildApp } from "./app.ts";

/** How long control's close() lets requests in flight finish before cutting connections. */
const CLOSE_GRACE_MS = 2000;

export interface StartOptions {
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  /** "host:port" or "[v6]:port"; default 127.0.0.1:8787. Port 0 picks a free port. */
  readonly listen?: string;
  /** Use this admin token (GATEHOUSE_ADMIN_TOKEN) instead of generating one on first start. */
  readonly adminToken?: string;
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
}

export interface StartedControl {
  /** Base URL, e.g. http://127.0.0.1:8787 */
  readonly address: string;
  /** "host:port" of the unauthenticated metrics listener, when one was asked for. */
  readonly metricsAddress?: string;
  /** Set only on the first start when a token was generated: print it once. */
  readonly adminToken?: string;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new Error(`listen address must be HOST:PORT, got ${JSON.stringify(listen)}`);
  return { host: (m[1] ?? m[2])!, port };
}

export async function startControl(opts: StartOptions = {}): Promise<StartedControl> {
  const { host, port } = parseListen(opts.listen ?? "127.0.0.1:8787");
  const app = await buildApp({
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
    ...(opts.logger === false ? { logger: false } : {}),
    ...(opts.loggerInstance && opts.logger !== false
      ? { loggerInstance: opts.loggerInstance }
      : {}),
    ...(opts.analytics ? { analytics: opts.analytics } : {}),
    ...(opts.trustedProxies ? { trustedProxies: opts.trustedProxies } : {}),
    ...(opts.autoPublishDelayMs !== undefined
      ? { autoPublishDelayMs: opts.autoPublishDelayMs }
      : {}),
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
  const adminToken = app.gatehouse.adminToken;
  let metricsServer: Server | undefined;
  let metricsAddress: string | undefined;
  if (opts.metricsListen) {
    const m = parseListen(opts.metricsListen);
    const metrics = app.gatehouse.metrics;
    metricsServer = createServer((req, res) => {
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
        metricsServer!.once("error", reject);
        metricsServer!.listen(m.port, m.host, () => resolve());
      });
    } catch (err) {
      await app.close();
      throw err;
    }
    const ma = metricsServer.address() as AddressInfo;
    metricsAddress = `${ma.family === "IPv6" ? `[${ma.address}]` : ma.address}:${ma.port}`;
  }
  return {
    address,
    ...(adminToken ? { adminToken } : {}),
    ...(metricsAddress ? { metricsAddress } : {}),
    close: async () => {
      if (metricsServer) await new Promise<void>((r) => metricsServer!.close(() => r()));
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
