// identify: which location the query belongs to — DoH path token (a location's, else a device's:
// the device's location, and the device is remembered for the log), then DoT server-name label,
// then source network. Before admit so that refused unknown clients do not consume rate-limit
// state, and before policy so `dns.location` is known. Unknown clients are REFUSED unless the
// config opts into being an open resolver; a DoH token that names no location is refused
// whatever the source (a mistyped or revoked token is not a way in through the source network).
// `identify` is the one implementation: the stage and the fast path (dns-service.ts) call it.

import type { Location } from "@gatehouse/contract";
import type { DohDevice } from "../../identify/doh-devices.ts";
import type { DnsExchange, DnsTransport, Outcome, Stage } from "../exchange.ts";
import { responseSkeleton } from "../respond.ts";
import type { DnsRuntime } from "../runtime.ts";
import { Rcode } from "../wire/constants.ts";

/** What `identify` returns for a client this resolver does not serve. */
export const UNKNOWN_CLIENT = null;

/**
 * The client's location: a Location, undefined for an unknown client this resolver still
 * serves (open resolver, the proxy's own lookups), or UNKNOWN_CLIENT (null) to refuse.
 */
export function identify(
  rt: DnsRuntime,
  transport: DnsTransport,
  ip: string,
  dohToken: string | undefined,
  serverName: string | undefined,
): Location | undefined | null {
  const locs = rt.snapshot.locations;
  let loc: Location | undefined;
  if (dohToken !== undefined) {
    loc = locs.byDohToken(dohToken) ?? rt.snapshot.dohDevices.byToken(dohToken)?.location;
    if (loc === undefined) return UNKNOWN_CLIENT;
  } else if (transport === "dot" && serverName) loc = locs.byServerName(serverName);
  loc ??= locs.bySource(ip);
  if (loc !== undefined || rt.allowUnknownClients || transport === "internal") return loc;
  return UNKNOWN_CLIENT;
}

/** Set `ex.location` from the client; true when the client may use this resolver. */
export function locate(ex: DnsExchange): boolean {
  const c = ex.client;
  if (c.dohToken !== undefined) {
    const loc = ex.rt.snapshot.locations.byDohToken(c.dohToken);
    const device: DohDevice | undefined =
      loc === undefined ? ex.rt.snapshot.dohDevices.byToken(c.dohToken) : undefined;
    ex.device = device;
    ex.location = loc ?? device?.location;
    return ex.location !== undefined;
  }
  const loc = identify(ex.rt, c.transport, c.ip, c.dohToken, c.serverName);
  ex.location = loc ?? undefined;
  return loc !== UNKNOWN_CLIENT;
}

/**
 * RA (RFC 1035 §4.1.1): recursion is available to clients we serve, not to refused ones. Reads
 * what `locate` (identify or decode) left on the exchange.
 */
export function recursionAvailable(ex: DnsExchange): boolean {
  const c = ex.client;
  return (
    ex.location !== undefined ||
    (c.dohToken === undefined && (ex.rt.allowUnknownClients || c.transport === "internal"))
  );
}

export function createIdentifyStage(): Stage {
  return {
    name: "identify",
    run(ex: DnsExchange): Outcome {
      if (locate(ex)) return "next";
      ex.action = "refused";
      ex.reason = "unknown_client";
      ex.response = responseSkeleton(ex, Rcode.REFUSED);
      return "respond";
    },
  };
}
