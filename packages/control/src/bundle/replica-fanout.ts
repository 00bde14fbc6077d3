// With several control replicas on one PostgreSQL, an edge long-polling replica B must wake
// when replica A publishes. Every publish sends NOTIFY in its transaction (delivered on commit);
// each replica LISTENs on one dedicated connection and feeds the in-process notifier, so
// waiting stays free of database polling. The channel carries the schema name, so installs
// (or test runs) sharing a database do not wake each other. A payload is "<account> <version>"
// for a publish, "<account> <version> <edge>" when that edge's pin changed.

import type { FastifyBaseLogger } from "fastify";
import type { Client } from "pg";

export function bundleChannel(schema: string | undefined): string {
  return `gatehouse_bundle_${schema ?? "public"}`;
}

export class ReplicaFanout {
  readonly #url: string;
  readonly #channel: string;
  readonly #onPublish: (accountId: string, version: number, edgeId?: string) => void;
  readonly #log: FastifyBaseLogger;
  #client: Client | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(
    url: string,
    schema: string | undefined,
    onPublish: (accountId: string, version: number, edgeId?: string) => void,
    log: FastifyBaseLogger,
  ) {
    this.#url = url;
    this.#channel = bundleChannel(schema);
    this.#onPublish = onPublish;
    this.#log = log;
  }

  async start(): Promise<void> {
    // node-postgres loads with the first PostgreSQL connection (a PGlite control never makes one).
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: this.#url });
    client.on("notification", (n) => {
      if (n.channel !== this.#channel || !n.payload) return;
      const [accountId, v, edgeId] = n.payload.split(" ");
      const version = Number(v);
      if (accountId && Number.isSafeInteger(version))
        this.#onPublish(accountId, version, edgeId || undefined);
    });
    const reconnect = () => {
      if (this.#closed || this.#client !== client) return;
      this.#client = undefined;
      this.#log.warn("bundle LISTEN connection lost; reconnecting in 1 s");
      this.#retry = setTimeout(() => {
        this.start().catch((err: unknown) => {
          this.#log.warn({ err }, "bundle LISTEN reconnect failed");
          reconnect();
        });
      }, 1000);
      this.#retry.unref();
    };
    client.on("error", reconnect);
    client.on("end", reconnect);
    await client.connect();
    // The channel name is built from a validated schema identifier (SCHEMA_NAME), quoted.
    await client.query(`listen "${this.#channel}"`);
    this.#client = client;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    const c = this.#client;
    this.#client = undefined;
    await c?.end().catch(() => {});
  }
}
