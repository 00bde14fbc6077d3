// The cryptography of DNSSEC, all through node:crypto: key tags (RFC 4034 Appendix B), DS
// digests (RFC 4034 §5.1.4, RFC 4509, RFC 6605 §2), public keys from DNSKEY RDATA (RSA: RFC 3110
// §2; ECDSA: RFC 6605 §4; Ed25519: RFC 8080 §3) imported as JWK, signature checks, and NSEC3
// owner hashes (RFC 5155 §5) with base32hex (RFC 4648 §7).

import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { u8, u16 } from "../../net/bytes.ts";
import type { DnskeyData, DsData } from "./records.ts";
import { nameWire } from "./records.ts";

/** DNSKEY algorithms this validator verifies (RFC 8624 §3.1 MUSTs, plus SHA-1 RSA). */
export const Algorithm = {
  RSASHA1: 5,
  RSASHA1_NSEC3_SHA1: 7,
  RSASHA256: 8,
  RSASHA512: 10,
  ECDSAP256SHA256: 13,
  ECDSAP384SHA384: 14,
  ED25519: 15,
} as const;

const SUPPORTED = new Set<number>(Object.values(Algorithm));

export function algorithmSupported(alg: number): boolean {
  return SUPPORTED.has(alg);
}

/** DS digest types (RFC 4034 §5.1.3, RFC 4509, RFC 6605). */
const DIGESTS = new Map<number, string>([
  [1, "sha1"],
  [2, "sha256"],
  [4, "sha384"],
]);

export function digestSupported(t: number): boolean {
  return DIGESTS.has(t);
}

/** Largest RSA modulus accepted (bounded work per signature; RFC 3110 allows 4096). */
export const MAX_RSA_BITS = 4096;

/** RFC 4034 Appendix B key tag over the DNSKEY RDATA. */
export function keyTag(rdata: Uint8Array): number {
  let ac = 0;
  for (let i = 0; i < rdata.length; i++) ac += i & 1 ? u8(rdata, i) : u8(rdata, i) << 8;
  ac += (ac >>> 16) & 0xffff;
  return ac & 0xffff;
}

/** digest(owner name | DNSKEY RDATA) for a DS record of `digestType`; undefined if unknown. */
export function dsDigest(
  owner: string,
  key: DnskeyData,
  digestType: number,
): Uint8Array | undefined {
  const h = DIGESTS.get(digestType);
  if (!h) return undefined;
  return createHash(h).update(nameWire(owner)).update(key.rdata).digest();
}

/** True when `ds` names `key` of zone `owner` (lowercased): tag, algorithm and digest match. */
export function dsMatches(owner: string, ds: DsData, key: DnskeyData): boolean {
  if (ds.algorithm !== key.algorithm || ds.keyTag !== keyTag(key.rdata)) return false;
  const d = dsDigest(owner, key, ds.digestType);
  return d !== undefined && Buffer.compare(Buffer.from(d), Buffer.from(ds.digest)) === 0;
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");

/** A verifier's key, or undefined when the DNSKEY is malformed or of an unsupported algorithm. */
export function importKey(key: DnskeyData): KeyObject | undefined {
  const pk = key.publicKey;
  try {
    switch (key.algorithm) {
      case Algorithm.RSASHA1:
      case Algorithm.RSASHA1_NSEC3_SHA1:
      case Algorithm.RSASHA256:
      case Algorithm.RSASHA512: {
        if (pk.length < 3) return undefined;
        let expLen = u8(pk, 0);
        let at = 1;
        if (expLen === 0) {
          expLen = u16(pk, 1);
          at = 3;
        }
        const exp = pk.subarray(at, at + expLen);
        const mod = pk.subarray(at + expLen);
        if (exp.length !== expLen || mod.length === 0 || mod.length * 8 > MAX_RSA_BITS)
          return undefined;
        return createPublicKey({
          key: { kty: "RSA", n: b64url(mod), e: b64url(exp) },
          format: "jwk",
        });
      }
      case Algorithm.ECDSAP256SHA256:
      case Algorithm.ECDSAP384SHA384: {
        const size = key.algorithm === Algorithm.ECDSAP256SHA256 ? 32 : 48;
        if (pk.length !== size * 2) return undefined;
        return createPublicKey({
          key: {
            kty: "EC",
            crv: size === 32 ? "P-256" : "P-384",
            x: b64url(pk.subarray(0, size)),
            y: b64url(pk.subarray(size)),
          },
          format: "jwk",
        });
      }
      case Algorithm.ED25519:
        if (pk.length !== 32) return undefined;
        return createPublicKey({
          key: { kty: "OKP", crv: "Ed25519", x: b64url(pk) },
          format: "jwk",
        });
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/**
 * Check one signature over `data` made with `key` (imported by importKey) for `algorithm`.
 * ECDSA P-384 (about 0.7 ms of CPU a signature with Node's OpenSSL, six times P-256) is checked
 * on libuv's thread pool (`crypto.verify` with a callback), so the event loop goes on answering
 * meanwhile and concurrent checks use both cores; the cheap ones (P-256 about 0.12 ms, Ed25519,
 * RSA) are checked in place, where the hop to a pool thread and back would cost about as much
 * as the check (docs/benchmarks.md). Never rejects: a malformed key or signature is false.
 */
export function verifySignature(
  algorithm: number,
  key: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  let digest: string | null;
  let ecdsa = false;
  switch (algorithm) {
    case Algorithm.RSASHA1:
    case Algorithm.RSASHA1_NSEC3_SHA1:
      digest = "sha1";
      break;
    case Algorithm.RSASHA256:
      digest = "sha256";
      break;
    case Algorithm.RSASHA512:
      digest = "sha512";
      break;
    case Algorithm.ECDSAP256SHA256:
      if (signature.length !== 64) return FALSE;
      digest = "sha256";
      ecdsa = true;
      break;
    case Algorithm.ECDSAP384SHA384:
      if (signature.length !== 96) return FALSE;
      digest = "sha384";
      ecdsa = true;
      break;
    case Algorithm.ED25519:
      if (signature.length !== 64) return FALSE;
      digest = null;
      break;
    default:
      return FALSE;
  }
  const k = ecdsa ? { key, dsaEncoding: "ieee-p1363" as const } : key;
  if (algorithm !== Algorithm.ECDSAP384SHA384) {
    try {
      return verify(digest, data, k, signature) ? TRUE : FALSE;
    } catch {
      return FALSE;
    }
  }
  return new Promise((resolve) => {
    try {
      verify(digest, data, k, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

const FALSE = Promise.resolve(false);
const TRUE = Promise.resolve(true);

/** RFC 5155 §5: IH(salt, owner, iterations) with SHA-1 (hash algorithm 1). */
export function nsec3Hash(name: string, salt: Uint8Array, iterations: number): Uint8Array {
  let h = createHash("sha1").update(nameWire(name)).update(salt).digest();
  for (let i = 0; i < iterations; i++) h = createHash("sha1").update(h).update(salt).digest();
  return h;
}

const B32HEX = "0123456789abcdefghijklmnopqrstuv";

/** Base32 with the extended hex alphabet, lowercase, no padding (RFC 4648 §7, RFC 5155 §3.3). */
export function base32hex(b: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32HEX[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32HEX[(value << (5 - bits)) & 31];
  return out;
}

/** Decode base32hex (either case); undefined when the text is not base32hex. */
export function fromBase32hex(s: string): Uint8Array | undefined {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s.toLowerCase()) {
    const v = B32HEX.indexOf(ch);
    if (v < 0) return undefined;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
      value &= (1 << bits) - 1;
    }
  }
  return Uint8Array.from(out);
}
