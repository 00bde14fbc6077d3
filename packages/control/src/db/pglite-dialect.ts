// A Kysely dialect for PGlite 0.5 (Postgres compiled to WASM, in-process). PGlite is one
// backend with one session, so the driver hands out a single connection and serialises users
// with a FIFO lock kept per PGlite instance: a Kysely transaction holds the connection from
// BEGIN to COMMIT, and no other statement can land inside it, even from another Kysely sharing
// the instance (tests share one PGlite and give each group its own schema, so the lock holder
// also sets its search_path). SQL generation and the migration lock are Postgres', reused
// from Kysely.

import type { PGlite } from "@electric-sql/pglite";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresQueryCompiler,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import { CurrentSchemaIntrospector } from "./schema-introspector.ts";

class PgliteConnection implements DatabaseConnection {
  readonly #pg: PGlite;
  constructor(pg: PGlite) {
    this.#pg = pg;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const res = await this.#pg.query<R>(query.sql, query.parameters as unknown[]);
    // Raw `sql` statements (kind RawNode) may change rows too, so the count always travels.
    return res.affectedRows !== undefined
      ? { rows: res.rows, numAffectedRows: BigInt(res.affectedRows) }
      : { rows: res.rows };
  }

  async *streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    // PGlite has no cursors over its wire; one result is the whole stream.
    yield await this.executeQuery<R>(query);
  }
}

/** A FIFO mutex: each waiter gets the connection in arrival order. */
class Lock {
  #tail: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;
  async acquire(): Promise<void> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => {
      release = r;
    });
    await previous;
    this.#release = release;
  }
  release(): void {
    const r = this.#release;
    this.#release = undefined;
    r?.();
  }
}

interface SessionState {
  readonly lock: Lock;
  searchPath: string | undefined;
}
const sessions = new WeakMap<PGlite, SessionState>();

/** Schema names are configuration, but still checked: they are spliced into SET search_path. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

class PgliteDriver implements Driver {
  readonly #pg: PGlite;
  readonly #conn: PgliteConnection;
  readonly #session: SessionState;
  readonly #schema: string | undefined;
  readonly #onClose: (() => Promise<void>) | undefined;
  constructor(pg: PGlite, schema: string | undefined, onClose?: () => Promise<void>) {
    if (schema !== undefined && !SCHEMA_NAME.test(schema))
      throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
    this.#pg = pg;
    this.#conn = new PgliteConnection(pg);
    let session = sessions.get(pg);
    if (!session) {
      session = { lock: new Lock(), searchPath: undefined };
      sessions.set(pg, session);
    }
    this.#session = session;
    this.#schema = schema;
    this.#onClose = onClose;
  }
  async init(): Promise<void> {
    await this.#pg.waitReady;
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#session.lock.acquire();
    const want = this.#schema ?? "public";
    if (this.#session.searchPath !== want) {
      try {
        await this.#pg.exec(`create schema if not exists ${want}; set search_path to ${want}`);
      } catch (err) {
        this.#session.lock.release();
        throw err;
      }
      this.#session.searchPath = want;
    }
    return this.#conn;
  }
  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    // Isolation level text comes from Kysely's validated literal union, never from a request.
    const level = settings.isolationLevel;
    await this.#pg.query(level ? `begin isolation level ${level}` : "begin");
    void conn;
  }
  async commitTransaction(): Promise<void> {
    await this.#pg.query("commit");
  }
  async rollbackTransaction(): Promise<void> {
    await this.#pg.query("rollback");
  }
  async releaseConnection(): Promise<void> {
    this.#session.lock.release();
  }
  async destroy(): Promise<void> {
    await this.#onClose?.();
  }
}

interface PgliteDialectOptions {
  readonly pglite: PGlite;
  /** Work inside this schema (created when missing); default `public`. */
  readonly schema?: string;
  /** Runs when Kysely is destroyed, e.g. to close a PGlite instance the caller owns. */
  readonly onClose?: () => Promise<void>;
}

export class PgliteDialect implements Dialect {
  readonly #opts: PgliteDialectOptions;
  constructor(opts: PgliteDialectOptions) {
    this.#opts = opts;
  }
  createDriver(): Driver {
    return new PgliteDriver(this.#opts.pglite, this.#opts.schema, this.#opts.onClose);
  }
  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}
