// Heap bytes and time per evaluation of the ten HTTP policies of the proxy benchmark
// (bench-bundle.ts) on one parsed request: fillHttp (the fields the rules read, the header map)
// and the policy match, in process, no collection during the measured loop (a young generation
// large enough for it), so the heap grown is what the calls allocated.
//   node --max-semi-space-size=256 --expose-gc bench/proxy/policy-alloc.ts [--root DIR]
//     [--headers wrk|browser] [--n 100000]
// --root: evaluate another checkout's code (a same-run before/after pair: run both, alternately).

import type { Socket } from "node:net";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { getHeapStatistics } from "node:v8";

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    headers: { type: "string", default: "browser" },
    n: { type: "string", default: "100000" },
  },
});
const root = resolve(values.root ?? join(import.meta.dirname, "../.."));
const N = Number(values.n);
const { compileSnapshot } = await import(join(root, "packages/edge/src/snapshot.ts"));
const { newExchange } = await import(join(root, "packages/edge/src/proxy/exchange.ts"));
const { ClientRequest } = await import(join(root, "packages/edge/src/proxy/http1/message.ts"));
const { parseRequestHead } = await import(join(root, "packages/edge/src/proxy/http1/syntax.ts"));
const { createParseTarget } = await import(
  join(root, "packages/edge/src/proxy/stages/parse-target.ts")
);
const { createPolicyContexts, matchHttp } = await import(
  join(root, "packages/edge/src/proxy/stages/policy-request.ts")
);
const { benchBundle } = await import(join(root, "bench/proxy/bench-bundle.ts"));

// wrk's request as bench/proxy sends it, or a browser's (Firefox's fields for a page).
const FIELDS: Record<string, string[]> = {
  wrk: ["Host", "127.0.0.1:8080"],
  browser: [
    "Host",
    "www.example.com",
    "User-Agent",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language",
    "en-US,en;q=0.5",
    "Accept-Encoding",
    "gzip, deflate, br, zstd",
    "Connection",
    "keep-alive",
    "Cookie",
    "session=0123456789abcdef; theme=dark",
    "Upgrade-Insecure-Requests",
    "1",
    "Sec-Fetch-Dest",
    "document",
    "Sec-Fetch-Mode",
    "navigate",
    "Sec-Fetch-Site",
    "none",
    "Priority",
    "u=0, i",
  ],
};
const fields = FIELDS[values.headers];
if (fields === undefined) throw new Error(`--headers: wrk or browser`);
let head = "GET http://www.example.com/index.html HTTP/1.1\r\n";
for (let i = 0; i < fields.length; i += 2) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
const buf = Buffer.from(`${head}\r\n`, "latin1");
const parsed = parseRequestHead(buf, buf.length, { maxHeadBytes: 1 << 16, maxHeaderCount: 1000 });
const socket = { remoteAddress: "10.1.2.3", remotePort: 40000, bytesRead: 0, bytesWritten: 0 };
const ex = newExchange(
  compileSnapshot(benchBundle(443)),
  "http",
  new ClientRequest(parsed, socket as Socket, { attach() {}, resume() {} }, false),
  undefined,
  socket,
);
const parse = createParseTarget({ maxHeaderCount: 100, maxUrlLength: 8192, viaToken: "bench" });
if (parse.run(ex) !== "next") throw new Error("the request did not parse");
const ctxs = createPolicyContexts();
let matched = 0;
const loop = (n: number) => {
  for (let i = 0; i < n; i++) if (matchHttp(ctxs, ex) !== undefined) matched++;
};
loop(N); // warm up (optimised code)
globalThis.gc?.();
const used0 = getHeapStatistics().used_heap_size;
const t0 = process.hrtime.bigint();
loop(N);
const ns = Number(process.hrtime.bigint() - t0);
const grown = getHeapStatistics().used_heap_size - used0;
process.stdout.write(
  `${JSON.stringify({ root, headers: values.headers, bytesPerCall: grown / N, nsPerCall: ns / N, matched })}\n`,
);
