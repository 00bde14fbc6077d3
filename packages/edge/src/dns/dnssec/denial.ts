// Authenticated denial of existence: what a zone's (already signature-checked) NSEC records
// (RFC 4035 §5.4, RFC 6840 §4) or NSEC3 records (RFC 5155 §8) prove about a name — that it does
// not exist (NXDOMAIN, with no wildcard that could have answered), that it has no record of a type
// (NODATA, directly, as an empty non-terminal or through a wildcard), that a wildcard answer was
// rightly synthesized, and, for the chain of trust, whether a name is an unsigned delegation.
// NSEC3 hashing is bounded by RFC 9276: a zone using more than MAX_NSEC3_ITERATIONS iterations is
// treated as insecure (EDE 27), as unbound and BIND do, and more names are never hashed than the
// question has labels.

import { RRType } from "../wire/constants.ts";
import type { ResourceRecord } from "../wire/message.ts";
import { isSubdomainOf, lowerName } from "../wire/name.ts";
import { base32hex, nsec3Hash } from "./crypto.ts";
import {
  compareBytes,
  compareNames,
  type Nsec3Data,
  type NsecData,
  OPT_OUT,
  parentName,
  parseNsec,
  parseNsec3,
  splitLabels,
} from "./records.ts";

/** RFC 9276 §3.2: above this many extra iterations NSEC3 proofs are insecure. */
export const MAX_NSEC3_ITERATIONS = 150;

/** What a proof came to: proven, insecure (opt-out, too many iterations) or not proven. */
export type ProofResult = "proven" | "insecure" | "missing";

/** What a denial of a DS record says about a name in the chain of trust. */
export type DsDenial = "unsigned-delegation" | "no-cut" | "insecure" | "missing";

interface NsecRr {
  readonly owner: string;
  readonly d: NsecData;
}
interface Nsec3Rr {
  readonly hash: string;
  readonly d: Nsec3Data;
}

const wildcardOf = (ce: string) => (ce === "" ? "*" : `*.${ce}`);

/** Longest common ancestor of two names (lowercased). */
export function commonAncestor(a: string, b: string): string {
  const la = splitLabels(a);
  const lb = splitLabels(b);
  const out: string[] = [];
  for (let i = la.length - 1, j = lb.length - 1; i >= 0 && j >= 0; i--, j--) {
    const label = la[i];
    if (label === undefined || label !== lb[j]) break;
    out.unshift(label);
  }
  return out.join(".");
}

/** The child of `ancestor` on the way down to `name`. */
function childToward(name: string, ancestor: string): string {
  const ln = splitLabels(name);
  const la = ancestor === "" ? 0 : splitLabels(ancestor).length;
  return ln.slice(ln.length - la - 1).join(".");
}

/** The denial records of one zone, checked by the caller, and the proofs they allow. */
export class Denial {
  private readonly nsec: NsecRr[] = [];
  private readonly nsec3: Nsec3Rr[] = [];
  private params: Nsec3Data | undefined;
  private readonly hashes = new Map<string, string>();
  readonly zone: string;

  constructor(zone: string, records: readonly ResourceRecord[]) {
    this.zone = zone;
    for (const r of records) {
      const owner = lowerName(r.name);
      if (!isSubdomainOf(owner, zone)) continue;
      if (r.type === RRType.NSEC) this.nsec.push({ owner, d: parseNsec(r) });
      else if (r.type === RRType.NSEC3 && parentName(owner) === zone) {
        const d = parseNsec3(r);
        // RFC 5155 §8.1–8.2: unknown hash algorithms and flags are ignored; one parameter set.
        if (d.hashAlgorithm !== 1 || (d.flags & ~OPT_OUT) !== 0) continue;
        this.params ??= d;
        if (d.iterations !== this.params.iterations || compareBytes(d.salt, this.params.salt) !== 0)
          continue;
        // The owner's first label is the hash; an NSEC3 at the root has none and proves nothing.
        const [hash] = splitLabels(owner);
        if (hash !== undefined) this.nsec3.push({ hash, d });
      }
    }
  }

