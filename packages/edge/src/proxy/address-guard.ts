// SSRF and DNS-rebinding guard: classifies the address the proxy is about to dial. It runs on
// the resolved IP actually used for the connection (never on the name), so a name that resolves
// to an internal address on the second lookup cannot slip through.

import { BlockList, isIP } from "node:net";
import { networkInterfaces } from "node:os";

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
 * IPv6 forms that embed an IPv4 address reach that IPv4 host: v4-mapped (RFC 4291 §2.5.5.2),
 * v4-compatible, NAT64 well-known prefix 64:ff9b::/96 (RFC 6052). Returns the dotted IPv4 or "".
 */
function embeddedV4(ip: string): string {
  const lower = ip.toLowerCase();
  for (const p of ["::ffff:", "64:ff9b::", "::"]) {
    if (lower.startsWith(p)) {
      const rest = lower.slice(p.length);
      if (isIP(rest) === 4) return rest;
      // ::ffff:7f00:1 (hex form)
      const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
      if (m && p !== "::") {
        const hi = Number.parseInt(m[1]!, 16);
        const lo = Number.parseInt(m[2]!, 16);
        return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
      }
    }
  }
  return "";
}

export class AddressGuard {
  readonly #own = new BlockList();
  readonly #ownEndpoints = new Set<string>();
  /** Verdicts by address string: a proxy dials the same few origins over and over. */
  readonly #verdicts = new Map<string, AddressClass | null>();

  constructor() {
    for (const addrs of Object.values(networkInterfaces())) {
      for (const a of addrs ?? []) this.addOwnAddress(a.address);
    }
  }

  addOwnAddress(ip: string): void {
    this.#verdicts.clear();
    const fam = isIP(ip);
    if (fam !== 0) this.#own.addAddress(ip, fam === 4 ? "ipv4" : "ipv6");
  }

  /** The proxy's own listening endpoints: dialling one is a forwarding loop, always refused. */
  addOwnEndpoint(ip: string, port: number): void {
    this.#ownEndpoints.add(`${ip}|${port}`);
    if (ip === "0.0.0.0" || ip === "::") {
      // A wildcard listener answers on loopback too.
      this.#ownEndpoints.add(`127.0.0.1|${port}`);
      this.#ownEndpoints.add(`::1|${port}`);
    }
  }

  isOwnEndpoint(ip: string, port: number): boolean {
    if (this.#ownEndpoints.size === 0) return false;
    if (this.#ownEndpoints.has(`${ip}|${port}`)) return true;
    const v4 = embeddedV4(ip);
    return v4 !== "" && this.#ownEndpoints.has(`${v4}|${port}`);
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
