// A GET through node:http / node:https, answered as a fetch Response, for the config poll's
// answer (tens of MB for millions of list items). fetch (undici) reads the socket in blocks of at
// most 64 KiB and copies each into a body chunk of its own: tens of MB in blocks under glibc's
// mmap threshold, freed whenever V8 collects them, and the malloc heap they grew stays resident
// (a probe: +28 MB of anonymous memory kept after a 31 MB body, against +13 MB through
// node:http; docs/benchmarks.md). A gzip answer is inflated in 256 KiB chunks (each its own
// mapping, returned when freed). node:http comes from net/node-http.ts and node:https is taken
// at the call, not by an ESM import, which would load Node's bundled undici (net/node-http.ts).

import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { http } from "../net/node-http.ts";

const GUNZIP_CHUNK = 256 * 1024;

/** Statuses whose Response has no body (fetch's null body statuses). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function headersOf(res: IncomingMessage): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(res.headers))
    if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(", ") : v);
  return out;
}

/** GET `url` with `headers` (gzip accepted); `signal` aborts the request and its body. */
export function httpGet(url: string, headers: Headers, signal: AbortSignal): Promise<Response> {
  const u = new URL(url);
  const request =
    u.protocol === "https:" ? process.getBuiltinModule("node:https").request : http().request;
  const h: Record<string, string> = { "accept-encoding": "gzip" };
  headers.forEach((v, k) => {
    h[k] = v;
  });
  return new Promise((resolve, reject) => {
    const req = request(u, { method: "GET", headers: h, signal }, (res) => {
      const status = res.statusCode ?? 0;
      const out = headersOf(res);
      if (NULL_BODY.has(status)) {
        res.resume();
        resolve(new Response(null, { status, headers: out }));
        return;
      }
      let body: Readable = res;
      if (/^\s*gzip\s*$/i.test(res.headers["content-encoding"] ?? "")) {
        const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK });
        res.on("error", (e) => gunzip.destroy(e));
        body = res.pipe(gunzip);
        // What the caller reads is the inflated body.
        out.delete("content-encoding");
        out.delete("content-length");
      }
      resolve(
        new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, { status, headers: out }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}