  get kind(): "nsec" | "nsec3" | "none" {
    return this.nsec.length > 0 ? "nsec" : this.nsec3.length > 0 ? "nsec3" : "none";
  }

  /** RFC 9276: the zone's NSEC3 chain hashes more than we are willing to. */
  get tooManyIterations(): boolean {
    return this.params !== undefined && this.params.iterations > MAX_NSEC3_ITERATIONS;
  }

  // ------------------------------------------------------------ NSEC (RFC 4035 §5.4)

  private nsecAt(name: string): NsecRr | undefined {
    return this.nsec.find((n) => n.owner === name);
  }

  /** An NSEC proving `name` does not exist (covering it, not a delegation or DNAME above it). */
  private nsecCovering(name: string): NsecRr | undefined {
    for (const n of this.nsec) {
      if (compareNames(n.owner, name) >= 0) continue;
      const last = compareNames(n.d.next, n.owner) <= 0;
      if (!last && compareNames(name, n.d.next) >= 0) continue;
      // RFC 6840 §4.1: an NSEC at a delegation or DNAME says nothing about names below it.
      if (
        isSubdomainOf(name, n.owner) &&
        (n.d.types.has(RRType.DNAME) || (n.d.types.has(RRType.NS) && !n.d.types.has(RRType.SOA)))
      )
        continue;
      return n;
    }
    return undefined;
  }

  private nsecClosestEncloser(name: string, cover: NsecRr): string {
    const a = commonAncestor(name, cover.owner);
    const b = commonAncestor(name, cover.d.next);
    return a.length >= b.length ? a : b;
  }

  // ------------------------------------------------------------ NSEC3 (RFC 5155 §8)

  /** The NSEC3 hash of `name`; undefined when the answer has no NSEC3 (nothing can match). */
  private h(name: string): string | undefined {
    let v = this.hashes.get(name);
    if (v === undefined) {
      const p = this.params;
      if (p === undefined) return undefined;
      v = base32hex(nsec3Hash(name, p.salt, p.iterations));
      this.hashes.set(name, v);
    }
    return v;
  }

  private nsec3Matching(name: string): Nsec3Rr | undefined {
    const h = this.h(name);
    return this.nsec3.find((n) => n.hash === h);
  }

  private nsec3Covering(name: string): Nsec3Rr | undefined {
    const h = this.h(name);
    if (h === undefined) return undefined;
    for (const n of this.nsec3) {
      const next = base32hex(n.d.nextHash);
      const last = next <= n.hash;
      if (h > n.hash && (h < next || last)) return n;
      if (last && h < next) return n;
    }
    return undefined;
  }

  /**
   * RFC 5155 §8.3: the closest encloser of `name` (an ancestor with a matching NSEC3 that is not
   * a delegation or DNAME) and the NSEC3 covering the next closer name.
   */
  private closestEncloserProof(name: string): { ce: string; cover: Nsec3Rr } | undefined {
    let ce: string | undefined = parentName(name);
    while (ce !== undefined && isSubdomainOf(ce, this.zone)) {
      const m = this.nsec3Matching(ce);
      if (m) {
        const t = m.d.types;
        if (t.has(RRType.DNAME) || (t.has(RRType.NS) && !t.has(RRType.SOA))) return undefined;
        const cover = this.nsec3Covering(childToward(name, ce));
        return cover ? { ce, cover } : undefined;
      }
      ce = parentName(ce);
    }
    return undefined;
  }

  // ------------------------------------------------------------ proofs

  /** NXDOMAIN: `name` does not exist and no wildcard could have answered for it. */
  nxdomain(name: string): ProofResult {
    if (this.kind === "nsec") {
      const cover = this.nsecCovering(name);
      if (!cover) return "missing";
      const ce = this.nsecClosestEncloser(name, cover);
      const wc = wildcardOf(ce);
      if (this.nsecAt(wc) || !this.nsecCovering(wc)) return "missing";
      return "proven";
    }
    if (this.kind === "nsec3") {
      if (this.tooManyIterations) return "insecure";
      const p = this.closestEncloserProof(name);
      if (!p || !this.nsec3Covering(wildcardOf(p.ce))) return "missing";
      // RFC 5155 §9.2: under opt-out the name may sit below an unsigned delegation.
      return (p.cover.d.flags & OPT_OUT) !== 0 ? "insecure" : "proven";
    }
    return "missing";
  }

