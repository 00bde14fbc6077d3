// One kept-open DNS-over-TLS connection to an upstream, shared by its queries: RFC 7858 §3.4
// asks clients to reuse connections and pipeline queries rather than pay a TCP and TLS handshake
// per query. Answers may come back in any order (RFC 7766 §6.2.1.1) and are matched by ID and
// question, as on every transport (RFC 5452). A query whose ID is already in flight on the
// connection goes out on a connection of its own instead. The connection closes after
// IDLE_MS without queries and never keeps the process alive while idle; when the server closed
// it (its own idle timeout, RFC 7766 §6.2.3) queries that had not been answered on an
// already-used connection are sent once more on a new one.

import type { TLSSocket } from "node:tls";
import {
  caseError,
  caseOnlyMismatch,
  type ExpectedQuestion,
  matchesQuestion,
  settleOnce,
  type UpstreamTarget,
  upstreamError,
  upstreamSocketError,
} from "./transports.ts";

const IDLE_MS = 10_000;

interface Pending {
  readonly q: ExpectedQuestion;
  readonly framed: Buffer;
  readonly finish: (outcome: Error | Buffer) => void;
  /** Sent on a connection that had already answered: a close may just be the server's timeout. */
  reused: boolean;
  retried: boolean;
}

interface Connection {
  readonly sock: TLSSocket;
  answered: number;
  buf: Buffer;
}

export class DotSession {
  readonly #connect: () => TLSSocket;
  readonly #t: UpstreamTarget;
  readonly #pending = new Map<number, Pending>();
  #conn: Connection | undefined;
  #idle: ReturnType<typeof setTimeout> | undefined;

  constructor(t: UpstreamTarget, connect: () => TLSSocket) {
    this.#t = t;
    this.#connect = connect;
  }

  /** Connections made so far (tests). */
  connections = 0;

  /**
   * Send `query` on the shared connection. Returns undefined when its ID is in flight already
   * (the caller uses a connection of its own).
   */
  exchange(
    query: Uint8Array,
    q: ExpectedQuestion,
    signal?: AbortSignal,
  ): Promise<Buffer> | undefined {
    if (this.#pending.has(q.id)) return undefined;
    return new Promise((resolve, reject) => {
      const framed = Buffer.allocUnsafe(2 + query.length);
      framed.writeUInt16BE(query.length, 0);
      framed.set(query, 2);
      const id = q.id;
      const entry: Pending = {
        q,
        framed,
        finish: settleOnce(this.#t, signal, () => this.#forget(id, entry), resolve, reject),
        reused: false,
        retried: false,
      };
      this.#pending.set(id, entry);
      this.#send(entry);
    });
  }

  #send(entry: Pending): void {
    if (this.#idle) {
      clearTimeout(this.#idle);
      this.#idle = undefined;
    }
    const conn = this.#conn ?? this.#open();
    entry.reused = conn.answered > 0;
    conn.sock.ref();
    conn.sock.write(entry.framed);
  }

  #forget(id: number, entry: Pending): void {
    if (this.#pending.get(id) === entry) this.#pending.delete(id);
    if (this.#pending.size === 0 && this.#conn) {
      const sock = this.#conn.sock;
      sock.unref();
      this.#idle = setTimeout(() => sock.destroy(), IDLE_MS);
      this.#idle.unref();
    }
  }

  #open(): Connection {
    const sock = this.#connect();
    this.connections++;
    const conn: Connection = { sock, answered: 0, buf: Buffer.alloc(0) };
    this.#conn = conn;
    sock.on("data", (chunk: Buffer) => this.#read(conn, chunk));
    let failure: Error | undefined;
    sock.on("error", (e) => {
      failure = upstreamSocketError(this.#t, e);
    });
    sock.on("close", () => this.#closed(conn, failure));
    return conn;
  }

  #read(conn: Connection, chunk: Buffer): void {
    conn.buf = conn.buf.length === 0 ? chunk : Buffer.concat([conn.buf, chunk]);
    while (conn.buf.length >= 2) {
      const len = conn.buf.readUInt16BE(0);
      if (conn.buf.length < 2 + len) return;
      const msg = conn.buf.subarray(2, 2 + len);
      conn.buf = conn.buf.subarray(2 + len);
      if (msg.length < 2) continue;
      const entry = this.#pending.get(msg.readUInt16BE(0));
      if (!entry) continue;
      if (matchesQuestion(msg, entry.q)) {
        conn.answered++;
        entry.finish(Buffer.from(msg));
      } else if (caseOnlyMismatch(msg, entry.q)) entry.finish(caseError(this.#t));
    }
  }

  #closed(conn: Connection, failure: Error | undefined): void {
    if (this.#conn === conn) this.#conn = undefined;
    if (this.#idle) {
      clearTimeout(this.#idle);
      this.#idle = undefined;
    }
    const err =
      failure ??
      upstreamError("upstream_network", `${this.#t.address}: connection closed before the answer`);
    for (const entry of [...this.#pending.values()]) {
      if (entry.reused && !entry.retried) {
        entry.retried = true;
        this.#send(entry);
      } else entry.finish(err);
    }
  }
}
