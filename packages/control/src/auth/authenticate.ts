// Authentication and authorisation, run in onRequest (before the body is read, so an anonymous
// client cannot make us parse a large body). Every route declares `config.access`; a route
// without one is refused, so a forgotten declaration fails closed.
//
// A presented credential is verified first and throttling applies only to failures: a valid
// token or edge credential is served whatever other clients behind the same address (a NAT, a
// reverse proxy) or other guessers at the same token id did. Failures are counted per client
// address and per credential id; a key over its limit gets 429 for its further failures, and
// the verification work spent on unproven credentials from over-limit keys is bounded by a
// budget per second (WorkBudget). A credential proven once costs a row lookup, not a scrypt
// (ProvenSecrets). A decommissioned edge's own credential is answered 410
// GH_ERR_EDGE_DECOMMISSIONED, which the edge takes as final.

import { GatehouseError } from "@gatehouse/contract";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AccessLevel, Db, EdgePrincipal, Principal } from "../context.ts";
import type { Role } from "../db/schema.ts";
import {
  type PasswordOptions,
  PasswordSignIn,
  readCookie,
  SESSION_COOKIE,
  sameString,
} from "./password-sign-in.ts";
import { addressKey, FailureLimiter, WorkBudget } from "./rate-limit.ts";
import {
  apiTokenLookupId,
  ProvenSecrets,
  tokenId,
  VerificationCache,
  verifySecret,
} from "./tokens.ts";

const RANK: Readonly<Record<Role, number>> = { viewer: 1, editor: 2, admin: 3 };

/**
 * What was presented: an API token, an edge credential, an edge join token, a dashboard
 * password (sign-in) or a dashboard session cookie.
 */
export type CredentialKind = "api" | "edge" | "join" | "password" | "session";
/** Why a presented credential was refused (the `reason` label of the failure metric). */
export type FailureReason =
  | "missing"
  | "malformed"
  | "unknown"
  | "invalid"
  | "revoked"
  | "expired"
  | "used"
  | "decommissioned";

export interface AuthMetrics {
  failure(kind: CredentialKind, reason: FailureReason): void;
  /** A request answered 429 because its address or credential id is over the failure limit. */
  throttled(kind: CredentialKind, by: "address" | "credential"): void;
}

export interface AuthOptions extends PasswordOptions {
  /** How long a successful verification is remembered; default 30 s. */
  readonly cacheTtlMs?: number;
  /** Failed attempts per client address per window before 429; default 20 per 60 s. */
  readonly maxFailures?: number;
  /** Failed attempts per credential id (the `<id>` of `ght_<id>_…`) per window; default 20. */
  readonly maxFailuresPerCredential?: number;
  readonly failureWindowMs?: number;
  /**
   * Lookups and scrypt checks per second, over all clients and credential ids over their
   * limit, for credentials not proven before; default 10.
   */
  readonly throttledChecksPerSecond?: number;
}

/** A stored credential found by the id in a presented one, and whom it authenticates. */
interface StoredCredential<P> {
  readonly principal: P;
  /** Limit key of the credential id, e.g. `ght:0123456789abcdef`. */
  readonly key: string;
  readonly hash: string;
  /** Refused without a secret check (revoked or expired tokens, used join tokens). */
  readonly dead?: "revoked" | "expired" | "used";
  /** Refused for good once the secret is proven (a decommissioned edge). */
  readonly decommissioned?: boolean;
}

const MESSAGES: Readonly<Record<"api" | "edge" | "join", string>> = {
  api: "invalid, expired or revoked token",
  edge: "invalid edge credential",
  join: "invalid, used or expired join token",
};

export class Authenticator {
  readonly #db: Db;
  readonly apiCache: VerificationCache<Principal>;
  readonly edgeCache: VerificationCache<EdgePrincipal>;
  readonly proven = new ProvenSecrets();
  /** Dashboard users' sign-in and sessions. */
  readonly passwords: PasswordSignIn;
  readonly #byAddress: FailureLimiter;
  readonly #byCredential: FailureLimiter;
  readonly #budget: WorkBudget;
  readonly #metrics: AuthMetrics | undefined;
  constructor(db: Db, opts: AuthOptions = {}, metrics?: AuthMetrics) {
    this.#db = db;
    this.apiCache = new VerificationCache(opts.cacheTtlMs ?? 30_000);
    this.edgeCache = new VerificationCache(opts.cacheTtlMs ?? 30_000);
    const windowMs = opts.failureWindowMs ?? 60_000;
    this.#byAddress = new FailureLimiter(opts.maxFailures ?? 20, windowMs);
    this.#byCredential = new FailureLimiter(opts.maxFailuresPerCredential ?? 20, windowMs);
    this.#budget = new WorkBudget(opts.throttledChecksPerSecond ?? 10);
    this.#metrics = metrics;
    this.passwords = new PasswordSignIn(db, opts, metrics);
  }

