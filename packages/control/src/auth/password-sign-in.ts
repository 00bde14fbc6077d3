// Dashboard sign-in with a username and password, and the sessions it opens.
//
// Passwords are stored as scrypt hashes with their parameters (PASSWORD_SCRYPT: 128 MiB a
// hash), computed at most `maxConcurrentHashes` at a time so a burst of sign-ins cannot take
// the machine's memory. A session is a cookie `gh_session=ghs_<id>_<secret>` (HttpOnly,
// SameSite=Strict, Secure over HTTPS, Path=/) whose secret is stored as SHA-256 (it is 256
// random bits); changes made with a session also need its CSRF token in X-CSRF-Token.
//
// A session ends after `sessionIdleMs` without use (default 12 h) and, however busy, after
// `sessionMaxMs` from sign-in (default 7 days). Use slides the idle end forward (sliding renewal:
// one row update per session per `renewEveryMs` at most, not per request); a request that says
// it is the dashboard's background polling (X-Gatehouse-Background: 1) does not, so a tab left
// open still signs out. The cookie itself lives until the absolute end; control decides.
//
// Failed sign-ins are counted per client address (addressKey: IPv6 by /64) and per username.
// Being over a limit never refuses a password that verifies: the attempt is still checked, only
// its failure is answered 429, and the checks spent on over-limit attempts are bounded by a
// budget per second. A browser that signed in as that user before carries a device cookie
// (gh_device, an HMAC over a random id and the username) and is counted on its own: other
// clients' failures, whatever their number, neither throttle it nor spend its budget (OWASP's
// "device cookies" against lockout of the real user).

import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { GatehouseError } from "@gatehouse/contract";
import {
  hashSecret,
  PASSWORD_SCRYPT,
  type ScryptParams,
  verifySecret,
} from "@gatehouse/contract/secrets";
import type { Db, Principal } from "../context.ts";
import type { Role } from "../db/schema.ts";
import type { AuthMetrics } from "./authenticate.ts";
import { addressKey, FailureLimiter, WorkBudget } from "./rate-limit.ts";

export const SESSION_COOKIE = "gh_session";
/**
 * Beside the session cookie, readable by the dashboard's script (no secret in it): tells a page
 * load that there may be a session to ask about, so a signed-out page makes no failing request.
 */
export const SIGNED_IN_COOKIE = "gh_signed_in";
export const DEVICE_COOKIE = "gh_device";
/** The device cookie is only sent to the sign-in route. */
const DEVICE_COOKIE_PATH = "/api/v1/auth";
const SESSION_SHAPE = /^ghs_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const DEVICE_SHAPE = /^d1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
/** Usernames: what people type, lower-cased; no spaces or quotes. */
export const USERNAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$";
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

export interface PasswordOptions {
  /** scrypt parameters for new password hashes; default PASSWORD_SCRYPT. */
  readonly passwordScrypt?: ScryptParams;
  /** A session unused this long ends; default 12 h (GATEHOUSE_SESSION_IDLE). */
  readonly sessionIdleMs?: number;
  /** A session ends this long after sign-in, however used; default 7 days (GATEHOUSE_SESSION_MAX). */
  readonly sessionMaxMs?: number;
  /** Failed sign-ins per client address per window before 429; default 10. */
  readonly maxSignInFailures?: number;
  /** Failed sign-ins per username per window (from anywhere) before 429; default 10. */
  readonly maxSignInFailuresPerUser?: number;
  /** Failed sign-ins per device cookie per window before it is no longer trusted; default 10. */
  readonly maxSignInFailuresPerDevice?: number;
  /** Default 15 minutes. */
  readonly signInWindowMs?: number;
  /** Password checks per second for over-limit sign-ins (without a device cookie); default 2. */
  readonly throttledSignInsPerSecond?: number;
  /** Password hashes computed at once (each takes N·r·128 bytes); default 2. */
  readonly maxConcurrentHashes?: number;
  /** Sign-ins waiting for a hash slot before more are answered 429; default 32. */
  readonly maxQueuedHashes?: number;
  /** Milliseconds since the epoch (tests move time instead of sleeping); default Date.now. */
  readonly clock?: () => number;
}