  /** NODATA: `name` has no `type` record (and no CNAME). */
  nodata(name: string, type: number): ProofResult {
    const lacks = (t: { has(x: number): boolean }) => !t.has(type) && !t.has(RRType.CNAME);
    if (this.kind === "nsec") {
      const at = this.nsecAt(name);
      if (at) {
        const t = at.d.types;
        if (!lacks(t)) return "missing";
        // A parent-side NSEC at a delegation proves only DS absent; the child's apex NSEC
        // cannot prove that (RFC 6840 §4.1, RFC 4035 §5.4).
        const parentSide = t.has(RRType.NS) && !t.has(RRType.SOA);
        if (type === RRType.DS ? t.has(RRType.SOA) && name !== "" : parentSide) return "missing";
        return "proven";
      }
      const cover = this.nsecCovering(name);
      if (!cover) return "missing";
      // An empty non-terminal: the next name is below it (RFC 4035 §3.1.3.2).
      if (isSubdomainOf(cover.d.next, name) && cover.d.next !== name) return "proven";
      const wc = this.nsecAt(wildcardOf(this.nsecClosestEncloser(name, cover)));
      return wc && lacks(wc.d.types) ? "proven" : "missing";
    }
    if (this.kind === "nsec3") {
      if (this.tooManyIterations) return "insecure";
      const m = this.nsec3Matching(name);
      if (m) {
        if (!lacks(m.d.types)) return "missing";
        const t = m.d.types;
        if (type !== RRType.DS && t.has(RRType.NS) && !t.has(RRType.SOA)) return "missing";
        return "proven";
      }
      const p = this.closestEncloserProof(name);
      if (!p) return "missing";
      // §8.6: a DS NODATA under opt-out: the delegation may be unsigned.
      if (type === RRType.DS && (p.cover.d.flags & OPT_OUT) !== 0) return "insecure";
      // §8.7: wildcard NODATA.
      const wc = this.nsec3Matching(wildcardOf(p.ce));
      return wc && lacks(wc.d.types) ? "proven" : "missing";
    }
    return "missing";
  }

  /**
   * A wildcard answer for `name` expanded from `*.<ce>` (RFC 4035 §5.3.4, RFC 5155 §8.8): the
   * name itself (the next closer name under NSEC3) must be proven not to exist.
   */
  wildcardAnswer(name: string, ce: string): ProofResult {
    if (this.kind === "nsec") return this.nsecCovering(name) ? "proven" : "missing";
    if (this.kind === "nsec3") {
      if (this.tooManyIterations) return "insecure";
      const cover = this.nsec3Covering(childToward(name, ce));
      if (!cover) return "missing";
      return (cover.d.flags & OPT_OUT) !== 0 ? "insecure" : "proven";
    }
    return "missing";
  }

  /** What the denial of a DS record for `name` says about the chain of trust there. */
  dsDenial(name: string): DsDenial {
    if (this.kind === "nsec") {
      const at = this.nsecAt(name);
      if (at) {
        const t = at.d.types;
        if (t.has(RRType.DS) || t.has(RRType.SOA)) return "missing";
        return t.has(RRType.NS) ? "unsigned-delegation" : "no-cut";
      }
      // The name does not exist or is an empty non-terminal: no zone starts there.
      return this.nsecCovering(name) ? "no-cut" : "missing";
    }
    if (this.kind === "nsec3") {
      if (this.tooManyIterations) return "insecure";
      const m = this.nsec3Matching(name);
      if (m) {
        const t = m.d.types;
        if (t.has(RRType.DS) || t.has(RRType.SOA)) return "missing";
        return t.has(RRType.NS) ? "unsigned-delegation" : "no-cut";
      }
      const p = this.closestEncloserProof(name);
      if (!p) return "missing";
      return (p.cover.d.flags & OPT_OUT) !== 0 ? "unsigned-delegation" : "no-cut";
    }
    return "missing";
  }
}
