// The validating part of the forwarder (RFC 4033–4035, RFC 5155, RFC 6840): given an upstream
// answer fetched with DO=1 (and CD=1, so the upstream hands us what it has and we judge it), say
// whether it is secure, insecure (provably unsigned, under a negative trust anchor, or outside
// every trust anchor) or bogus (with the RFC 8914 code naming why).
//
// The chain of trust is walked top-down from the closest trust anchor, one label at a time: for
// each name below a secure zone the validator asks the upstreams for its DS. A signed DS RRset
// makes the name a secure zone (its DNSKEY RRset fetched and checked against the DS); a signed
// denial says it is no zone cut (the parent's keys go on), or an unsigned delegation (everything
// below is insecure). A signed RRset needs the walk only down to its signer; an unsigned one
// down to its owner, where an unsigned delegation must be found or the answer is bogus.
// Results are cached per name (ZONE_CACHE_MAX entries, TTLs from the records, at most
// MAX_ZONE_TTL s; bogus results BOGUS_TTL s), so a warm validator asks nothing for a zone it
// knows; concurrent walks of one name share one fetch. Bogus answers are remembered by cache key
// for BOGUS_TTL s (resolve-name.ts asks before going upstream). Every query has a budget of upstream
// fetches and signature checks.

import type { KeyObject } from "node:crypto";
import { nth } from "../../indexed.ts";
import { Ede, Rcode, RRType } from "../wire/constants.ts";
import type { Message, ResourceRecord } from "../wire/message.ts";
import { isSubdomainOf, lowerName } from "../wire/name.ts";
import { algorithmSupported, digestSupported, dsMatches, importKey, keyTag } from "./crypto.ts";
import { Denial } from "./denial.ts";
import {
  type AnchorRecord,
  ancestorWithLabels,
  type DnskeyData,
  type DsData,
  labelCount,
  parentName,
  parseDnskey,
  parseDs,
  parseRrsig,
  REVOKED,
  type RrsigData,
  ZONE_KEY,
} from "./records.ts";
import { Budget, type TrustedKey, verifyRrset, WorkLimitError } from "./verify-rrset.ts";

export type Security = "secure" | "insecure" | "bogus";

export interface Verdict {
  readonly security: Security;
  /** RFC 8914 info code (bogus answers; 27 for an NSEC3 iteration count we do not hash). */
  readonly ede?: number;
  /** Short reason, for the EDE text and the query log. */
  readonly why?: string;
}

/** Asks the upstreams for (name, type) with DO=1 and CD=1; throws when none answers. */
export type ValidatorFetch = (name: string, type: number) => Promise<Message>;

export interface ValidatorConfig {
  readonly anchors: readonly AnchorRecord[];
  /** Names (lowercased) at and below which nothing is validated (RFC 7646). */
  readonly negativeAnchors: readonly string[];
}

/** Per-query limits (a chain of 40 labels, 64 signature checks). */
export const MAX_FETCHES = 40;
export const MAX_VERIFICATIONS = 64;
/** Keys of one DNSKEY RRset considered. */
export const MAX_KEYS = 16;
export const ZONE_CACHE_MAX = 20_000;
export const MAX_ZONE_TTL = 3600;
export const BOGUS_TTL = 60;
const FAILURE_TTL = 5;

const SECURE: Verdict = { security: "secure" };
const INSECURE: Verdict = { security: "insecure" };
const NTA: Verdict = { security: "insecure", why: "negative trust anchor" };

/** What governs a name: the secure zone it is in, or why it is not secure. */
type ZoneState =
  | { readonly kind: "secure"; readonly zone: string; readonly keys: readonly TrustedKey[] }
  | { readonly kind: "insecure"; readonly why: string; readonly ede?: number }
  | { readonly kind: "bogus"; readonly ede: number; readonly why: string };

interface Cached {
  readonly state: ZoneState;
  readonly until: number;
}

class Bogus extends Error {
  readonly ede: number;
  constructor(ede: number, message: string) {
    super(message);
    this.ede = ede;
  }
}

interface RrsetGroup {
  readonly owner: string;
  readonly type: number;
  readonly rrs: ResourceRecord[];
  readonly sigs: RrsigData[];
}

