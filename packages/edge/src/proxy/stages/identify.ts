// Stage identify: who is asking? The location comes from the source address (as in DNS); the
// user or device from `Proxy-Authorization: Basic` (RFC 9110 §11.7.2, RFC 7617). Before admit,
// because admission (unknown client, auth required) and policies (identity.*) depend on it.
// Credentials are checked with a slow KDF, so verdicts are cached per snapshot under a hash of
// the header (never the password itself): the requests of a keep-alive connection, and every
// later request with the same header, cost one SHA-256 and a map lookup. Failures are cached
// too. A header not seen yet is an attempt counted against the client's address
// (auth-limiter.ts): past the limit the client gets 429 without the KDF running. Clients that
// admit will refuse anyway (outside every location) are not verified at all.

import { createHash } from "node:crypto";
import { AuthFailureLimiter } from "../auth-limiter.ts";
import type { IdentityView, ProxySnapshot } from "../edge-view.ts";
import type { Exchange, Outcome, Stage } from "../exchange.ts";
import { DEFAULT_LIMITS } from "../limits.ts";
import { proxyConfigOf } from "../proxy-config.ts";
import type { ProxyMetrics } from "../proxy-metrics.ts";

interface Verdict {
  readonly identity: IdentityView | undefined;
  readonly principal: string | undefined;
}
const FAILED: Verdict = { identity: undefined, principal: undefined };
const MAX_CACHED = 10_000;

const verdicts = new WeakMap<ProxySnapshot, Map<string, Verdict | Promise<Verdict>>>();

/** Split a Basic credential (RFC 7617 §2): base64 of user-id ":" password, UTF-8. */
export function decodeBasic(header: string): { user: string; password: string } | undefined {
  const sp = header.indexOf(" ");
  if (sp < 0 || header.slice(0, sp).toLowerCase() !== "basic") return undefined;
  const token = header.slice(sp + 1).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return undefined;
  const text = Buffer.from(token, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

async function verify(snapshot: ProxySnapshot, header: string): Promise<Verdict> {
  const cred = decodeBasic(header);
  if (cred === undefined) return FAILED;
  const identity = await snapshot.identities.verify(cred.user, cred.password);
  return identity === undefined ? FAILED : { identity, principal: cred.user };
}

/** What identify needs besides the request: shared by every pipeline of one proxy. */
export interface IdentifyDeps {
  readonly limiter: AuthFailureLimiter;
  readonly metrics?: ProxyMetrics;
}

export function createIdentify(
  deps: IdentifyDeps = {
    limiter: new AuthFailureLimiter({
      maxFailures: DEFAULT_LIMITS.authFailureLimit,
      windowMs: DEFAULT_LIMITS.authFailureWindowMs,
    }),
  },
): Stage {
  const { limiter, metrics } = deps;
  return {
    name: "identify",
    run(ex: Exchange): Outcome | Promise<Outcome> {
      const inspected = ex.inspection;
      if (inspected !== undefined) {
        // A request from an inspected tunnel is the tunnel's client: its CONNECT carried the
        // credentials (none travel inside the TLS session).
        ex.location = inspected.location;
        ex.identity = inspected.identity;
        ex.principal = inspected.principal;
        return "next";
      }
      ex.location = ex.snapshot.locations.bySource(ex.clientIp);
      const header = ex.req.header("proxy-authorization");
      if (header === undefined) return "next";
      // admit answers 403 whatever the credentials: spend no KDF on a stranger.
      if (ex.location === undefined && !proxyConfigOf(ex.snapshot).allowUnknownClients)
        return "next";
      let cache = verdicts.get(ex.snapshot);
      if (cache === undefined) {
        cache = new Map();
        verdicts.set(ex.snapshot, cache);
      }
      const key = createHash("sha256").update(header).digest("base64");
      let v = cache.get(key);
      if (v === undefined) {
        const now = Date.now();
        const waitMs = limiter.attempt(ex.clientIp, now);
        if (waitMs > 0) {
          metrics?.authFailure("limited");
          // Answered here rather than in admit: the refusal is about not running the KDF.
          const retryAfterSeconds = Math.ceil(waitMs / 1000);
          ex.answer = {
            status: 429,
            reason: "auth_rate_limited",
            detail: `too many failed proxy authentications from this address; try again in ${retryAfterSeconds} s`,
            retryAfterSeconds,
          };
          ex.reason = "auth_rate_limited";
          return "respond";
        }
        if (cache.size >= MAX_CACHED) cache.clear();
        const client = ex.clientIp;
        const p = verify(ex.snapshot, header)
          .catch(() => FAILED)
          .then((done) => {
            if (done === FAILED) metrics?.authFailure("rejected");
            else limiter.succeeded(client, now);
            return done;
          });
        cache.set(key, p);
        p.then((done) => {
          if (cache.get(key) === p) cache.set(key, done);
        });
        v = p;
      }
      if (v instanceof Promise) {
        return v.then((done) => apply(ex, done));
      }
      return apply(ex, v);
    },
  };
}

function apply(ex: Exchange, v: Verdict): Outcome {
  ex.identity = v.identity;
  ex.principal = v.principal;
  // Credentials were offered and rejected: remember it for admit (407 again, RFC 9110 §15.5.8).
  if (v === FAILED) ex.reason = "auth_failed";
  return "next";
}
