// Proxy Basic-auth identities: users (user = email) and devices (user = device name), checked
// against the bundle's scrypt hashes. scrypt is deliberately slow (tens of ms), so a successful
// verification is remembered briefly as an HMAC of the password under a per-process random key:
// later requests with the same credentials cost one HMAC, and the cache never holds a password
// or anything that can be replayed elsewhere.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Identities } from "@gatehouse/contract";
import { hashSecret, verifySecret } from "@gatehouse/contract/secrets";

let decoy: Promise<string> | undefined;

/** A hash of a random secret with the usual KDF parameters, made once per process. */
function decoyHash(): Promise<string> {
  decoy ??= hashSecret(randomBytes(16).toString("base64"));
  return decoy;
}

export interface Identity {
  readonly kind: "user" | "device";
  readonly id: string;
  /** User email (a device's owner's email when it has one). */
  readonly email?: string;
  readonly name: string;
  readonly groups: readonly string[];
  /** For devices: the owning user's id. */
  readonly userId?: string;
}

interface Entry {
  readonly identity: Identity;
  readonly hash: string;
}

interface Cached {
  readonly mac: Buffer;
  readonly until: number;
  readonly identity: Identity;
}

interface IdentityIndexOptions {
  /** How long a successful verification is remembered, ms; default 60 s. */
  cacheTtlMs?: number;
  /** Bound on remembered verifications; default 10,000 (oldest dropped first). */
  cacheSize?: number;
}

export class IdentityIndex {
  private readonly byName = new Map<string, Entry>();
  private readonly cache = new Map<string, Cached>();
  private readonly key = randomBytes(32);
  private readonly ttl: number;
  private readonly max: number;
  /** In-flight verifications per user+password MAC, so a burst runs the KDF once. */
  private readonly pending = new Map<string, Promise<Identity | undefined>>();

  constructor(identities: Identities | undefined, opts: IdentityIndexOptions = {}) {
    this.ttl = opts.cacheTtlMs ?? 60_000;
    this.max = opts.cacheSize ?? 10_000;
    const users = new Map<string, Identities["users"][number]>();
    for (const u of identities?.users ?? []) {
      users.set(u.id, u);
      const identity: Identity = {
        kind: "user",
        id: u.id,
        email: u.email,
        name: u.name ?? u.email,
        groups: u.groups ?? [],
      };
      if (u.credentialHash)
        this.byName.set(u.email.toLowerCase(), { identity, hash: u.credentialHash });
    }
    for (const d of identities?.devices ?? []) {
      const owner = d.userId ? users.get(d.userId) : undefined;
      const identity: Identity = {
        kind: "device",
        id: d.id,
        name: d.name,
        groups: owner?.groups ?? [],
        ...(owner ? { email: owner.email, userId: owner.id } : {}),
      };
      this.byName.set(d.name.toLowerCase(), { identity, hash: d.credentialHash });
    }
  }

  get size(): number {
    return this.byName.size;
  }

  /** The identity for Basic credentials, or undefined (unknown user or wrong password). */
  /** Password checks that ran the KDF (cache hits and joined in-flight checks do not). */
  kdfRuns = 0;

  async verify(user: string, password: string): Promise<Identity | undefined> {
    const name = user.toLowerCase();
    const entry = this.byName.get(name);
    // An unknown name costs the same KDF as a wrong password, so names cannot be told apart by
    // how fast they fail.
    if (!entry) {
      this.kdfRuns++;
      await verifySecret(password, await decoyHash());
      return undefined;
    }
    const mac = createHmac("sha256", this.key).update(name).update("\0").update(password).digest();
    const cached = this.cache.get(name);
    const now = Date.now();
    if (cached && cached.until > now && timingSafeEqual(cached.mac, mac)) return cached.identity;
    const pkey = mac.toString("base64");
    const inflight = this.pending.get(pkey);
    if (inflight) return inflight;
    this.kdfRuns++;
    const p = verifySecret(password, entry.hash)
      .then((ok) => {
        if (!ok) return undefined;
        this.cache.delete(name);
        if (this.cache.size >= this.max) {
          const oldest = this.cache.keys().next().value;
          if (oldest !== undefined) this.cache.delete(oldest);
        }
        this.cache.set(name, { mac, until: Date.now() + this.ttl, identity: entry.identity });
        return entry.identity;
      })
      .finally(() => this.pending.delete(pkey));
    this.pending.set(pkey, p);
    return p;
  }
}
