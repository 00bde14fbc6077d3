// Local zones ("local DNS records"): the bundle's `localZones`, parsed (contract/zone-file.ts)
// and indexed once per config. Answers follow RFC 1034 §4.3.2 for an authoritative server: the
// name's records of the asked type; a CNAME (followed inside the zone, handed to resolution
// when it leaves it); NODATA (NOERROR, no answer) for a name that exists with other types or
// is an empty non-terminal; a wildcard `*.<closest encloser>` synthesized for names that do not
// exist (RFC 4592); NXDOMAIN otherwise. Negative answers carry the zone's SOA with the TTL of
// RFC 2308 §5 (min of the SOA's TTL and its MINIMUM). No delegations: NS records are data.

import type { LocalZone, ZoneRecord } from "@gatehouse/contract";
import { parseZoneFile } from "@gatehouse/contract/zone-file";
import { parseIp } from "@gatehouse/rules";
import { IpSet } from "../lists/ip-set.ts";
import { parseCidr } from "../net/ip-address.ts";
import { RRClass, RRType } from "./wire/constants.ts";
import type { RData, ResourceRecord } from "./wire/message.ts";

const TYPE_CODE: Record<ZoneRecord["type"], number> = {
  A: RRType.A,
  AAAA: RRType.AAAA,
  CNAME: RRType.CNAME,
  MX: RRType.MX,
  TXT: RRType.TXT,
  SRV: RRType.SRV,
  PTR: RRType.PTR,
  CAA: RRType.CAA,
  NS: RRType.NS,
  SOA: RRType.SOA,
};

/** CNAMEs followed inside a zone per answer. */
const MAX_CNAME_HOPS = 8;

function toRData(r: ZoneRecord): RData {
  switch (r.type) {
    case "TXT":
      return (r.data as string[]).map((s) => new TextEncoder().encode(s));
    case "CAA": {
      // RFC 8659 §4.1: flags, tag length, tag, value.
      const c = r.data as { flags: number; tag: string; value: string };
      const tag = new TextEncoder().encode(c.tag);
      const value = new TextEncoder().encode(c.value);
      const out = new Uint8Array(2 + tag.length + value.length);
      out[0] = c.flags;
      out[1] = tag.length;
      out.set(tag, 2);
      out.set(value, 2 + tag.length);
      return out;
    }
    default:
      return r.data as RData;
  }
}

class LocalZoneIndex {
  readonly apex: string;
  readonly soa: ResourceRecord;
  /** Owner → type → records. */
  private readonly nodes = new Map<string, Map<number, ResourceRecord[]>>();
  /** Names that exist only because something below them does (empty non-terminals). */
  private readonly interior = new Set<string>();
  private readonly locations: ReadonlySet<string> | undefined;
  private readonly transfer: IpSet | undefined;
  /** Every record but the SOA, in file order (AXFR). */
  readonly records: readonly ResourceRecord[];

  constructor(z: LocalZone, serial: number) {
    const apex = z.name.toLowerCase().replace(/\.$/, "");
    this.apex = apex;
    const parsed = parseZoneFile(z.zone, apex);
    const all: ResourceRecord[] = [];
    let soa: ResourceRecord | undefined;
    for (const r of parsed) {
      const rr: ResourceRecord = {
        name: r.name,
        type: TYPE_CODE[r.type],
        class: RRClass.IN,
        ttl: r.ttl,
        data: toRData(r),
      };
      if (r.type === "SOA") {
        if (r.name === apex) soa ??= rr;
        continue;
      }
      all.push(rr);
      let node = this.nodes.get(r.name);
      if (!node) {
        node = new Map();
        this.nodes.set(r.name, node);
      }
      const list = node.get(rr.type);
      if (list) list.push(rr);
      else node.set(rr.type, [rr]);
      for (let p = parentOf(r.name); p !== undefined && p.length >= apex.length; p = parentOf(p)) {
        if (p === apex || !p.endsWith(`.${apex}`)) break;
        this.interior.add(p);
      }
    }
    this.soa = soa ?? {
      name: apex,
      type: RRType.SOA,
      class: RRClass.IN,
      ttl: 3600,
      data: {
        mname: `ns.${apex}`,
        rname: `hostmaster.${apex}`,
        serial,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 300,
      },
    };
    this.records = all;
    this.locations = z.locations ? new Set(z.locations) : undefined;
    const allow = z.transferTo ?? [];
    this.transfer = allow.length > 0 ? new IpSet(allow.map((a) => parseCidr(a))) : undefined;
  }

