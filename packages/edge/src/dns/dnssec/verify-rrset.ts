// Checking an RRset's signatures against a zone's trusted keys (RFC 4035 §5.3): the RRSIG must
// cover the type, name the zone as signer, not claim more labels than the owner has, be inside its
// validity window (RFC 1982 serial arithmetic on 32-bit times), and verify with a key of that tag
// and algorithm. The work is bounded: at most MAX_SIGS_PER_RRSET signatures and
// MAX_KEYS_PER_TAG keys per signature are tried, and every verification counts against the
// query's budget (the KeyTrap attacks, CVE-2023-50387, send many keys sharing a tag).
// Signatures are checked on the thread pool (crypto.ts), one at a time per RRset.

import type { KeyObject } from "node:crypto";
import { Ede } from "../wire/constants.ts";
import type { ResourceRecord } from "../wire/message.ts";
import { isSubdomainOf, lowerName } from "../wire/name.ts";
import { verifySignature } from "./crypto.ts";
import { type DnskeyData, labelCount, type RrsigData, signedData } from "./records.ts";

export const MAX_SIGS_PER_RRSET = 8;
export const MAX_KEYS_PER_TAG = 4;

export interface TrustedKey {
  readonly data: DnskeyData;
  readonly tag: number;
  readonly key: KeyObject;
}

/** Per-query limits; exceeding one makes the answer bogus. */
export class Budget {
  fetches = 0;
  verifications = 0;
  readonly maxFetches: number;
  readonly maxVerifications: number;
  constructor(maxFetches: number, maxVerifications: number) {
    this.maxFetches = maxFetches;
    this.maxVerifications = maxVerifications;
  }
}

export class WorkLimitError extends Error {}

export type RrsetCheck =
  | { readonly ok: true; readonly sig: RrsigData }
  | { readonly ok: false; readonly ede: number; readonly why: string };

/** Seconds since the epoch compared in RFC 1982 serial arithmetic: a − b as a signed 32-bit. */
function serialDiff(a: number, b: number): number {
  return ((a - b) | 0) as number;
}

export async function verifyRrset(
  rrset: readonly ResourceRecord[],
  sigs: readonly RrsigData[],
  zone: string,
  keys: readonly TrustedKey[],
  now: number,
  budget: Budget,
): Promise<RrsetCheck> {
  const first = rrset[0];
  if (first === undefined) return { ok: false, ede: Ede.DNSSEC_BOGUS, why: "an empty RRset" };
  const owner = lowerName(first.name);
  const ownerLabels = labelCount(owner.startsWith("*.") ? owner.slice(2) : owner);
  let expired = false;
  let notYet = false;
  let noKey = false;
  let tried = 0;
  let usable = 0;
  const now32 = now >>> 0;
  for (const sig of sigs) {
    if (sig.typeCovered !== first.type || sig.signer !== zone) continue;
    if (!isSubdomainOf(owner, zone) || sig.labels > ownerLabels) continue;
    if (++usable > MAX_SIGS_PER_RRSET) break;
    if (serialDiff(now32, sig.expiration) > 0) {
      expired = true;
      continue;
    }
    if (serialDiff(sig.inception, now32) > 0) {
      notYet = true;
      continue;
    }
    let matched = 0;
    let data: Uint8Array | undefined;
    for (const k of keys) {
      if (k.tag !== sig.keyTag || k.data.algorithm !== sig.algorithm) continue;
      if (++matched > MAX_KEYS_PER_TAG) break;
      if (++budget.verifications > budget.maxVerifications)
        throw new WorkLimitError("too many signatures to check");
      tried++;
      data ??= signedData(sig, rrset);
      if (await verifySignature(sig.algorithm, k.key, data, sig.signature))
        return { ok: true, sig };
    }
    if (matched === 0) noKey = true;
  }
  if (usable === 0)
    return { ok: false, ede: Ede.RRSIGS_MISSING, why: `no signature for ${typeLabel(first)}` };
  if (tried > 0)
    return {
      ok: false,
      ede: Ede.DNSSEC_BOGUS,
      why: `signature of ${typeLabel(first)} does not verify`,
    };
  if (expired)
    return {
      ok: false,
      ede: Ede.SIGNATURE_EXPIRED,
      why: `signature of ${typeLabel(first)} expired`,
    };
  if (notYet)
    return {
      ok: false,
      ede: Ede.SIGNATURE_NOT_YET_VALID,
      why: `signature of ${typeLabel(first)} not yet valid`,
    };
  return {
    ok: false,
    ede: noKey ? Ede.DNSKEY_MISSING : Ede.DNSSEC_BOGUS,
    why: `no key of ${zone || "."} made the signature of ${typeLabel(first)}`,
  };
}

function typeLabel(rr: ResourceRecord): string {
  return `${rr.name || "."}/${rr.type}`;
}
