// `gatehouse up --listen loopback|lan|ADDR[,ADDR…]`: which addresses the listeners bind. `lan`
// is loopback plus every address of this machine's network interfaces (IPv6 link-local ones
// aside: they need a zone and no device is told to use them).

import { isIP } from "node:net";
import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";

export type ListenMode = "loopback" | "lan" | "addresses";

function usable(i: NetworkInterfaceInfo): boolean {
  if (i.internal) return false;
  return !(i.family === "IPv6" && /^fe[89ab]/i.test(i.address));
}

/** This machine's addresses on its local networks, IPv4 first. */
export function lanAddresses(
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const all = Object.values(ifaces).flatMap((l) => (l ?? []).filter(usable));
  return [
    ...all.filter((i) => i.family === "IPv4").map((i) => i.address),
    ...all.filter((i) => i.family === "IPv6").map((i) => i.address),
  ];
}

/** The networks of those addresses ("192.168.1.0/24"), for the starter location. */
export function lanNetworks(
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const out = new Set<string>();
  for (const i of Object.values(ifaces).flatMap((l) => (l ?? []).filter(usable))) {
    if (!i.cidr) continue;
    const [, bits] = i.cidr.split("/");
    out.add(`${networkAddress(i.address, Number(bits))}/${bits}`);
  }
  return [...out];
}

function networkAddress(ip: string, bits: number): string {
  if (isIP(ip) === 4) {
    const n = ip.split(".").reduce((a, o) => (a << 8) | Number(o), 0) >>> 0;
    const masked = bits === 0 ? 0 : (n & (0xffffffff << (32 - bits))) >>> 0;
    return [24, 16, 8, 0].map((s) => (masked >>> s) & 0xff).join(".");
  }
  const groups = expandV6(ip);
  const out = groups.map((g, k) => {
    const keep = Math.max(0, Math.min(16, bits - k * 16));
    return keep === 0 ? 0 : g & (0xffff << (16 - keep)) & 0xffff;
  });
  return out.map((g) => g.toString(16)).join(":");
}

function expandV6(ip: string): number[] {
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => Number.parseInt(g || "0", 16));
}

/**
 * The hosts to bind for a --listen value: loopback only, loopback plus the LAN addresses, or
 * the addresses given (comma-separated).
 */
export function listenHosts(
  value: string,
  lan: () => string[] = lanAddresses,
): { mode: ListenMode; hosts: string[] } {
  if (value === "loopback") return { mode: "loopback", hosts: ["127.0.0.1"] };
  if (value === "lan") {
    const found = lan();
    if (found.length === 0)
      throw new Error(
        "--listen lan: this machine has no address on a local network; name the addresses with --listen ADDR[,ADDR]",
      );
    return { mode: "lan", hosts: ["127.0.0.1", ...found] };
  }
  const hosts = value
    .split(",")
    .map((h) => h.trim().replace(/^\[(.*)\]$/, "$1"))
    .filter(Boolean);
  const bad = hosts.find((h) => isIP(h) === 0);
  if (hosts.length === 0 || bad !== undefined)
    throw new Error(
      `--listen takes loopback, lan or IP addresses separated by commas, got ${JSON.stringify(bad ?? value)}`,
    );
  // A wildcard would take every address, those of networks no one meant to serve included.
  if (hosts.some((h) => h === "0.0.0.0" || h === "::"))
    throw new Error(
      "--listen takes this machine's addresses, not 0.0.0.0 or ::; use --listen lan for every local network address",
    );
  return { mode: "addresses", hosts: [...new Set(hosts)] };
}
