// A small cache of serialized collection pages (GET /policies, /lists, …), so the list reads
// dashboards and automation poll do not each cost a database round trip (on PGlite, one
// statement at a time, that round trip is the ceiling). Entries are per account and URL and
// are dropped whenever that account changes anything through this process. With PostgreSQL
// another replica may write too, so there entries also expire after `ttlMs` — the staleness a
// reader can see from another replica's write is bounded by it; on one replica it is zero.

interface ReadCacheOptions {
  /** 0 = no expiry (single process owns the data: PGlite). */
  readonly ttlMs: number;
  /** Upper bound on cached bytes (UTF-16 length ≈ bytes for JSON). */
  readonly maxBytes: number;
}

interface Entry {
  readonly body: string;
  readonly at: number;
}

export class ReadCache {
  readonly #opts: ReadCacheOptions;
  readonly #byAccount = new Map<string, Map<string, Entry>>();
  #bytes = 0;
  constructor(opts: ReadCacheOptions) {
    this.#opts = opts;
  }

  get(accountId: string, url: string, now: number): string | undefined {
    const m = this.#byAccount.get(accountId);
    const e = m?.get(url);
    if (m === undefined || e === undefined) return undefined;
    if (this.#opts.ttlMs > 0 && now - e.at > this.#opts.ttlMs) {
      m.delete(url);
      this.#bytes -= e.body.length;
      return undefined;
    }
    return e.body;
  }

  set(accountId: string, url: string, body: string, now: number): void {
    if (body.length > this.#opts.maxBytes / 16) return;
    if (this.#bytes + body.length > this.#opts.maxBytes) this.clear();
    let m = this.#byAccount.get(accountId);
    if (!m) {
      m = new Map();
      this.#byAccount.set(accountId, m);
    }
    const old = m.get(url);
    if (old) this.#bytes -= old.body.length;
    m.set(url, { body, at: now });
    this.#bytes += body.length;
  }

  invalidate(accountId: string): void {
    const m = this.#byAccount.get(accountId);
    if (!m) return;
    for (const e of m.values()) this.#bytes -= e.body.length;
    this.#byAccount.delete(accountId);
  }

  clear(): void {
    this.#byAccount.clear();
    this.#bytes = 0;
  }
}