/** Group records into RRsets by (owner, type) and attach their RRSIGs. */
function groupRrsets(records: readonly ResourceRecord[]): Map<string, RrsetGroup> {
  const out = new Map<string, RrsetGroup>();
  const get = (owner: string, type: number) => {
    const k = `${owner}|${type}`;
    let g = out.get(k);
    if (!g) {
      g = { owner, type, rrs: [], sigs: [] };
      out.set(k, g);
    }
    return g;
  };
  for (const r of records) {
    const owner = lowerName(r.name);
    if (r.type === RRType.RRSIG) {
      try {
        const s = parseRrsig(r);
        get(owner, s.typeCovered).sigs.push(s);
      } catch {
        // A malformed signature is no signature.
      }
    } else get(owner, r.type).rrs.push(r);
  }
  return out;
}

/** The target of a CNAME or DNAME RRset: its first record's name (one without any is bogus). */
function firstName(g: RrsetGroup): string {
  const data = g.rrs[0]?.data;
  if (typeof data !== "string")
    throw new Bogus(Ede.DNSSEC_BOGUS, `${g.owner || "."}/${g.type} names no target`);
  return data;
}

function minTtl(rrs: readonly ResourceRecord[], cap: number): number {
  let t = cap;
  for (const r of rrs) if (r.ttl < t) t = r.ttl;
  return Math.max(t, FAILURE_TTL);
}

export class Validator {
  readonly config: ValidatorConfig;
  fetch: ValidatorFetch;
  /** Identifies the config it was built from (setup.ts reuses it across reloads). */
  configKey = "";
  /** Seconds since the epoch (tests move the clock). */
  now: () => number = () => Math.floor(Date.now() / 1000);
  private readonly anchors = new Map<string, AnchorRecord[]>();
  private readonly zones = new Map<string, Cached>();
  private readonly walking = new Map<string, Promise<ZoneState>>();
  private readonly keyObjects = new Map<string, KeyObject | null>();
  /** Answers found bogus, by cache key, for BOGUS_TTL s (RFC 4035 §4.7). */
  private readonly bogus = new Map<string, { verdict: Verdict; upstream: string; until: number }>();

  constructor(config: ValidatorConfig, fetch: ValidatorFetch) {
    this.config = config;
    this.fetch = fetch;
    for (const a of config.anchors) {
      const list = this.anchors.get(a.owner) ?? [];
      list.push(a);
      this.anchors.set(a.owner, list);
    }
  }

  /** Number of names whose chain state is cached (for tests and metrics). */
  get cachedZones(): number {
    return this.zones.size;
  }

  /** A bogus verdict remembered for this lookup (its cache key), if still fresh. */
  bogusAnswer(key: string): { verdict: Verdict; upstream: string } | undefined {
    const b = this.bogus.get(key);
    if (b === undefined) return undefined;
    if (b.until > Date.now()) return b;
    this.bogus.delete(key);
    return undefined;
  }

  rememberBogus(key: string, verdict: Verdict, upstream: string): void {
    this.bogus.delete(key);
    this.bogus.set(key, { verdict, upstream, until: Date.now() + BOGUS_TTL * 1000 });
    if (this.bogus.size > ZONE_CACHE_MAX)
      this.bogus.delete(this.bogus.keys().next().value as string);
  }

  /** True when `name` is at or below a negative trust anchor. */
  underNegativeAnchor(name: string): boolean {
    for (const n of this.config.negativeAnchors) if (isSubdomainOf(name, n)) return true;
    return false;
  }

  /**
   * Judge an upstream answer to (qname, qtype) fetched with DO=1. Never throws: upstream
   * failures while walking the chain make the answer bogus (the client gets SERVFAIL).
   */
  async validate(msg: Message, qname: string, qtype: number): Promise<Verdict> {
    const name = lowerName(qname);
    if (this.underNegativeAnchor(name)) return NTA;
    if (qtype === RRType.RRSIG) return { security: "insecure", why: "RRSIG query" };
    const budget = new Budget(MAX_FETCHES, MAX_VERIFICATIONS);
    try {
      return await this.validateMessage(msg, name, qtype, budget);
    } catch (e) {
      if (e instanceof Bogus) return { security: "bogus", ede: e.ede, why: e.message };
      if (e instanceof WorkLimitError)
        return { security: "bogus", ede: Ede.DNSSEC_BOGUS, why: e.message };
      throw e;
    }
  }

