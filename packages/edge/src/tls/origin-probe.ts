// The origin certificate check an inspected CONNECT needs before the client's handshake when an
// untrusted origin is to be passed through (`untrustedOriginCert: pass_through`): once the
// client has our leaf, the connection cannot be handed back untouched. A TLS handshake with the
// pinned address (SNI, the same trust as every inspected connection), closed at once; its
// verdict ("valid" or the verification code) is kept per name and address for `ttlMs` in a
// bounded map, and concurrent CONNECTs for one origin share one probe. A probe that cannot
// complete (refused, timed out) gives no verdict: the connection is inspected, and the request's
// own connection reports what went wrong.

import type { SecureContext, TLSSocket } from "node:tls";
import { tls } from "../net/node-tls.ts";

export interface ProbeTarget {
  readonly ip: string;
  readonly port: number;
  /** SNI; undefined for an IP literal (which the certificate must then name). */
  readonly servername: string | undefined;
  readonly trust: SecureContext;
}

export type ProbeResult = "probed" | "cached" | "failed";

export interface OriginProbeOptions {
  readonly timeoutMs: number;
  /** How long a verdict is kept (a fixed or broken certificate is seen again after it). */
  readonly ttlMs?: number;
  /** Verdicts kept at most (oldest dropped first). */
  readonly maxEntries?: number;
  readonly onResult?: (result: ProbeResult, verdict: string | undefined) => void;
  readonly now?: () => number;
}

export class OriginProbe {
  readonly #opts: OriginProbeOptions;
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #verdicts = new Map<string, { verdict: string; until: number }>();
  readonly #inFlight = new Map<string, Promise<string | undefined>>();

  constructor(opts: OriginProbeOptions) {
    this.#opts = opts;
    this.#ttl = opts.ttlMs ?? 300_000;
    this.#max = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#verdicts.size;
  }

  /** The origin's certificate verdict, "valid" or why not; undefined when the probe failed. */
  verdict(t: ProbeTarget): Promise<string | undefined> {
    const key = `${t.servername ?? ""}@${t.ip}:${t.port}`;
    const known = this.#verdicts.get(key);
    if (known !== undefined) {
      if (known.until > this.#now()) {
        this.#opts.onResult?.("cached", known.verdict);
        return Promise.resolve(known.verdict);
      }
      this.#verdicts.delete(key);
    }
    let p = this.#inFlight.get(key);
    if (p === undefined) {
      p = this.#probe(t).then((v) => {
        this.#inFlight.delete(key);
        this.#opts.onResult?.(v === undefined ? "failed" : "probed", v);
        if (v !== undefined) {
          if (this.#verdicts.size >= this.#max) {
            const oldest = this.#verdicts.keys().next().value;
            if (oldest !== undefined) this.#verdicts.delete(oldest);
          }
          this.#verdicts.set(key, { verdict: v, until: this.#now() + this.#ttl });
        }
        return v;
      });
      this.#inFlight.set(key, p);
    }
    return p;
  }

  #probe(t: ProbeTarget): Promise<string | undefined> {
    return new Promise((resolve) => {
      let s: TLSSocket;
      const done = (v: string | undefined) => {
        clearTimeout(timer);
        s.destroy();
        resolve(v);
      };
      const timer = setTimeout(() => done(undefined), this.#opts.timeoutMs);
      s = tls().connect({
        host: t.ip,
        port: t.port,
        ...(t.servername === undefined ? {} : { servername: t.servername }),
        secureContext: t.trust,
        ALPNProtocols: ["http/1.1"],
        // The verdict is read below: a failure is what the probe is for.
        rejectUnauthorized: false,
      });
      s.once("secureConnect", () =>
        done(s.authorized ? "valid" : String(s.authorizationError ?? "UNKNOWN")),
      );
      s.once("error", () => done(undefined));
    });
  }
}
