// SSRF and DNS-rebinding guard: classifies the address the proxy is about to dial. It runs on
// the resolved IP actually used for the connection (never on the name), so a name that resolves
// to an internal address on the second lookup cannot slip through.

import { BlockList, isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { formatIpv4 } from "@gatehouse/rules";
import { ipv6Words } from "../net/ip-address.ts";

/** Why an address is not a public unicast destination; undefined = public. */
export type AddressClass =
  | "unspecified"
  | "loopback"
  | "private"
  | "link_local"
  | "multicast"
  | "reserved"
  | "own_address";

// RFC 6890 special-purpose registries: the ranges that never name a public Internet host.
const V4: ReadonlyArray<readonly [string, number, AddressClass]> = [
  ["0.0.0.0", 8, "unspecified"], // RFC 791 "this network"
  ["127.0.0.0", 8, "loopback"], // RFC 1122 §3.2.1.3
  ["10.0.0.0", 8, "private"], // RFC 1918
  ["172.16.0.0", 12, "private"],
  ["192.168.0.0", 16, "private"],
  ["100.64.0.0", 10, "private"], // RFC 6598 shared address space (CGNAT)
  ["169.254.0.0", 16, "link_local"], // RFC 3927 (cloud metadata lives here)
  ["192.0.0.0", 24, "reserved"], // RFC 6890 IETF protocol assignments
  ["198.18.0.0", 15, "reserved"], // RFC 2544 benchmarking
  ["224.0.0.0", 4, "multicast"], // RFC 5771
  ["240.0.0.0", 4, "reserved"], // RFC 1112 class E, incl. 255.255.255.255
];
const V6: ReadonlyArray<readonly [string, number, AddressClass]> = [
  ["::", 128, "unspecified"], // RFC 4291 §2.5.2
  ["::1", 128, "loopback"], // RFC 4291 §2.5.3
  ["fc00::", 7, "private"], // RFC 4193 unique local
  ["64:ff9b:1::", 48, "private"], // RFC 8215 local-use NAT64 prefix: translated inside a site
  ["fe80::", 10, "link_local"], // RFC 4291 §2.5.6
  ["fec0::", 10, "private"], // deprecated site-local (RFC 3879), still routed internally
  ["ff00::", 8, "multicast"], // RFC 4291 §2.7
  ["100::", 64, "reserved"], // RFC 6666 discard prefix
  ["2001:db8::", 32, "reserved"], // RFC 3849 documentation
];

const lists = new Map<AddressClass, BlockList>();
for (const [net, prefix, cls] of V4) listFor(cls).addSubnet(net, prefix, "ipv4");
for (const [net, prefix, cls] of V6) listFor(cls).addSubnet(net, prefix, "ipv6");
function listFor(cls: AddressClass): BlockList {
  let l = lists.get(cls);
  if (!l) {
    l = new BlockList();
    lists.set(cls, l);
  }
  return l;
}

/**
 * The IPv4 address an IPv6 address hands traffic to, as a dotted quad, or "" for none. Each form
 * reaches (or is translated to) that IPv4 host, so it is classified as that host:
 * v4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2), v4-compatible ::/96 (§2.5.5.1, deprecated but
 * still routed by some stacks; :: and ::1 are themselves), SIIT's v4-translated
 * ::ffff:0:0:0/96 (RFC 2765 §2.1), NAT64's well-known prefix 64:ff9b::/96 (RFC 6052 §2.1) and
 * 6to4's 2002::/16 (RFC 3056 §2). Parsed numerically, so every spelling of one address
 * (`::7f00:1`, `::127.0.0.1`, `0:0:0:0:0:0:7f00:1`) gives one answer.
 */
function embeddedV4(ip: string): string {
  // IPv4 text (the usual peer) is not parsed as IPv6 only to fail.
  if (!ip.includes(":")) return "";
  const w = ipv6Words(ip);
  if (w === undefined) return "";
  let v4 = -1;
  if (w[0] === 0 && w[1] === 0) {
    if (w[2] === 0xffff || w[2] === 0xffff0000) v4 = w[3];
    else if (w[2] === 0 && w[3] > 1) v4 = w[3];
  } else if (w[0] === 0x0064ff9b && w[1] === 0 && w[2] === 0) v4 = w[3];
  else if (w[0] >>> 16 === 0x2002) v4 = (((w[0] & 0xffff) << 16) | (w[1] >>> 16)) >>> 0;
  return v4 < 0 ? "" : formatIpv4(v4);
}

export class AddressGuard {
  readonly #own = new BlockList();
  #ownCount = 0;
  /** The proxy's listening addresses by port (no `ip|port` string made per request). */
  readonly #ownEndpoints = new Map<number, Set<string>>();
  /** Verdicts by address string: a proxy dials the same few origins over and over. */
  readonly #verdicts = new Map<string, AddressClass | null>();
  /**
   * Why this machine's interface addresses could not be listed, or undefined. Listing them needs
   * a netlink socket (AF_NETLINK): under a sandbox that refuses one (systemd's
   * RestrictAddressFamilies= without it) the guard still refuses every special-purpose range
   * and the proxy's own endpoints, but not the machine's own public addresses.
   */
  readonly interfacesError: Error | undefined;

  constructor(interfaces: () => ReturnType<typeof networkInterfaces> = networkInterfaces) {
    let found: ReturnType<typeof networkInterfaces>;
    try {
      found = interfaces();
    } catch (e) {
      this.interfacesError = e instanceof Error ? e : new Error(String(e));
      return;
    }
    for (const addrs of Object.values(found)) {
      for (const a of addrs ?? []) this.addOwnAddress(a.address);
    }
  }

  /** How many addresses are refused as this machine's own (interface addresses and added). */
  get ownAddressCount(): number {
    return this.#ownCount;
  }

  addOwnAddress(ip: string): void {
    this.#verdicts.clear();
    const fam = isIP(ip);
    if (fam === 0) return;
    this.#own.addAddress(ip, fam === 4 ? "ipv4" : "ipv6");
    this.#ownCount++;
  }

  /** The proxy's own listening endpoints: dialling one is a forwarding loop, always refused. */
  addOwnEndpoint(ip: string, port: number): void {
    let ips = this.#ownEndpoints.get(port);
    if (ips === undefined) {
      ips = new Set();
      this.#ownEndpoints.set(port, ips);
    }
    ips.add(ip);
    if (ip === "0.0.0.0" || ip === "::") {
      // A wildcard listener answers on loopback too.
      ips.add("127.0.0.1");
      ips.add("::1");
    }
  }

  isOwnEndpoint(ip: string, port: number): boolean {
    const ips = this.#ownEndpoints.get(port);
    if (ips === undefined) return false;
    if (ips.has(ip)) return true;
    const v4 = embeddedV4(ip);
    return v4 !== "" && ips.has(v4);
  }

  /** Classify an IP literal; undefined means a public unicast address. */
  classify(ip: string): AddressClass | undefined {
    const known = this.#verdicts.get(ip);
    if (known !== undefined) return known ?? undefined;
    const verdict = this.#classify(ip);
    if (this.#verdicts.size >= 10_000) this.#verdicts.clear();
    this.#verdicts.set(ip, verdict ?? null);
    return verdict;
  }

  #classify(ip: string): AddressClass | undefined {
    // A zone id (fe80::1%eth0) names an interface, not another address.
    const pct = ip.indexOf("%");
    if (pct >= 0) ip = ip.slice(0, pct);
    let fam = isIP(ip);
    if (fam === 0) return "reserved";
    if (fam === 6) {
      const v4 = embeddedV4(ip);
      if (v4 !== "") {
        ip = v4;
        fam = 4;
      }
    }
    const type = fam === 4 ? "ipv4" : "ipv6";
    for (const [cls, list] of lists) if (list.check(ip, type)) return cls;
    if (this.#own.check(ip, type)) return "own_address";
    return undefined;
  }
}
