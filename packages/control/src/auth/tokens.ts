// Secrets handed out by control: API tokens (`ght_`), edge credentials (`ghe_`), edge join
// tokens (`ghj_`) and device credentials (`ghd_`). Each is `<kind>_<id>_<secret>`: the id is
// not secret and is the primary key, so verifying a presented token costs one lookup and one
// scrypt (not one per stored token). Only the scrypt hash of the whole token is stored.

import { createHash } from "node:crypto";
import { generateSecret, hashSecret, verifySecret } from "@gatehouse/contract/secrets";
import { newTokenId } from "../ids.ts";

const TOKEN_KINDS = {
  api: "ght",
  edge: "ghe",
  join: "ghj",
  device: "ghd",
} as const;
type TokenKind = keyof typeof TOKEN_KINDS;

const TOKEN_SHAPE = /^(gh[tejd])_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

interface IssuedSecret {
  readonly id: string;
  /** Shown to the caller once; never stored. */
  readonly secret: string;
  readonly hash: string;
}

export async function issueSecret(kind: TokenKind): Promise<IssuedSecret> {
  const id = newTokenId();
  const secret = generateSecret(`${TOKEN_KINDS[kind]}_${id}`);
  return { id, secret, hash: await hashSecret(secret) };
}

/** The id inside a presented token of that kind, or undefined when it is not one. */
export function tokenId(kind: TokenKind, presented: string): string | undefined {
  if (presented.length > 128) return undefined;
  const m = TOKEN_SHAPE.exec(presented);
  if (!m || m[1] !== TOKEN_KINDS[kind]) return undefined;
  return m[2];
}

/** Operator-chosen admin tokens (GATEHOUSE_ADMIN_TOKEN) may have any shape of this length. */
export const MIN_OPERATOR_TOKEN_LENGTH = 32;

/**
 * The row id to look an API token up by. An operator-chosen token without our shape is filed
 * under an id derived from its SHA-256, so lookup stays one row and one scrypt.
 */
export function apiTokenLookupId(presented: string): string | undefined {
  const id = tokenId("api", presented);
  if (id !== undefined) return id;
  if (presented.length < MIN_OPERATOR_TOKEN_LENGTH || presented.length > 128) return undefined;
  return createHash("sha256").update(presented).digest("hex").slice(0, 16);
}

/**
 * Remembers recent successful verifications for a short time, keyed by a SHA-256 of the token
 * (a fast hash is fine here: the key is only compared with tokens that already passed scrypt),
 * so a busy client does not pay scrypt on every request. Revocation evicts by id.
 */
export class VerificationCache<P extends { readonly id: string }> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { principal: P; until: number }>();
  constructor(ttlMs: number, max = 10_000) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }
  static key(presented: string): string {
    return createHash("sha256").update(presented).digest("base64");
  }
  get(key: string, now: number): P | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.until <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.principal;
  }
  set(key: string, principal: P, now: number): void {
    if (this.#ttlMs <= 0) return;
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { principal, until: now + this.#ttlMs });
  }
  evict(id: string): void {
    for (const [k, e] of this.#entries) if (e.principal.id === id) this.#entries.delete(k);
  }
  evictWhere(pred: (p: P) => boolean): void {
    for (const [k, e] of this.#entries) if (pred(e.principal)) this.#entries.delete(k);
  }
}

export { verifySecret };

/**
 * Presented secrets that passed scrypt once, by SHA-256 digest, with the stored hash they
 * matched. A later presentation is proven by looking the row up (which still checks
 * revocation, expiry and status) and comparing the hash: no scrypt, so a known credential is
 * verified cheaply even from an address that other clients' failures put over its limit.
 * Bounded; the oldest entries go first (they are re-proven with one scrypt).
 */
export class ProvenSecrets {
  readonly #max: number;
  readonly #hashOf = new Map<string, string>();
  constructor(max = 10_000) {
    this.#max = max;
  }
  get(digest: string): string | undefined {
    return this.#hashOf.get(digest);
  }
  set(digest: string, hash: string): void {
    if (this.#hashOf.get(digest) === hash) return;
    if (this.#hashOf.size >= this.#max) {
      const oldest = this.#hashOf.keys().next();
      if (!oldest.done) this.#hashOf.delete(oldest.value);
    }
    this.#hashOf.set(digest, hash);
  }
  clear(): void {
    this.#hashOf.clear();
  }
}