  /**
   * Verify `presented` for `client`: resolves when the secret is proven against what `find`
   * returns; throws 401 (or 429 for a client or credential id over its limit, or 410 for a
   * decommissioned edge) otherwise. The caller checks its verification cache first.
   */
  async prove<P>(
    kind: "api" | "edge" | "join",
    client: string,
    presented: string,
    find: () => Promise<StoredCredential<P> | undefined>,
  ): Promise<P> {
    const address = addressKey(client);
    const now = Date.now();
    const digest = VerificationCache.key(presented);
    const proven = this.proven.get(digest);
    const addressWait = this.#byAddress.blockedFor(address, now);
    // Out of budget: come back in a second (it refills then), not at the window's end — this
    // may well be a valid credential.
    if (addressWait > 0 && proven === undefined && !this.#budget.take(now))
      throw this.#throttled(kind, "address", 1);
    const stored = await find();
    if (!stored) return this.#fail(kind, "unknown", address, undefined, now);
    if (stored.dead) {
      // The id names a row that can never authenticate again: no secret check, no count (a
      // client still using its revoked token is not guessing).
      this.#metrics?.failure(kind, stored.dead);
      throw new GatehouseError("GH_ERR_UNAUTHENTICATED", MESSAGES[kind]);
    }
    if (proven !== stored.hash) {
      const credentialWait = this.#byCredential.blockedFor(stored.key, now);
      if (credentialWait > 0 && addressWait === 0 && !this.#budget.take(now))
        throw this.#throttled(kind, "credential", 1);
      if (!(await verifySecret(presented, stored.hash)))
        return this.#fail(kind, "invalid", address, stored.key, now);
      this.proven.set(digest, stored.hash);
    }
    if (stored.decommissioned) {
      this.#metrics?.failure(kind, "decommissioned");
      throw new GatehouseError(
        "GH_ERR_EDGE_DECOMMISSIONED",
        "this edge was decommissioned: its credential no longer works; stop polling, and enrol again with a new join token to come back",
      );
    }
    return stored.principal;
  }

  /** Count a failure; 429 when the address or credential id was already over its limit. */
  #fail(
    kind: "api" | "edge" | "join",
    reason: FailureReason,
    client: string,
    key: string | undefined,
    now: number,
  ): never {
    this.#metrics?.failure(kind, reason);
    const addressWait = this.#byAddress.blockedFor(client, now);
    const credentialWait = key === undefined ? 0 : this.#byCredential.blockedFor(key, now);
    this.#byAddress.fail(client, now);
    if (key !== undefined) this.#byCredential.fail(key, now);
    if (addressWait > 0) throw this.#throttled(kind, "address", addressWait);
    if (credentialWait > 0) throw this.#throttled(kind, "credential", credentialWait);
    throw new GatehouseError("GH_ERR_UNAUTHENTICATED", MESSAGES[kind]);
  }

  #throttled(kind: CredentialKind, by: "address" | "credential", wait: number): GatehouseError {
    this.#metrics?.throttled(kind, by);
    return new GatehouseError(
      "GH_ERR_RATE_LIMITED",
      `too many failed authentication attempts from this ${by === "address" ? "address" : "credential id"}`,
      { retryAfterSeconds: wait },
    );
  }

  /** A join token presented at enrolment that does not even have our shape. */
  malformed(kind: "api" | "edge" | "join", client: string): never {
    return this.#fail(kind, "malformed", addressKey(client), undefined, Date.now());
  }

