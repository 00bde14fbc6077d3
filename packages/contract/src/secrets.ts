// Secrets (API tokens, edge credentials, proxy passwords) are stored only as slow-KDF hashes
// and compared in constant time. Node-only: import from "@gatehouse/contract/secrets".

import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt cost parameters: N (CPU/memory cost, a power of two), r (block size), p (parallelism). */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** For random tokens and credentials (256 bits of entropy: the KDF only has to be slow-ish). */
const PARAMS: ScryptParams = { N: 16384, r: 8, p: 1 };
/**
 * For passwords people choose: OWASP's scrypt minimum (N=2^17, r=8, p=1: 128 MiB, a few hundred
 * milliseconds a hash). The parameters are stored with each hash, so raising them later only
 * affects new hashes.
 */
export const PASSWORD_SCRYPT: ScryptParams = { N: 131072, r: 8, p: 1 };
const KEYLEN = 32;

function scryptAsync(
  secret: string,
  salt: Buffer,
  keylen: number,
  opts: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$N$r$p$<salt b64>$<hash b64>` */
export async function hashSecret(secret: string, params: ScryptParams = PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p } = params;
  const key = await scryptAsync(secret, salt, KEYLEN, {
    N,
    r,
    p,
    maxmem: 256 * N * r + 1024 * 1024,
  });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Verify a secret against a stored hash; false for malformed hashes. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  const [scheme, nText, rText, pText, saltText, keyText] = parts;
  if (parts.length !== 6 || scheme !== "scrypt" || saltText === undefined || keyText === undefined)
    return false;
  const [N, r, p] = [Number(nText), Number(rText), Number(pText)];
  if (![N, r, p].every((x) => Number.isSafeInteger(x) && x > 0) || N > 1 << 20 || r > 32 || p > 16)
    return false;
  const salt = Buffer.from(saltText, "base64");
  const expected = Buffer.from(keyText, "base64");
  if (expected.length < 16 || expected.length > 64) return false;
  const key = await scryptAsync(secret, salt, expected.length, {
    N,
    r,
    p,
    maxmem: 256 * N * r + 1024 * 1024,
  });
  return timingSafeEqual(key, expected);
}

/** A random secret for tokens and credentials: `<prefix>_<43 chars base64url>`. */
export function generateSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString("base64url")}`;
}

/**
 * A per-device DoH URL token (`/dns-query/<token>`): 256 random bits, base64url. It is a bearer
 * secret with full entropy, so it is stored as SHA-256 (dohTokenDigest), not a slow hash: the
 * edge hashes the token of every DoH query that carries one.
 */
export function newDohToken(): string {
  return randomBytes(32).toString("base64url");
}

/** SHA-256 of a DoH token, base64url (43 characters): what control stores and bundles carry. */
export function dohTokenDigest(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}
