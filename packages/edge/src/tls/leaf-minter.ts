// Leaf certificates for inspected hosts: one per name (or IP), ECDSA P-256 with its own key,
// SAN = the name, a random 128-bit serial, valid 7 days at most (and never past the issuing
// intermediate), served with the intermediate. Two caches, both least-recently-used:
//   leaves   — the certificate and key per name (about 1.5 KB each; 10,000 by default);
//   contexts — the tls.SecureContext built from a leaf (OpenSSL's SSL_CTX, tens of KB each; a
//              few hundred for the names in use right now), rebuilt from the leaf on a miss.
// Concurrent requests for one name share one mint (the in-flight map); the key pair and the
// signature are made on libuv's thread pool, not on the event loop. A new intermediate
// (rotation) or a revocation empties both caches: the next handshakes mint under the new one,
// while connections already up keep the context they have.
// Session tickets: every context encrypts its TLS session tickets with the minter's ticket keys
// (not Node's random keys per context), so a ticket resumes on any of the edge's contexts, after
// a context was rebuilt, and — with the keys the workers' primary hands out (workers.ts) — on
// any worker. A minter given no keys makes its own and replaces them every hour.

import { constants, generateKeyPair, type KeyObject, randomBytes, sign } from "node:crypto";
import type { SecureContext } from "node:tls";
import { tls } from "../net/node-tls.ts";
import { Counter, Gauge, Histogram, type Registry } from "../telemetry/prom-client.ts";
import { registryMetric } from "../telemetry/registry-metric.ts";
import {
  derToPem,
  type LeafTemplate,
  leafCertificate,
  leafTbs,
  leafTemplate,
  mintableName,
} from "./leaf-der.ts";

export const LEAF_VALIDITY_MS = 7 * 86_400_000;
/** Leaves start this much in the past: clients' clocks drift. */
const LEAF_BACKDATE_MS = 60 * 60_000;
/** Session-ticket keys are replaced this often (by the minter itself, or by the workers' primary). */
export const TICKET_KEY_ROTATION_MS = 60 * 60_000;
/** Node's ticket keys: 16 bytes of key name, 16 of HMAC key, 16 of AES key. */
export const TICKET_KEY_BYTES = 48;
/** A cached leaf this close to its end is minted again. */
const LEAF_RENEW_MARGIN_MS = 60 * 60_000;
/**
 * Key-exchange groups offered to inspected clients, in the order we pick them: X25519 first.
 * Node's OpenSSL would otherwise pick the hybrid X25519MLKEM768 whenever the client offers it
 * (current browsers and Node clients do): the ML-KEM encapsulation and its 1.2 KB key share cost
 * the edge 5-12 % more instructions per full handshake for a hop on the organisation's own
 * network (the origin side keeps Node's defaults). The hybrid stays on the list for a client
 * that offers nothing else. Squid ssl-bump on Debian's OpenSSL 3.0 has no hybrid and picks X25519.
 */
export const CLIENT_SIDE_GROUPS = "X25519:P-256:P-384:X25519MLKEM768";

/**
 * Cipher suites offered to inspected clients: Node's defaults with TLS_AES_128_GCM_SHA256 first
 * (what browsers ask for first; Node clients ask for TLS_AES_256_GCM_SHA384 first): its key
 * schedule hashes with SHA-256 instead of SHA-384 and its records take 10 AES rounds instead of
 * 14 — 5.6 % less CPU per full handshake, both sides counted, in an in-process pair
 * (docs/benchmarks.md). Made on first use, as node:tls is loaded lazily.
 */
let clientSideCiphers: string | undefined;
export function clientSideCipherList(): string {
  clientSideCiphers ??= [
    "TLS_AES_128_GCM_SHA256",
    ...tls()
      .DEFAULT_CIPHERS.split(":")
      .filter((c) => c !== "TLS_AES_128_GCM_SHA256"),
  ].join(":");
  return clientSideCiphers;
}

/** The intermediate that signs leaves: its certificate (PEM) and private key. */
export interface LeafIssuer {
  readonly certPem: string;
  readonly key: KeyObject;
  /** Lowercase hex serial of the intermediate (matched against revocations). */
  readonly serial: string;
}

