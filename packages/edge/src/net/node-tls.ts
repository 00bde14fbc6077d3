// node:tls and node:https for the edge, loaded at their first use (a DoT or DoH upstream or
// listener, an inspected or HTTPS origin, a minted leaf) rather than with the edge: a DNS-only
// edge over UDP never loads them (docs/benchmarks.md, "Idle edge: what loads at start").
// Types still come from `node:tls` and `node:https`.

let tlsModule: typeof import("node:tls") | undefined;
let httpsModule: typeof import("node:https") | undefined;

export function tls(): typeof import("node:tls") {
  tlsModule ??= process.getBuiltinModule("node:tls");
  return tlsModule;
}

export function https(): typeof import("node:https") {
  httpsModule ??= process.getBuiltinModule("node:https");
  return httpsModule;
}
