// The reverse proxies whose X-Forwarded-For control believes (`--trusted-proxies`,
// GATEHOUSE_TRUSTED_PROXIES). Only a peer in this list may name the client: the client address
// is the nearest X-Forwarded-For hop that is not itself a trusted proxy (RFC 7239 §5.2 explains
// why only the hops you added can be believed). With no list, the peer address is the client
// and X-Forwarded-For is ignored. The address feeds the failed-authentication limit.

import { isIP } from "node:net";

/** Parse a comma-separated list of addresses and CIDRs; throws a clear error on a bad entry. */
export function parseTrustedProxies(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const slash = entry.indexOf("/");
    const addr = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(addr);
    const len = slash < 0 ? undefined : entry.slice(slash + 1);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > max)))
      throw new Error(
        `trusted proxy ${JSON.stringify(entry)} is not an IP address or CIDR (e.g. 127.0.0.1, 10.0.0.0/8, ::1)`,
      );
    out.push(entry);
  }
  if (out.length > 1000) throw new Error("at most 1000 trusted proxy entries");
  return out;
}