  private async validateMessage(
    msg: Message,
    qname: string,
    qtype: number,
    budget: Budget,
  ): Promise<Verdict> {
    const sets = groupRrsets(msg.answers);
    let insecure: Verdict | undefined;
    const note = (v: Verdict) => {
      if (v.security === "insecure") insecure ??= v;
    };
    // Follow the chain from the question, as scrub does, validating each RRset on it.
    let current = qname;
    const seen = new Set<string>();
    let hasData = false;
    for (let hops = 0; hops < 20 && !seen.has(current); hops++) {
      seen.add(current);
      if (this.underNegativeAnchor(current)) return NTA;
      const data = sets.get(`${current}|${qtype}`);
      if (data && data.rrs.length > 0) {
        note(await this.checkRrset(data, msg, budget));
        hasData = true;
        break;
      }
      const cname = sets.get(`${current}|${RRType.CNAME}`);
      if (!cname || cname.rrs.length === 0) break;
      const dname = this.dnameAbove(sets, current);
      if (cname.sigs.length === 0 && dname) {
        // RFC 6672 §5.3.3: the synthesized CNAME is unsigned; the DNAME vouches for it.
        note(await this.checkRrset(dname, msg, budget));
        const target = lowerName(firstName(cname));
        const expect = `${current.slice(0, current.length - dname.owner.length)}${lowerName(firstName(dname))}`;
        if (target !== expect.replace(/\.$/, ""))
          throw new Bogus(Ede.DNSSEC_BOGUS, `CNAME at ${current} does not follow its DNAME`);
      } else note(await this.checkRrset(cname, msg, budget));
      current = lowerName(firstName(cname));
    }
    if (!hasData && (msg.rcode === Rcode.NOERROR || msg.rcode === Rcode.NXDOMAIN))
      note(await this.checkDenial(msg, current, qtype, budget));
    return insecure ?? SECURE;
  }

  private dnameAbove(sets: Map<string, RrsetGroup>, name: string): RrsetGroup | undefined {
    for (const g of sets.values())
      if (
        g.type === RRType.DNAME &&
        g.rrs.length > 0 &&
        isSubdomainOf(name, g.owner) &&
        g.owner !== name
      )
        return g;
    return undefined;
  }

  /** One RRset of the answer: signed by a secure zone, or provably in an insecure one. */
  private async checkRrset(g: RrsetGroup, msg: Message, budget: Budget): Promise<Verdict> {
    if (g.sigs.length === 0) {
      const st = await this.stateOf(g.owner, budget);
      if (st.kind === "secure")
        throw new Bogus(Ede.RRSIGS_MISSING, `no signature for ${g.owner || "."}/${g.type}`);
      return this.fromState(st);
    }
    // The signer named by the signatures; the walk goes down to it.
    const signer =
      g.sigs.find((s) => isSubdomainOf(g.owner, s.signer))?.signer ?? nth(g.sigs, 0).signer;
    if (!isSubdomainOf(g.owner, signer))
      throw new Bogus(Ede.DNSSEC_BOGUS, `${g.owner} signed by ${signer || "."}, not an ancestor`);
    const st = await this.stateOf(signer, budget);
    if (st.kind !== "secure") return this.fromState(st);
    if (st.zone !== signer) {
      // Signed by a name that is not a zone: maybe an unsigned zone below a secure one whose
      // signatures are forged; the owner's own state decides.
      throw new Bogus(Ede.DNSSEC_BOGUS, `${signer || "."} is not a signed zone`);
    }
    const r = await verifyRrset(g.rrs, g.sigs, signer, st.keys, this.now(), budget);
    if (!r.ok) throw new Bogus(r.ede, r.why);
    // A wildcard expansion needs proof that the name itself does not exist.
    const ownerLabels = labelCount(g.owner.startsWith("*.") ? g.owner.slice(2) : g.owner);
    if (r.sig.labels < ownerLabels) {
      const ce = ancestorWithLabels(g.owner, r.sig.labels);
      const denial = await this.denialOf(msg, st, budget);
      const p = denial.wildcardAnswer(g.owner, ce);
      if (p === "missing")
        throw new Bogus(Ede.NSEC_MISSING, `no proof for the wildcard answer at ${g.owner}`);
      if (p === "insecure") return this.nsec3Insecure(denial);
    }
    return SECURE;
  }