  servesLocation(id: string | undefined): boolean {
    return this.locations === undefined || (id !== undefined && this.locations.has(id));
  }

  /** AXFR is allowed to this client address. */
  transferAllowed(ip: string): boolean {
    const transfer = this.transfer;
    if (transfer === undefined) return false;
    const v = parseIp(ip);
    return v !== undefined && transfer.has(v);
  }

  /** RFC 2308 §5: the negative-answer SOA's TTL. */
  negativeSoa(): ResourceRecord {
    const minimum = (this.soa.data as { minimum: number }).minimum;
    return { ...this.soa, ttl: Math.min(this.soa.ttl, minimum) };
  }

  /**
   * The answer for `qname` (lowercased) and `qtype`. `owner` is the name as asked (its letter
   * case is kept in answers to it). `leaves`: the CNAME target outside the zone that resolution
   * must continue at.
   */
  lookup(
    qname: string,
    owner: string,
    qtype: number,
  ): { rcode: "NOERROR" | "NXDOMAIN"; answers: ResourceRecord[]; leaves?: string } {
    const answers: ResourceRecord[] = [];
    let name = qname;
    let asked = owner;
    for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
      let node = this.nodes.get(name);
      if (!node && !this.interior.has(name) && name !== this.apex) node = this.wildcardFor(name);
      if (!node) {
        if (this.interior.has(name) || name === this.apex) return { rcode: "NOERROR", answers };
        return { rcode: hop === 0 ? "NXDOMAIN" : "NOERROR", answers };
      }
      const rrs = node.get(qtype);
      if (rrs) {
        for (const r of rrs) answers.push({ ...r, name: asked });
        return { rcode: "NOERROR", answers };
      }
      const cname = node.get(RRType.CNAME)?.[0];
      if (!cname || qtype === RRType.CNAME) return { rcode: "NOERROR", answers };
      answers.push({ ...cname, name: asked });
      const target = cname.data as string;
      if (target !== this.apex && !target.endsWith(`.${this.apex}`))
        return { rcode: "NOERROR", answers, leaves: target };
      name = target;
      asked = target;
    }
    return { rcode: "NOERROR", answers };
  }

  /** RFC 4592 §3.3.1: the wildcard at the closest encloser of a name that does not exist. */
  private wildcardFor(name: string): Map<number, ResourceRecord[]> | undefined {
    for (let p = parentOf(name); p !== undefined; p = parentOf(p)) {
      if (this.nodes.has(p) || this.interior.has(p) || p === this.apex)
        return this.nodes.get(`*.${p}`);
      if (!p.endsWith(`.${this.apex}`)) return undefined;
    }
    return undefined;
  }
}

function parentOf(name: string): string | undefined {
  const dot = name.indexOf(".");
  return dot < 0 ? undefined : name.slice(dot + 1);
}

/** Every local zone of a config, most specific apex first. */
export class LocalZones {
  private readonly zones: LocalZoneIndex[];

  constructor(zones: readonly LocalZone[], serial: number) {
    this.zones = zones
      .map((z) => new LocalZoneIndex(z, serial))
      .sort((a, b) => b.apex.length - a.apex.length);
  }

  get size(): number {
    return this.zones.length;
  }

  /** The zone answering `name` for a client of `location`, if any. */
  find(name: string, location: string | undefined): LocalZoneIndex | undefined {
    for (const z of this.zones) {
      if ((name === z.apex || name.endsWith(`.${z.apex}`)) && z.servesLocation(location)) return z;
    }
    return undefined;
  }

  /** The zone whose apex is exactly `name` (AXFR). */
  byApex(name: string): LocalZoneIndex | undefined {
    return this.zones.find((z) => z.apex === name);
  }
}
