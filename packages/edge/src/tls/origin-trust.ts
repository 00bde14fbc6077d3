// What an inspected connection trusts when it verifies the origin's certificate: the system
// store (Node's bundled roots plus the OS's, as `node --use-system-ca` would), the CAs the edge
// was started with (`--origin-ca FILE`, for private origins and tests) and the organisation's
// own (`proxy.originCas` in the bundle). One TLS context per config snapshot, built on first use.

import type { SecureContext } from "node:tls";
import { tls } from "../net/node-tls.ts";
import type { ProxySnapshot } from "../proxy/edge-view.ts";

let extraCas: readonly string[] = [];
const bySnapshot = new WeakMap<ProxySnapshot, SecureContext>();

/** CAs (PEM) from the edge's own configuration, trusted besides the system store. */
export function setLocalOriginCas(pems: readonly string[]): void {
  extraCas = [...pems];
}

export function originTrustOf(snapshot: ProxySnapshot): SecureContext {
  let ctx = bySnapshot.get(snapshot);
  if (ctx === undefined) {
    const system = [...tls().getCACertificates("default"), ...tls().getCACertificates("system")];
    ctx = tls().createSecureContext({
      ca: [...system, ...extraCas, ...(snapshot.bundle.proxy?.originCas ?? [])],
      minVersion: "TLSv1.2",
    });
    bySnapshot.set(snapshot, ctx);
  }
  return ctx;
}