export interface SignedIn {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
  readonly accountId: string;
  readonly sessionId: string;
  /** The cookie value (ghs_…); never in a response body. */
  readonly session: string;
  readonly csrfToken: string;
  readonly expiresAt: Date;
  /** A new device cookie value for this browser and user. */
  readonly device: string;
}

/** Runs at most `max` tasks at once; beyond `maxQueued` waiting, refuses with 429. */
class Slots {
  readonly #max: number;
  readonly #maxQueued: number;
  #running = 0;
  readonly #queue: (() => void)[] = [];
  constructor(max: number, maxQueued: number) {
    this.#max = max;
    this.#maxQueued = maxQueued;
  }
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#max) {
      if (this.#queue.length >= this.#maxQueued)
        throw new GatehouseError("GH_ERR_RATE_LIMITED", "too many sign-ins at once; try again", {
          retryAfterSeconds: 1,
        });
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else this.#running++;
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      // The slot passes straight to the next waiter (running stays the same).
      if (next) next();
      else this.#running--;
    }
  }
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("base64url");
}

/** Constant-time equality of two strings (tokens, MACs). */
export function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const INVALID = "wrong username or password";

export class PasswordSignIn {
  readonly #db: Db;
  readonly #params: ScryptParams;
  readonly #idleMs: number;
  readonly #maxMs: number;
  /** The idle end is moved (a row update) when it is at least this much older than it could be. */
  readonly #renewEveryMs: number;
  readonly #byAddress: FailureLimiter;
  readonly #byUser: FailureLimiter;
  readonly #byDevice: FailureLimiter;
  readonly #budget: WorkBudget;
  readonly #slots: Slots;
  readonly #metrics: AuthMetrics | undefined;
  readonly #now: () => number;
  /** Signs device cookies; per process (a restart only makes browsers count as new). */
  readonly #deviceKey = randomBytes(32);
  /** Checked against for unknown usernames, so a miss costs what a hit costs. */
  #dummy: Promise<string> | undefined;

  constructor(db: Db, opts: PasswordOptions = {}, metrics?: AuthMetrics) {
    this.#db = db;
    this.#params = opts.passwordScrypt ?? PASSWORD_SCRYPT;
    this.#maxMs = opts.sessionMaxMs ?? 7 * 86_400_000;
    this.#idleMs = Math.min(opts.sessionIdleMs ?? 12 * 3600_000, this.#maxMs);
    this.#renewEveryMs = Math.min(60_000, Math.floor(this.#idleMs / 10));
    const windowMs = opts.signInWindowMs ?? 15 * 60_000;
    this.#byAddress = new FailureLimiter(opts.maxSignInFailures ?? 10, windowMs);
    this.#byUser = new FailureLimiter(opts.maxSignInFailuresPerUser ?? 10, windowMs);
    this.#byDevice = new FailureLimiter(opts.maxSignInFailuresPerDevice ?? 10, windowMs);
    this.#budget = new WorkBudget(opts.throttledSignInsPerSecond ?? 2);
    this.#slots = new Slots(opts.maxConcurrentHashes ?? 2, opts.maxQueuedHashes ?? 32);
    this.#metrics = metrics;
    this.#now = opts.clock ?? Date.now;
  }

  /** The session cookie's lifetime: the absolute end (control enforces the idle one). */
  get sessionMaxMs(): number {
    return this.#maxMs;
  }

  get sessionIdleMs(): number {
    return this.#idleMs;
  }

  /** A new password's hash (scrypt with this install's parameters, stored with the hash). */
  hashPassword(password: string): Promise<string> {
    return this.#slots.run(() => hashSecret(password, this.#params));
  }

  /** Check a user's current password (changing one's own password asks for it). */
  async checkPassword(userId: string, password: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom("dashboard_users")
      .select("password_hash")
      .where("id", "=", userId)
      .executeTakeFirst();
    if (!row) return false;
    return this.#slots.run(() => verifySecret(password, row.password_hash));
  }

