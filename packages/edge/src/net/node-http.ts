// node:http for the edge, taken with process.getBuiltinModule instead of an ESM import: an
// `import … from "node:http"` builds the module's namespace, which reads its lazy getters
// (WebSocket, CloseEvent, MessageEvent) and so loads Node's bundled undici, about 13 MB of RSS
// the edge never uses (docs/benchmarks.md, "Edge memory"). Types still come from `node:http`.

let httpModule: typeof import("node:http") | undefined;

/**
 * node:http, loaded at its first use (a metrics listener, the proxy's first answer, a sync
 * request) rather than with the edge: a DNS-only edge without a metrics listener never loads it.
 */
export function http(): typeof import("node:http") {
  httpModule ??= process.getBuiltinModule("node:http");
  return httpModule;
}

/**
 * node:http2, loaded at its first use (a DoH listener, HTTP/2 inside inspected TLS) rather than
 * with the edge: about 5 MB of RSS on top of node:tls.
 */
export function http2(): typeof import("node:http2") {
  return process.getBuiltinModule("node:http2");
}
