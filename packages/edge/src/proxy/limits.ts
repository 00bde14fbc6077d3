// Resource limits of the proxy. Defaults are chosen so a hostile or slow client cannot hold
// more than a bounded share of memory or sockets; every value can be overridden by startProxy.

export interface ProxyLimits {
  /** Bytes of request line + header section (node:http `maxHeaderSize`); larger → 431. */
  readonly maxHeaderBytes: number;
  /** Header field lines per request; more → 431. */
  readonly maxHeaderCount: number;
  /** Request-target length; longer → 414 (RFC 9112 §3 recommends supporting ≥ 8000). */
  readonly maxUrlLength: number;
  /** Whole header section must arrive within this (slow-loris cut-off). */
  readonly headersTimeoutMs: number;
  /** Whole request (head + body) from the client must arrive within this; 0 = unlimited. */
  readonly requestTimeoutMs: number;
  /** Idle keep-alive client connections are closed after this. */
  readonly idleTimeoutMs: number;
  /** TCP connect to an origin. */
  readonly connectTimeoutMs: number;
  /** Time from request sent to response head from the origin. */
  readonly upstreamResponseTimeoutMs: number;
  /** Silence on an upstream body or a tunnel before it is torn down. */
  readonly upstreamIdleTimeoutMs: number;
  /** Time a CONNECT client gets to send its TLS ClientHello. */
  readonly clientHelloTimeoutMs: number;
  /** Client connections accepted at once per listener; further ones are dropped. */
  readonly maxConnections: number;
  /** Pooled keep-alive connections per origin. */
  readonly upstreamConnectionsPerOrigin: number;
}

export const DEFAULT_LIMITS: ProxyLimits = {
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxUrlLength: 8192,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
  connectTimeoutMs: 5_000,
  upstreamResponseTimeoutMs: 30_000,
  upstreamIdleTimeoutMs: 120_000,
  clientHelloTimeoutMs: 10_000,
  maxConnections: 10_000,
  upstreamConnectionsPerOrigin: 64,
};

export function resolveLimits(overrides: Partial<ProxyLimits> | undefined): ProxyLimits {
  const out = { ...DEFAULT_LIMITS, ...overrides };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`proxy limit ${k} must be a non-negative integer, got ${v}`);
  }
  return out;
}
