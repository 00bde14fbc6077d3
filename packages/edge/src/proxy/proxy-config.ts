// What the proxy derives from a config snapshot, computed once per snapshot (on first use after
// a reload) and cached by identity: requests only read it.

import type { Location, UntrustedOriginCertAction } from "@gatehouse/contract";
import { type BlockTheme, resolveTheme } from "./block-page.ts";
import type { MatchedPolicy, ProxySnapshot } from "./edge-view.ts";

export interface ProxyConfig {
  readonly connectPorts: ReadonlySet<number>;
  readonly logQueryStrings: boolean;
  readonly allowUnknownClients: boolean;
  readonly bypassDomains: readonly string[];
  readonly defaultTheme: BlockTheme;
  readonly themes: ReadonlyMap<string, BlockTheme>;
  /** Inspected origins whose certificate does not verify: block, pass through or inspect. */
  readonly untrustedOriginCert: UntrustedOriginCertAction;
  /** Rendered PAC files by the proxy authority clients use (a handful per deployment). */
  readonly pacByAuthority: Map<string, Buffer>;
}

const cache = new WeakMap<ProxySnapshot, ProxyConfig>();

export function proxyConfigOf(snapshot: ProxySnapshot): ProxyConfig {
  let cfg = cache.get(snapshot);
  if (cfg === undefined) {
    cfg = build(snapshot);
    cache.set(snapshot, cfg);
  }
  return cfg;
}

function build(snapshot: ProxySnapshot): ProxyConfig {
  const b = snapshot.bundle;
  const themes = new Map<string, BlockTheme>();
  for (const loc of b.locations) themes.set(loc.id, resolveTheme(b.blockPage, loc.blockPage));
  return {
    // RFC 9110 §9.3.6: proxies restrict CONNECT to known-safe ports; 443 unless configured.
    connectPorts: new Set(b.proxy?.connectPorts ?? [443]),
    logQueryStrings: b.proxy?.logQueryStrings ?? false,
    allowUnknownClients: b.allowUnknownClients ?? false,
    bypassDomains: b.proxy?.bypassDomains ?? [],
    untrustedOriginCert: b.proxy?.untrustedOriginCert ?? "block",
    defaultTheme: resolveTheme(b.blockPage, undefined),
    themes,
    pacByAuthority: new Map(),
  };
}

/**
 * What to do with an inspected origin whose certificate does not verify: the deciding HTTP allow
 * policy's `untrustedOriginCert`, else the organisation's.
 */
export function untrustedOriginCertOf(
  snapshot: ProxySnapshot,
  policy: MatchedPolicy | undefined,
): UntrustedOriginCertAction {
  return policy?.settings.untrustedOriginCert ?? proxyConfigOf(snapshot).untrustedOriginCert;
}

export function themeFor(cfg: ProxyConfig, location: Location | undefined): BlockTheme {
  return (location && cfg.themes.get(location.id)) || cfg.defaultTheme;
}