  /** NXDOMAIN or NODATA for `name`: the zone's signed NSEC/NSEC3 must prove it. */
  private async checkDenial(
    msg: Message,
    name: string,
    qtype: number,
    budget: Budget,
  ): Promise<Verdict> {
    // The zone that answers: the signer of the authority records, else the SOA's owner.
    let signer: string | undefined;
    let soaOwner: string | undefined;
    for (const r of msg.authorities) {
      if (r.type === RRType.SOA) soaOwner ??= lowerName(r.name);
      if (r.type === RRType.RRSIG) {
        try {
          const s = parseRrsig(r);
          if (isSubdomainOf(name, s.signer)) signer ??= s.signer;
        } catch {}
      }
    }
    if (signer === undefined) {
      const st = await this.stateOf(name, budget);
      if (st.kind === "secure")
        throw new Bogus(
          Ede.NSEC_MISSING,
          `no signed denial for ${name || "."}/${qtype} from ${st.zone || "."}`,
        );
      return this.fromState(st);
    }
    const st = await this.stateOf(signer, budget);
    if (st.kind !== "secure") return this.fromState(st);
    if (st.zone !== signer)
      throw new Bogus(Ede.DNSSEC_BOGUS, `${signer || "."} is not a signed zone`);
    if (soaOwner !== undefined && soaOwner !== signer)
      throw new Bogus(
        Ede.DNSSEC_BOGUS,
        `SOA of ${soaOwner || "."} in a denial signed by ${signer}`,
      );
    const denial = await this.denialOf(msg, st, budget);
    const p = msg.rcode === Rcode.NXDOMAIN ? denial.nxdomain(name) : denial.nodata(name, qtype);
    if (p === "missing")
      throw new Bogus(
        Ede.NSEC_MISSING,
        `${msg.rcode === Rcode.NXDOMAIN ? "NXDOMAIN" : "NODATA"} for ${name || "."}/${qtype} not proven`,
      );
    if (p === "insecure") return this.nsec3Insecure(denial);
    return SECURE;
  }

  private nsec3Insecure(d: Denial): Verdict {
    return d.tooManyIterations
      ? {
          security: "insecure",
          ede: Ede.UNSUPPORTED_NSEC3_ITERATIONS,
          why: "NSEC3 iterations above the limit",
        }
      : { security: "insecure", why: "NSEC3 opt-out" };
  }

  /**
   * The zone's NSEC/NSEC3 records of the authority section, each RRset's signature checked with
   * the zone's keys (a record that does not verify makes the answer bogus).
   */
  private async denialOf(
    msg: Message,
    st: ZoneState & { kind: "secure" },
    budget: Budget,
  ): Promise<Denial> {
    const sets = groupRrsets(msg.authorities);
    const ok: ResourceRecord[] = [];
    for (const g of sets.values()) {
      if (g.type !== RRType.NSEC && g.type !== RRType.NSEC3 && g.type !== RRType.SOA) continue;
      if (g.rrs.length === 0 || !isSubdomainOf(g.owner, st.zone)) continue;
      const r = await verifyRrset(g.rrs, g.sigs, st.zone, st.keys, this.now(), budget);
      if (!r.ok) throw new Bogus(r.ede, r.why);
      if (g.type !== RRType.SOA) ok.push(...g.rrs);
    }
    return new Denial(st.zone, ok);
  }

  private fromState(st: ZoneState): Verdict {
    if (st.kind === "bogus") throw new Bogus(st.ede, st.why);
    if (st.kind === "secure") return SECURE;
    return st.ede !== undefined
      ? { security: "insecure", ede: st.ede, why: st.why }
      : st.why === "negative trust anchor"
        ? NTA
        : INSECURE;
  }

  // ------------------------------------------------------------ the chain of trust