  /** Resolve an API token to its principal; throws 401/429 (see prove). */
  async verifyApiToken(presented: string, client: string): Promise<Principal> {
    const now = Date.now();
    const key = VerificationCache.key(presented);
    const cached = this.apiCache.get(key, now);
    if (cached && (cached.expiresAt === null || cached.expiresAt > now)) return cached;
    const id = apiTokenLookupId(presented);
    if (id === undefined) return this.malformed("api", client);
    const principal = await this.prove("api", client, presented, async () => {
      const row = await this.#db
        .selectFrom("api_tokens")
        .innerJoin("accounts", "accounts.id", "api_tokens.account_id")
        .select([
          "api_tokens.id",
          "api_tokens.account_id",
          "api_tokens.role",
          "api_tokens.secret_hash",
          "api_tokens.expires_at",
          "api_tokens.revoked_at",
          "accounts.is_system",
        ])
        .where("api_tokens.id", "=", id)
        .executeTakeFirst();
      if (!row) return undefined;
      const expiresAt = row.expires_at ? row.expires_at.getTime() : null;
      return {
        principal: {
          id: row.id,
          accountId: row.account_id,
          role: row.role,
          isSystemAccount: row.is_system,
          expiresAt,
        } satisfies Principal,
        key: `ght:${id}`,
        hash: row.secret_hash,
        ...(row.revoked_at !== null
          ? { dead: "revoked" as const }
          : expiresAt !== null && expiresAt <= now
            ? { dead: "expired" as const }
            : {}),
      };
    });
    this.apiCache.set(key, principal, now);
    return principal;
  }

  /** Resolve an edge credential to its edge; throws 401/429, or 410 when decommissioned. */
  async verifyEdgeCredential(presented: string, client: string): Promise<EdgePrincipal> {
    const now = Date.now();
    const key = VerificationCache.key(presented);
    const cached = this.edgeCache.get(key, now);
    if (cached) return cached;
    const id = tokenId("edge", presented);
    if (id === undefined) return this.malformed("edge", client);
    const principal = await this.prove("edge", client, presented, async () => {
      const row = await this.#db
        .selectFrom("edges")
        .select(["id", "account_id", "credential_hash", "status"])
        .where("id", "=", id)
        .executeTakeFirst();
      if (!row) return undefined;
      return {
        principal: { id: row.id, accountId: row.account_id } satisfies EdgePrincipal,
        key: `ghe:${id}`,
        hash: row.credential_hash,
        decommissioned: row.status === "decommissioned",
      };
    });
    this.edgeCache.set(key, principal, now);
    return principal;
  }

  /** The onRequest hook body. */
  async check(req: FastifyRequest): Promise<void> {
    const access: AccessLevel | undefined = req.routeOptions.config?.access;
    if (access === "public") return;
    if (access === undefined) {
      // Fastify's own 404 route has no config; anything else without `access` fails closed.
      if (req.routeOptions.url === undefined) return;
      throw new GatehouseError("GH_ERR_FORBIDDEN", "route has no access declaration");
    }
    const presented = bearer(req);
    if (access === "edge") {
      if (presented === undefined) {
        this.#metrics?.failure("edge", "missing");
        throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "missing bearer token");
      }
      req.edge = await this.verifyEdgeCredential(presented, req.ip);
      return;
    }
    let p: Principal;
    if (presented !== undefined) p = await this.verifyApiToken(presented, req.ip);
    else {
      // No bearer token: the dashboard's session cookie, if any.
      const session = readCookie(req.headers.cookie, SESSION_COOKIE);
      if (session === undefined) {
        this.#metrics?.failure("api", "missing");
        throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "missing bearer token");
      }
      // The dashboard's background polling says so; it keeps no idle session alive.
      p = await this.passwords.verifySession(
        session,
        req.headers["x-gatehouse-background"] !== "1",
      );
      // A cookie rides along on any request the browser makes to us: a change also needs the
      // session's CSRF token, which only our own pages read (GET /auth/session).
      const csrf = p.session?.csrfToken;
      if (!SAFE_METHODS.has(req.method)) {
        const sent = req.headers["x-csrf-token"];
        if (typeof sent !== "string" || csrf === undefined || !sameString(sent, csrf))
          throw new GatehouseError(
            "GH_ERR_FORBIDDEN",
            "a change made with a session cookie needs its CSRF token in X-CSRF-Token",
          );
      }
    }
    req.principal = p;
    const need: Role = access === "system" ? "admin" : access;
    if (RANK[p.role] < RANK[need])
      throw new GatehouseError("GH_ERR_FORBIDDEN", `this needs the ${need} role`);
    if (access === "system" && !p.isSystemAccount)
      throw new GatehouseError("GH_ERR_FORBIDDEN", "only the system account may do this");
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== "string") return undefined;
  // RFC 6750 §2.1: `Bearer` is case-insensitive, one or more spaces.
  const m = /^bearer +(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

export function registerAuth(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest("principal", null);
  app.decorateRequest("edge", null);
  app.addHook("onRequest", async (req) => {
    await auth.check(req);
  });
}