export interface Leaf {
  readonly host: string;
  /** The leaf, PEM. */
  readonly certPem: string;
  /** The intermediate that signed it, PEM (shared by every leaf it signed). */
  readonly issuerPem: string;
  readonly keyPem: string;
  readonly notAfter: number;
  readonly issuerSerial: string;
}

export interface LeafMinterOptions {
  /** Leaves kept (by name); default 10,000. */
  readonly maxLeaves?: number;
  /** SecureContexts kept; default 512. */
  readonly maxContexts?: number;
  /** Leaf validity; default and maximum 7 days. */
  readonly leafValidityMs?: number;
  readonly registry?: Registry;
  readonly now?: () => number;
  /** Told of every new (or withdrawn) intermediate: a primary hands it on to its workers. */
  readonly onIssuer?: (issuer: LeafIssuer | undefined) => void;
}

export interface LeafMinterMetrics {
  readonly lookups: Counter<"result">;
  readonly mints: Counter<"result">;
  readonly mintSeconds: Histogram;
  readonly cached: Gauge<"cache">;
}

export function leafMinterMetrics(registry: Registry): LeafMinterMetrics {
  return {
    lookups: registryMetric(
      registry,
      "gatehouse_proxy_tls_leaf_lookups_total",
      () =>
        new Counter({
          name: "gatehouse_proxy_tls_leaf_lookups_total",
          help: "Leaf certificate lookups for inspected hosts: hit (cached leaf), miss (minted or joined a mint in flight)",
          labelNames: ["result"],
          registers: [registry],
        }),
    ),
    mints: registryMetric(
      registry,
      "gatehouse_proxy_tls_leaf_mints_total",
      () =>
        new Counter({
          name: "gatehouse_proxy_tls_leaf_mints_total",
          help: "Leaf certificates minted, by result (ok, error, no_issuer, bad_name)",
          labelNames: ["result"],
          registers: [registry],
        }),
    ),
    mintSeconds: registryMetric(
      registry,
      "gatehouse_proxy_tls_leaf_mint_seconds",
      () =>
        new Histogram({
          name: "gatehouse_proxy_tls_leaf_mint_seconds",
          help: "Time to mint one leaf certificate (key pair, signature, TLS context)",
          buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
          registers: [registry],
        }),
    ),
    cached: registryMetric(
      registry,
      "gatehouse_proxy_tls_leaf_cache_entries",
      () =>
        new Gauge({
          name: "gatehouse_proxy_tls_leaf_cache_entries",
          help: "Entries in the leaf caches: leaf (certificate and key per name), context (TLS contexts built from them)",
          labelNames: ["cache"],
          registers: [registry],
        }),
    ),
  };
}

/** A serial number as revocation lists compare it: lowercase hex without leading zeros. */
export function serialKey(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, "");
}

