// The key a client is counted under by per-source limits (connection slots, failed proxy
// authentication): an IPv4 address as it is, an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what
// a dual-stack socket reports for an IPv4 peer) as that IPv4 address, and any other IPv6
// address by its /64 — the prefix one host or one LAN usually holds whole (RFC 4291 §2.5.4,
// RFC 7421), so a host cannot escape a limit by rotating through its interface identifiers.

import { ipv6Words, isV4Mapped } from "./ip-address.ts";

export function sourceKey(ip: string): string {
  if (!ip.includes(":")) return ip;
  const w = ipv6Words(ip);
  if (w === undefined) return ip;
  if (isV4Mapped(w)) {
    const v = w[3];
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  return `${w[0].toString(16)}:${w[1].toString(16)}::/64`;
}
