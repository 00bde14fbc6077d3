// node:http for the edge, taken with process.getBuiltinModule instead of an ESM import: an
// `import … from "node:http"` builds the module's namespace, which reads its lazy getters
// (WebSocket, CloseEvent, MessageEvent) and so loads Node's bundled undici, about 13 MB of RSS
// the edge never uses (docs/benchmarks.md, "Edge memory"). Types still come from `node:http`.

export const http = process.getBuiltinModule("node:http");

/**
 * node:http2, loaded at its first use (a DoH listener, HTTP/2 inside inspected TLS) rather than
 * with the edge: about 5 MB of RSS on top of node:tls.
 */
export function http2(): typeof import("node:http2") {
  return process.getBuiltinModule("node:http2");
}