  /** The state governing `name`: walked from the closest trust anchor down, cached per name. */
  private async stateOf(name: string, budget: Budget): Promise<ZoneState> {
    const now = Date.now();
    const c = this.zones.get(name);
    if (c && c.until > now) return c.state;
    const running = this.walking.get(name);
    if (running) return running;
    const p = this.walk(name, budget).then(
      (r) => {
        this.remember(name, r.state, r.ttl);
        return r.state;
      },
      (e) => {
        if (e instanceof Bogus) {
          const state: ZoneState = { kind: "bogus", ede: e.ede, why: e.message };
          this.remember(name, state, e.ede === Ede.NETWORK_ERROR ? FAILURE_TTL : BOGUS_TTL);
          return state;
        }
        throw e;
      },
    );
    this.walking.set(name, p);
    const clear = () => {
      if (this.walking.get(name) === p) this.walking.delete(name);
    };
    p.then(clear, clear);
    return p;
  }

  private remember(name: string, state: ZoneState, ttl: number): void {
    this.zones.delete(name);
    this.zones.set(name, { state, until: Date.now() + ttl * 1000 });
    while (this.zones.size > ZONE_CACHE_MAX) {
      const oldest = this.zones.keys().next().value as string;
      this.zones.delete(oldest);
    }
  }

  private async walk(name: string, budget: Budget): Promise<{ state: ZoneState; ttl: number }> {
    if (this.underNegativeAnchor(name))
      return { state: { kind: "insecure", why: "negative trust anchor" }, ttl: MAX_ZONE_TTL };
    const anchor = this.anchors.get(name);
    if (anchor) return this.fromAnchor(name, anchor, budget);
    const parent = parentName(name);
    if (parent === undefined)
      return { state: { kind: "insecure", why: "no trust anchor" }, ttl: MAX_ZONE_TTL };
    const up = await this.stateOf(parent, budget);
    if (up.kind !== "secure") return { state: up, ttl: MAX_ZONE_TTL };
    // Is `name` a secure zone, an unsigned delegation, or just a name in the parent's zone?
    const m = await this.ask(name, RRType.DS, budget);
    const sets = groupRrsets(m.answers);
    const ds = sets.get(`${name}|${RRType.DS}`);
    if (m.rcode === Rcode.NOERROR && ds && ds.rrs.length > 0) {
      const r = await verifyRrset(ds.rrs, ds.sigs, up.zone, up.keys, this.now(), budget);
      if (!r.ok) throw new Bogus(r.ede, `DS of ${name}: ${r.why}`);
      return this.fromDs(name, ds.rrs.map(parseDs), minTtl(ds.rrs, MAX_ZONE_TTL), budget);
    }
    const cname = sets.get(`${name}|${RRType.CNAME}`);
    if (m.rcode === Rcode.NOERROR && cname && cname.rrs.length > 0) {
      // An alias is never a zone cut; its signature must still come from the parent zone.
      const r = await verifyRrset(cname.rrs, cname.sigs, up.zone, up.keys, this.now(), budget);
      if (!r.ok) throw new Bogus(r.ede, `CNAME at ${name}: ${r.why}`);
      return { state: up, ttl: minTtl(cname.rrs, MAX_ZONE_TTL) };
    }
    if (m.rcode !== Rcode.NOERROR && m.rcode !== Rcode.NXDOMAIN)
      throw new Bogus(Ede.NETWORK_ERROR, `DS of ${name}: rcode ${m.rcode}`);
    const denial = await this.denialOf(m, up, budget);
    const ttl = minTtl(m.authorities, MAX_ZONE_TTL);
    switch (denial.dsDenial(name)) {
      case "no-cut":
        return { state: up, ttl };
      case "unsigned-delegation":
        return { state: { kind: "insecure", why: `unsigned delegation at ${name}` }, ttl };
      case "insecure":
        return {
          state: {
            kind: "insecure",
            why: "NSEC3 iterations above the limit",
            ede: Ede.UNSUPPORTED_NSEC3_ITERATIONS,
          },
          ttl,
        };
      default:
        throw new Bogus(Ede.NSEC_MISSING, `no signed DS or proof of its absence for ${name}`);
    }
  }