  #deviceFor(username: string): string {
    const id = randomBytes(16).toString("base64url");
    return `d1.${id}.${this.#deviceMac(id, username)}`;
  }

  #deviceMac(id: string, username: string): string {
    return createHmac("sha256", this.#deviceKey).update(`${id}\n${username}`).digest("base64url");
  }

  /** The id of a device cookie this process issued for `username`, else undefined. */
  #deviceId(cookie: string | undefined, username: string): string | undefined {
    if (cookie === undefined) return undefined;
    const m = DEVICE_SHAPE.exec(cookie);
    if (!m?.[1] || !m[2]) return undefined;
    return sameString(m[2], this.#deviceMac(m[1], username)) ? m[1] : undefined;
  }

  /**
   * Sign in: resolves with the new session when the password verifies; throws 401 for a wrong
   * username or password, 429 for a failure from an over-limit address or username (or when the
   * budget for checking such attempts is spent).
   */
  async signIn(
    usernameIn: string,
    password: string,
    client: string,
    deviceCookie: string | undefined,
  ): Promise<SignedIn> {
    const username = usernameIn.toLowerCase();
    const now = this.#now();
    const address = addressKey(client);
    const userKey = `user:${username}`;
    const device = this.#deviceId(deviceCookie, username);
    const trusted = device !== undefined && this.#byDevice.blockedFor(device, now) === 0;
    const addressWait = trusted ? 0 : this.#byAddress.blockedFor(address, now);
    const wait = trusted ? 0 : Math.max(addressWait, this.#byUser.blockedFor(userKey, now));
    const by = addressWait > 0 ? "address" : "credential";
    if (wait > 0 && !this.#budget.take(now)) {
      // Come back in a second (the budget refills then): this may well be the right password.
      this.#metrics?.throttled("password", by);
      throw new GatehouseError(
        "GH_ERR_RATE_LIMITED",
        "too many failed sign-ins from this address or for this username",
        { retryAfterSeconds: 1 },
      );
    }
    const user =
      password.length > MAX_PASSWORD_LENGTH
        ? undefined
        : await this.#db
            .selectFrom("dashboard_users")
            .innerJoin("accounts", "accounts.id", "dashboard_users.account_id")
            .select([
              "dashboard_users.id",
              "dashboard_users.account_id",
              "dashboard_users.role",
              "dashboard_users.password_hash",
            ])
            .where("dashboard_users.username", "=", username)
            .executeTakeFirst();
    this.#dummy ??= hashSecret(randomBytes(16).toString("hex"), this.#params);
    const stored = user?.password_hash ?? (await this.#dummy);
    const ok = await this.#slots.run(() => verifySecret(password, stored));
    if (!ok || !user) {
      this.#metrics?.failure("password", user ? "invalid" : "unknown");
      if (trusted) this.#byDevice.fail(device, now);
      else {
        this.#byAddress.fail(address, now);
        this.#byUser.fail(userKey, now);
      }
      if (wait > 0) {
        this.#metrics?.throttled("password", by);
        throw new GatehouseError(
          "GH_ERR_RATE_LIMITED",
          "too many failed sign-ins from this address or for this username",
          { retryAfterSeconds: wait },
        );
      }
      throw new GatehouseError("GH_ERR_UNAUTHENTICATED", INVALID);
    }
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const csrfToken = randomBytes(32).toString("base64url");
    const expiresAt = new Date(now + this.#idleMs);
    await this.#db
      .insertInto("dashboard_sessions")
      .values({
        id,
        user_id: user.id,
        secret_sha256: sha256(secret),
        csrf_token: csrfToken,
        client: client.slice(0, 64),
        expires_at: expiresAt,
        created_at: new Date(now),
      })
      .execute();
    return {
      userId: user.id,
      username,
      role: user.role,
      accountId: user.account_id,
      sessionId: id,
      session: `ghs_${id}_${secret}`,
      csrfToken,
      expiresAt,
      device: this.#deviceFor(username),
    };
  }

  /**
   * The principal of a session cookie; throws 401 when it is unknown, revoked or expired (idle
   * too long, or past its absolute end). `renew` (a request made by the user, not background
   * polling) slides the idle end forward.
   */
  async verifySession(cookie: string, renew = true): Promise<Principal> {
    const m = SESSION_SHAPE.exec(cookie);
    if (!m?.[1] || !m[2]) return this.#refused("malformed");
    const row = await this.#db
      .selectFrom("dashboard_sessions")
      .innerJoin("dashboard_users", "dashboard_users.id", "dashboard_sessions.user_id")
      .innerJoin("accounts", "accounts.id", "dashboard_users.account_id")
      .select([
        "dashboard_sessions.secret_sha256",
        "dashboard_sessions.csrf_token",
        "dashboard_sessions.expires_at",
        "dashboard_sessions.revoked_at",
        "dashboard_sessions.created_at",
        "dashboard_users.id as user_id",
        "dashboard_users.username",
        "dashboard_users.role",
        "dashboard_users.account_id",
        "accounts.is_system",
      ])
      .where("dashboard_sessions.id", "=", m[1])
      .executeTakeFirst();
    if (!row) return this.#refused("unknown");
    if (!sameString(sha256(m[2]), row.secret_sha256)) return this.#refused("invalid");
    if (row.revoked_at !== null) return this.#refused("revoked");
    const now = this.#now();
    const hardEnd = row.created_at.getTime() + this.#maxMs;
    let end = Math.min(row.expires_at.getTime(), hardEnd);
    if (end <= now) return this.#refused("expired");
    const renewed = Math.min(now + this.#idleMs, hardEnd);
    if (renew && renewed - end >= this.#renewEveryMs) {
      // Only a still-live row moves (a sign-out racing this request wins).
      await this.#db
        .updateTable("dashboard_sessions")
        .set({ expires_at: new Date(renewed) })
        .where("id", "=", m[1])
        .where("revoked_at", "is", null)
        .execute();
      end = renewed;
    }
    return {
      id: row.user_id,
      accountId: row.account_id,
      role: row.role,
      isSystemAccount: row.is_system,
      expiresAt: end,
      session: { id: m[1], username: row.username, csrfToken: row.csrf_token },
    };
  }

  #refused(reason: "malformed" | "unknown" | "invalid" | "revoked" | "expired"): never {
    this.#metrics?.failure("session", reason);
    throw new GatehouseError(
      "GH_ERR_UNAUTHENTICATED",
      "signed out: the session is unknown, expired or was ended; sign in again",
    );
  }

  /** End one session (sign-out). */
  async endSession(id: string): Promise<void> {
    await this.#db
      .updateTable("dashboard_sessions")
      .set({ revoked_at: new Date() })
      .where("id", "=", id)
      .where("revoked_at", "is", null)
      .execute();
  }

  /** End every session of a user but `keep` (a password change, a role change). */
  async endSessionsOf(userId: string, keep?: string): Promise<void> {
    let q = this.#db
      .updateTable("dashboard_sessions")
      .set({ revoked_at: new Date() })
      .where("user_id", "=", userId)
      .where("revoked_at", "is", null);
    if (keep !== undefined) q = q.where("id", "!=", keep);
    await q.execute();
    // Expired and ended sessions are kept a day for the record, then dropped.
    await this.#db
      .deleteFrom("dashboard_sessions")
      .where("user_id", "=", userId)
      .where("expires_at", "<", new Date(this.#now() - 86_400_000))
      .execute();
  }
}

/** One cookie's value from a Cookie header (RFC 6265 §5.4), or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * A Set-Cookie value; `maxAgeSeconds` 0 deletes the cookie. HttpOnly unless `script` (the page's
 * script may read it).
 */
export function setCookie(
  name: string,
  value: string,
  opts: { maxAgeSeconds: number; secure: boolean; path?: string; script?: boolean },
): string {
  return [
    `${name}=${value}`,
    `Path=${opts.path ?? "/"}`,
    `Max-Age=${opts.maxAgeSeconds}`,
    ...(opts.script ? [] : ["HttpOnly"]),
    "SameSite=Strict",
    ...(opts.secure ? ["Secure"] : []),
  ].join("; ");
}

/** The session cookie and its script-readable companion, set (a session) or cleared (none). */
export function sessionCookies(
  session: string | undefined,
  maxAgeSeconds: number,
  secure: boolean,
): string[] {
  const age = session === undefined ? 0 : maxAgeSeconds;
  return [
    setCookie(SESSION_COOKIE, session ?? "", { maxAgeSeconds: age, secure }),
    setCookie(SIGNED_IN_COOKIE, session === undefined ? "" : "1", {
      maxAgeSeconds: age,
      secure,
      script: true,
    }),
  ];
}

export function deviceCookie(value: string, secure: boolean): string {
  return setCookie(DEVICE_COOKIE, value, {
    maxAgeSeconds: 180 * 86400,
    secure,
    path: DEVICE_COOKIE_PATH,
  });
}
