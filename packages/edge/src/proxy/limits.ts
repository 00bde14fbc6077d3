// Resource limits of the proxy. Defaults are chosen so a hostile or slow client cannot hold
// more than a bounded share of memory or sockets; the edge config file overrides them per key
// (`edge.proxy.limits`, whose schema in the contract documents each one), embedders through
// startProxy({ limits }).

import type { ProxyLimitSettings } from "@gatehouse/contract";

export type ProxyLimits = Readonly<Required<ProxyLimitSettings>>;

export const DEFAULT_LIMITS: ProxyLimits = {
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  // RFC 9112 §3 recommends supporting request-targets of at least 8000 octets.
  maxUrlLength: 8192,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
  connectTimeoutMs: 5_000,
  upstreamResponseTimeoutMs: 30_000,
  upstreamIdleTimeoutMs: 120_000,
  clientHelloTimeoutMs: 10_000,
  tlsHandshakeTimeoutMs: 10_000,
  // One source holds at most a quarter of them (stages/inspect-tls.ts handshakeSlots).
  maxConcurrentTlsHandshakes: 512,
  maxConnections: 10_000,
  // One source (IPv4 address, IPv6 /64) may hold a tenth of the slots: a client that opens
  // connections and never closes them runs out of its own share, not everyone's.
  maxConnectionsPerSource: 1_000,
  // After the proxy closes its side (a response with `connection: close`, a refusal, an idle
  // keep-alive connection), the client has this long to close its own before the socket is cut.
  closeGraceMs: 5_000,
  upstreamConnectionsPerOrigin: 64,
  // One client (source) may hold a quarter of an origin's connections: a few slow exchanges
  // (uploads, long polls) cannot take them all from everyone else using that origin.
  upstreamConnectionsPerClient: 16,
  authFailureLimit: 20,
  authFailureWindowMs: 60_000,
};

const AT_LEAST_ONE = [
  "maxHeaderBytes",
  "maxHeaderCount",
  "maxUrlLength",
  "maxConnections",
  "maxConnectionsPerSource",
  "closeGraceMs",
  "headersTimeoutMs",
  "idleTimeoutMs",
  "upstreamConnectionsPerOrigin",
  "upstreamConnectionsPerClient",
  "authFailureLimit",
  "authFailureWindowMs",
  "tlsHandshakeTimeoutMs",
  "maxConcurrentTlsHandshakes",
] as const;

/** Defaults with `overrides` on top; a RangeError naming the key for a value that cannot work. */
export function resolveLimits(overrides: Partial<ProxyLimits> | undefined): ProxyLimits {
  const out = { ...DEFAULT_LIMITS };
  if (overrides !== undefined) {
    for (const [k, v] of Object.entries(overrides)) {
      if (!(k in DEFAULT_LIMITS)) throw new RangeError(`unknown proxy limit ${k}`);
      if (v === undefined) continue;
      if (!Number.isSafeInteger(v) || v < 0)
        throw new RangeError(`proxy limit ${k} must be a non-negative integer, got ${v}`);
      (out as Record<string, number>)[k] = v;
    }
  }
  // Zero would refuse every request or disable a slow-loris defence (node reads 0 as "off").
  for (const k of AT_LEAST_ONE) {
    if (out[k] === 0) throw new RangeError(`proxy limit ${k} must be at least 1`);
  }
  // A head limit beyond the whole-request limit could never apply (0 = unlimited).
  if (out.requestTimeoutMs !== 0 && out.headersTimeoutMs > out.requestTimeoutMs) {
    throw new RangeError(
      `proxy limit headersTimeoutMs (${out.headersTimeoutMs}) must not exceed requestTimeoutMs (${out.requestTimeoutMs})`,
    );
  }
  return out;
}