  private async fromAnchor(
    name: string,
    anchors: readonly AnchorRecord[],
    budget: Budget,
  ): Promise<{ state: ZoneState; ttl: number }> {
    const ds = anchors.flatMap((a) => (a.ds ? [a.ds] : []));
    const dnskeys = anchors.flatMap((a) => (a.dnskey ? [a.dnskey] : []));
    if (ds.length > 0) return this.fromDs(name, ds, MAX_ZONE_TTL, budget, dnskeys);
    return this.fromDs(name, [], MAX_ZONE_TTL, budget, dnskeys);
  }

  /**
   * A zone whose DS set (validated, or a trust anchor) is known: fetch its DNSKEY RRset, find
   * the keys the DS records (or anchor DNSKEYs) name, and check the RRset is signed by one.
   */
  private async fromDs(
    zone: string,
    dsSet: readonly DsData[],
    ttlCap: number,
    budget: Budget,
    anchorKeys: readonly { rdata: Uint8Array; algorithm: number }[] = [],
  ): Promise<{ state: ZoneState; ttl: number }> {
    const usableDs = dsSet.filter(
      (d) => algorithmSupported(d.algorithm) && digestSupported(d.digestType),
    );
    const usableAnchors = anchorKeys.filter((k) => algorithmSupported(k.algorithm));
    // RFC 4035 §5.2: no DS we can use means the zone is treated as unsigned.
    if (usableDs.length === 0 && usableAnchors.length === 0)
      return {
        state: { kind: "insecure", why: `no supported DS algorithm for ${zone || "."}` },
        ttl: ttlCap,
      };
    const m = await this.ask(zone, RRType.DNSKEY, budget);
    const g = groupRrsets(m.answers).get(`${zone}|${RRType.DNSKEY}`);
    if (!g || g.rrs.length === 0)
      throw new Bogus(Ede.DNSKEY_MISSING, `no DNSKEY for ${zone || "."}`);
    const keys: TrustedKey[] = [];
    const entry: TrustedKey[] = [];
    for (const rr of g.rrs.slice(0, MAX_KEYS)) {
      let d: ReturnType<typeof parseDnskey>;
      try {
        d = parseDnskey(rr);
      } catch {
        continue;
      }
      if (d.protocol !== 3 || (d.flags & ZONE_KEY) === 0 || (d.flags & REVOKED) !== 0) continue;
      const key = this.keyObject(d);
      if (!key) continue;
      const tk: TrustedKey = { data: d, tag: keyTag(d.rdata), key };
      keys.push(tk);
      const named =
        usableDs.some((ds) => dsMatches(zone, ds, d)) ||
        usableAnchors.some((a) => Buffer.compare(Buffer.from(a.rdata), Buffer.from(d.rdata)) === 0);
      if (named) entry.push(tk);
    }
    if (entry.length === 0)
      throw new Bogus(Ede.DNSKEY_MISSING, `no DNSKEY of ${zone || "."} matches its DS`);
    const r = await verifyRrset(g.rrs, g.sigs, zone, entry, this.now(), budget);
    if (!r.ok) throw new Bogus(r.ede, `DNSKEY of ${zone || "."}: ${r.why}`);
    return {
      state: { kind: "secure", zone, keys },
      ttl: Math.min(minTtl(g.rrs, MAX_ZONE_TTL), ttlCap),
    };
  }

  private keyObject(d: DnskeyData): KeyObject | undefined {
    const id = Buffer.from(d.rdata).toString("base64");
    let k = this.keyObjects.get(id);
    if (k === undefined) {
      k = importKey(d) ?? null;
      if (this.keyObjects.size > ZONE_CACHE_MAX) this.keyObjects.clear();
      this.keyObjects.set(id, k);
    }
    return k ?? undefined;
  }

  private async ask(name: string, type: number, budget: Budget): Promise<Message> {
    if (++budget.fetches > budget.maxFetches) throw new WorkLimitError("chain of trust too long");
    try {
      return await this.fetch(name, type);
    } catch (e) {
      throw new Bogus(
        Ede.NETWORK_ERROR,
        `could not fetch ${type === RRType.DS ? "DS" : "DNSKEY"} of ${name || "."}: ${(e as Error).message}`,
      );
    }
  }
}
