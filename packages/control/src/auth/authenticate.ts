// Authentication and authorisation, run in onRequest (before the body is read, so an anonymous
// client cannot make us parse a large body). Every route declares `config.access`; a route
// without one is refused, so a forgotten declaration fails closed.

import { GatehouseError } from "@gatehouse/contract";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AccessLevel, Db, EdgePrincipal, Principal } from "../context.ts";
import type { Role } from "../db/schema.ts";
import { FailureLimiter } from "./rate-limit.ts";
import { apiTokenLookupId, tokenId, VerificationCache, verifySecret } from "./tokens.ts";

const RANK: Readonly<Record<Role, number>> = { viewer: 1, editor: 2, admin: 3 };

export interface AuthOptions {
  /** How long a successful verification is remembered; default 30 s. */
  readonly cacheTtlMs?: number;
  /** Failed attempts per client address per window before 429; default 20 per 60 s. */
  readonly maxFailures?: number;
  readonly failureWindowMs?: number;
}

export class Authenticator {
  readonly #db: Db;
  readonly apiCache: VerificationCache<Principal>;
  readonly edgeCache: VerificationCache<EdgePrincipal>;
  readonly #limiter: FailureLimiter;
  constructor(db: Db, opts: AuthOptions = {}) {
    this.#db = db;
    this.apiCache = new VerificationCache(opts.cacheTtlMs ?? 30_000);
    this.edgeCache = new VerificationCache(opts.cacheTtlMs ?? 30_000);
    this.#limiter = new FailureLimiter(opts.maxFailures ?? 20, opts.failureWindowMs ?? 60_000);
  }

  /** Resolve an API token to its principal, or undefined (unknown, revoked, expired, wrong). */
  async verifyApiToken(presented: string): Promise<Principal | undefined> {
    const now = Date.now();
    const key = VerificationCache.key(presented);
    const cached = this.apiCache.get(key, now);
    if (cached) return cached.expiresAt !== null && cached.expiresAt <= now ? undefined : cached;
    const id = apiTokenLookupId(presented);
    if (id === undefined) return undefined;
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
    if (!row || row.revoked_at !== null) return undefined;
    const expiresAt = row.expires_at ? row.expires_at.getTime() : null;
    if (expiresAt !== null && expiresAt <= now) return undefined;
    if (!(await verifySecret(presented, row.secret_hash))) return undefined;
    const principal: Principal = {
      id: row.id,
      accountId: row.account_id,
      role: row.role,
      isSystemAccount: row.is_system,
      expiresAt,
    };
    this.apiCache.set(key, principal, now);
    return principal;
  }

  async verifyEdgeCredential(presented: string): Promise<EdgePrincipal | undefined> {
    const now = Date.now();
    const key = VerificationCache.key(presented);
    const cached = this.edgeCache.get(key, now);
    if (cached) return cached;
    const id = tokenId("edge", presented);
    if (id === undefined) return undefined;
    const row = await this.#db
      .selectFrom("edges")
      .select(["id", "account_id", "credential_hash", "status"])
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row || row.status === "decommissioned") return undefined;
    if (!(await verifySecret(presented, row.credential_hash))) return undefined;
    const principal: EdgePrincipal = { id: row.id, accountId: row.account_id };
    this.edgeCache.set(key, principal, now);
    return principal;
  }

  /** Count a failed credential check made outside the hook (edge enrolment). */
  recordFailure(client: string): void {
    this.#limiter.fail(client, Date.now());
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
    const client = req.ip;
    const now = Date.now();
    const wait = this.#limiter.blockedFor(client, now);
    if (wait > 0)
      throw new GatehouseError("GH_ERR_RATE_LIMITED", "too many failed authentication attempts", {
        retryAfterSeconds: wait,
      });
    const presented = bearer(req);
    if (presented === undefined) {
      throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "missing bearer token");
    }
    if (access === "edge") {
      const edge = await this.verifyEdgeCredential(presented);
      if (!edge) {
        this.#limiter.fail(client, now);
        throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "invalid edge credential");
      }
      req.edge = edge;
      return;
    }
    const p = await this.verifyApiToken(presented);
    if (!p) {
      this.#limiter.fail(client, now);
      throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "invalid, expired or revoked token");
    }
    req.principal = p;
    const need: Role = access === "system" ? "admin" : access;
    if (RANK[p.role] < RANK[need])
      throw new GatehouseError("GH_ERR_FORBIDDEN", `this needs the ${need} role`);
    if (access === "system" && !p.isSystemAccount)
      throw new GatehouseError("GH_ERR_FORBIDDEN", "only the system account may do this");
  }
}

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