/** Why no leaf: no intermediate yet (or it was revoked), or a name that cannot be certified. */
export class LeafUnavailable extends Error {
  readonly reason: "no_issuer" | "bad_name";
  constructor(reason: "no_issuer" | "bad_name", message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A Map used as an LRU: get() moves the entry to the newest end; set() evicts the oldest. */
class Lru<V> {
  readonly #max: number;
  readonly #m = new Map<string, V>();
  constructor(max: number) {
    this.#max = Math.max(1, max);
  }
  get size(): number {
    return this.#m.size;
  }
  get(k: string): V | undefined {
    const v = this.#m.get(k);
    if (v !== undefined) {
      this.#m.delete(k);
      this.#m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.#m.delete(k);
    this.#m.set(k, v);
    if (this.#m.size > this.#max) {
      const oldest = this.#m.keys().next();
      if (!oldest.done) this.#m.delete(oldest.value);
    }
  }
  delete(k: string): void {
    this.#m.delete(k);
  }
  clear(): void {
    this.#m.clear();
  }
}

function newKeyPair(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return new Promise((resolve, reject) =>
    generateKeyPair("ec", { namedCurve: "P-256" }, (err, publicKey, privateKey) =>
      err ? reject(err) : resolve({ publicKey, privateKey }),
    ),
  );
}

function signAsync(data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    sign("sha256", data, key, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
}

export class LeafMinter {
  readonly #leaves: Lru<Leaf>;
  readonly #contexts: Lru<SecureContext>;
  readonly #inFlight = new Map<string, Promise<Leaf>>();
  readonly #validity: number;
  readonly #now: () => number;
  readonly #m: LeafMinterMetrics | undefined;
  #issuer: (LeafIssuer & { readonly template: LeafTemplate }) | undefined;
  /** Bumped with each issuer change: a mint that started under the previous one is not cached. */
  #epoch = 0;
  /** Session-ticket keys of every context (TICKET_KEY_BYTES). */
  #ticketKeys: Buffer = randomBytes(TICKET_KEY_BYTES);
  /** When the minter replaces its own keys (its clock, `now`); Infinity once given keys. */
  #ticketKeysUntil: number;

  constructor(opts: LeafMinterOptions = {}) {
    this.#leaves = new Lru(opts.maxLeaves ?? 10_000);
    this.#contexts = new Lru(opts.maxContexts ?? 512);
    this.#validity = Math.min(opts.leafValidityMs ?? LEAF_VALIDITY_MS, LEAF_VALIDITY_MS);
    this.#now = opts.now ?? Date.now;
    this.#ticketKeysUntil = this.#now() + TICKET_KEY_ROTATION_MS;
    this.#m = opts.registry ? leafMinterMetrics(opts.registry) : undefined;
    this.#onIssuer = opts.onIssuer;
  }

  readonly #onIssuer: ((issuer: LeafIssuer | undefined) => void) | undefined;

  /** The caches' sizes, set where they change (mints and context builds, not lookups). */
  #gauge(): void {
    this.#m?.cached.set({ cache: "leaf" }, this.#leaves.size);
    this.#m?.cached.set({ cache: "context" }, this.#contexts.size);
  }

  /** Sign leaves with this intermediate from now on (enrolment, rotation); undefined stops. */
  setIssuer(issuer: LeafIssuer | undefined): void {
    this.#issuer = issuer ? { ...issuer, template: leafTemplate(issuer.certPem) } : undefined;
    this.#epoch++;
    this.#leaves.clear();
    this.#contexts.clear();
    this.#gauge();
    this.#onIssuer?.(issuer);
  }

  /**
   * Encrypt session tickets with these keys from now on (the workers' primary hands the same
   * keys to every worker and replaces them every TICKET_KEY_ROTATION_MS): the cached contexts
   * are dropped and rebuilt from their leaves with the new keys on next use. Tickets issued
   * under the previous keys no longer resume (a full handshake, and a new ticket).
   */
  setTicketKeys(keys: Uint8Array): void {
    if (keys.byteLength !== TICKET_KEY_BYTES)
      throw new RangeError(`ticket keys are ${TICKET_KEY_BYTES} bytes, not ${keys.byteLength}`);
    this.#ticketKeys = Buffer.from(keys);
    this.#ticketKeysUntil = Number.POSITIVE_INFINITY;
    this.#contexts.clear();
    this.#gauge();
  }

  get issuerSerial(): string | undefined {
    return this.#issuer?.serial;
  }

  /** Stop using the intermediate when control lists it as revoked (serials as serialKey()). */
  revoke(serials: ReadonlySet<string>): boolean {
    if (this.#issuer && serials.has(serialKey(this.#issuer.serial))) {
      this.setIssuer(undefined);
      return true;
    }
    return false;
  }

  get leafCount(): number {
    return this.#leaves.size;
  }

  /** The leaf for `host` (lowercase name or IP), cached or minted once. */
  leaf(host: string): Promise<Leaf> {
    const cached = this.#leaves.get(host);
    if (cached !== undefined && cached.notAfter - LEAF_RENEW_MARGIN_MS > this.#now()) {
      this.#m?.lookups.inc({ result: "hit" });
      return Promise.resolve(cached);
    }
    this.#m?.lookups.inc({ result: "miss" });
    const pending = this.#inFlight.get(host);
    if (pending) return pending;
    const p = this.#mint(host).finally(() => this.#inFlight.delete(host));
    this.#inFlight.set(host, p);
    return p;
  }

  /** A TLS context serving the leaf for `host` with its chain. */
  async secureContext(host: string): Promise<SecureContext> {
    return this.cachedContext(host) ?? this.#contextOf(host, await this.leaf(host));
  }

  /**
   * The context for `host` now, without a promise, when its leaf is cached and still good (the
   * common case: every connection to a name after its first); undefined when the leaf must be
   * minted (or renewed) first — then `secureContext`. Counted as a leaf lookup hit.
   */
  cachedContext(host: string): SecureContext | undefined {
    const leaf = this.#leaves.get(host);
    if (leaf === undefined || leaf.notAfter - LEAF_RENEW_MARGIN_MS <= this.#now()) return undefined;
    this.#m?.lookups.inc({ result: "hit" });
    return this.#contextOf(host, leaf);
  }

  #contextOf(host: string, leaf: Leaf): SecureContext {
    if (this.#now() >= this.#ticketKeysUntil) {
      // Keys of its own, due for replacement: contexts are rebuilt with the new ones.
      this.#ticketKeys = randomBytes(TICKET_KEY_BYTES);
      this.#ticketKeysUntil = this.#now() + TICKET_KEY_ROTATION_MS;
      this.#contexts.clear();
    }
    const ctx = this.#contexts.get(host);
    if (ctx !== undefined && (ctx as SecureContext & { leaf?: Leaf }).leaf === leaf) return ctx;
    const made = tls().createSecureContext({
      // Served with the intermediate: clients hold only the root.
      cert: leaf.certPem + leaf.issuerPem,
      key: leaf.keyPem,
      minVersion: "TLSv1.2",
      ecdhCurve: CLIENT_SIDE_GROUPS,
      // Our order, not the client's, picks the group and the cipher: without it OpenSSL takes
      // the client's first key share (the hybrid) and its first suite.
      honorCipherOrder: true,
      ciphers: clientSideCipherList(),
      // A client-initiated TLS 1.2 renegotiation is refused (Node allows 3 per 10 minutes by
      // default): it costs us a handshake each time and gains an inspected client nothing.
      secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
      // The minter's (or the primary's) keys: a ticket resumes on every context and worker.
      ticketKeys: this.#ticketKeys,
    });
    (made as SecureContext & { leaf?: Leaf }).leaf = leaf;
    this.#contexts.set(host, made);
    this.#gauge();
    return made;
  }

  async #mint(host: string): Promise<Leaf> {
    const issuer = this.#issuer;
    if (!issuer) {
      this.#m?.mints.inc({ result: "no_issuer" });
      throw new LeafUnavailable("no_issuer", "no intermediate CA yet: this edge cannot inspect");
    }
    if (!mintableName(host)) {
      this.#m?.mints.inc({ result: "bad_name" });
      throw new LeafUnavailable("bad_name", `cannot certify ${JSON.stringify(host.slice(0, 80))}`);
    }
    const epoch = this.#epoch;
    const started = performance.now();
    try {
      const { publicKey, privateKey } = await newKeyPair();
      const now = this.#now();
      const serial = randomBytes(16);
      serial[0] = (serial.readUInt8(0) & 0x7f) | 0x01; // positive, no leading zero octet
      const notAfter = Math.min(now + this.#validity, issuer.template.issuerNotAfter);
      const tbs = leafTbs(
        issuer.template,
        host,
        serial,
        now - LEAF_BACKDATE_MS,
        notAfter,
        publicKey.export({ format: "der", type: "spki" }),
      );
      const der = leafCertificate(tbs, await signAsync(tbs, issuer.key));
      const leaf: Leaf = {
        host,
        certPem: derToPem(der),
        issuerPem: issuer.certPem,
        keyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
        notAfter,
        issuerSerial: issuer.serial,
      };
      if (epoch === this.#epoch) {
        this.#leaves.set(host, leaf);
        this.#gauge();
      }
      this.#m?.mints.inc({ result: "ok" });
      this.#m?.mintSeconds.observe((performance.now() - started) / 1000);
      return leaf;
    } catch (e) {
      this.#m?.mints.inc({ result: "error" });
      throw e;
    }
  }
}
