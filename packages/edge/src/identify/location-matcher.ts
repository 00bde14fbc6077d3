// Which location a client belongs to: by source address (most specific network wins), by DoH
// path token, or by the first label of the DoT server name. Built once per config; lookups
// are a handful of Map probes (one per distinct prefix length in use).

import type { Location } from "@gatehouse/contract";
import { parseIpv4, v4Mask } from "@gatehouse/rules";
import { ipv6Words, isV4Mapped, parseCidr } from "../net/ip-address.ts";

export class LocationMatcher {
  /** Prefix lengths in use, longest first, each with masked network → location. */
  private readonly v4: { prefix: number; mask: number; nets: Map<number, Location> }[] = [];
  private readonly v6: { prefix: number; nets: Map<string, Location> }[] = [];
  private readonly tokens = new Map<string, Location>();
  private readonly labels = new Map<string, Location>();
  readonly all: readonly Location[];

  constructor(locations: readonly Location[]) {
    this.all = locations;
    const v4 = new Map<number, Map<number, Location>>();
    const v6 = new Map<number, Map<string, Location>>();
    for (const loc of locations) {
      for (const net of loc.networks) {
        let c: ReturnType<typeof parseCidr>;
        try {
          c = parseCidr(net);
        } catch (e) {
          throw new Error(`location "${loc.id}": ${(e as Error).message}`);
        }
        if (c.family === 4) {
          let m = v4.get(c.prefix);
          if (!m) {
            m = new Map();
            v4.set(c.prefix, m);
          }
          const [network] = c.words;
          const prior = m.get(network);
          if (prior !== undefined)
            throw new Error(
              `location "${loc.id}": network ${net} is already used by "${prior.id}"`,
            );
          m.set(network, loc);
        } else {
          let m = v6.get(c.prefix);
          if (!m) {
            m = new Map();
            v6.set(c.prefix, m);
          }
          const key = c.words.join(",");
          const prior = m.get(key);
          if (prior !== undefined)
            throw new Error(
              `location "${loc.id}": network ${net} is already used by "${prior.id}"`,
            );
          m.set(key, loc);
        }
      }
      if (loc.dohToken !== undefined) {
        if (this.tokens.has(loc.dohToken))
          throw new Error(`location "${loc.id}": DoH token is already used by another location`);
        this.tokens.set(loc.dohToken, loc);
      }
      if (loc.dotLabel !== undefined) {
        const label = loc.dotLabel.toLowerCase();
        if (this.labels.has(label))
          throw new Error(`location "${loc.id}": DoT label "${label}" is already used`);
        this.labels.set(label, loc);
      }
    }
    for (const [prefix, nets] of [...v4].sort((a, b) => b[0] - a[0]))
      this.v4.push({ prefix, mask: v4Mask(prefix), nets });
    for (const [prefix, nets] of [...v6].sort((a, b) => b[0] - a[0]))
      this.v6.push({ prefix, nets });
  }

  /** The location of a source address; v4-mapped IPv6 is matched as IPv4. */
  bySource(ip: string): Location | undefined {
    const v4 = parseIpv4(ip);
    if (v4 !== undefined) return this.byV4(v4);
    const w = ipv6Words(ip);
    if (!w) return undefined;
    if (isV4Mapped(w)) return this.byV4(w[3]);
    for (const { prefix, nets } of this.v6) {
      const key = w.map((x, i) => (x & v4Mask(prefix - i * 32)) >>> 0).join(",");
      const loc = nets.get(key);
      if (loc) return loc;
    }
    return undefined;
  }

  byV4(v4: number): Location | undefined {
    for (const { mask, nets } of this.v4) {
      const loc = nets.get((v4 & mask) >>> 0);
      if (loc) return loc;
    }
    return undefined;
  }

  byDohToken(token: string): Location | undefined {
    return this.tokens.get(token);
  }

  /** `label` is the first label of the TLS server name (any case). */
  byDotLabel(label: string): Location | undefined {
    return this.labels.get(label.toLowerCase());
  }

  /** Location of a TLS server name such as `office.dot.example.net`. */
  byServerName(serverName: string): Location | undefined {
    const dot = serverName.indexOf(".");
    return this.byDotLabel(dot === -1 ? serverName : serverName.slice(0, dot));
  }
}
