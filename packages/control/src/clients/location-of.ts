// Which location a client address falls in, as the edge decides it for a plain DNS query
// (identify/location-matcher.ts): the location with the most specific network holding the
// address (the bundle check refuses two locations with the same network). Used by policy tests
// and the client page.

import { BlockList, isIP } from "node:net";

interface Located {
  readonly networks: readonly string[];
}

export class LocationsByAddress<L extends Located> {
  readonly #nets: { loc: L; list: BlockList; bits: number }[] = [];

  constructor(locations: readonly L[]) {
    for (const loc of locations)
      for (const n of loc.networks) {
        const [addr = "", len] = n.split("/");
        const family = isIP(addr) === 6 ? "ipv6" : "ipv4";
        const bits = len === undefined ? (family === "ipv6" ? 128 : 32) : Number(len);
        const list = new BlockList();
        if (isIP(addr) !== 0) list.addSubnet(addr, bits, family);
        this.#nets.push({ loc, list, bits });
      }
  }

  /** The most specific location whose networks hold `ip`, if any. */
  of(ip: string): L | undefined {
    const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
    let best: { loc: L; bits: number } | undefined;
    for (const n of this.#nets)
      if (n.list.check(ip, family) && (best === undefined || n.bits > best.bits)) best = n;
    return best?.loc;
  }
}
