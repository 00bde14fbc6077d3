// startControl: open the store (migrations apply on start), bootstrap, listen. Loopback unless
// told otherwise.

import type { AnalyticsStore } from "./analytics/types.ts";
import { buildApp } from "./app.ts";

export interface StartOptions {
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  /** "host:port" or "[v6]:port"; default 127.0.0.1:8787. Port 0 picks a free port. */
  readonly listen?: string;
  /** Use this admin token (GATEHOUSE_ADMIN_TOKEN) instead of generating one on first start. */
  readonly adminToken?: string;
  readonly logger?: boolean;
  readonly autoPublishDelayMs?: number;
  /** Mounts /api/v1/analytics/* and POST /api/v1/edge/logs over this store. */
  readonly analytics?: AnalyticsStore;
}

export interface StartedControl {
  /** Base URL, e.g. http://127.0.0.1:8787 */
  readonly address: string;
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
    ...(opts.analytics ? { analytics: opts.analytics } : {}),
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
  return {
    address,
    ...(adminToken ? { adminToken } : {}),
    close: () => app.close(),
  };
}
