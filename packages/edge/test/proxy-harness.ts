// Shared fixture for the proxy's integration tests: a compiled snapshot from a small bundle, a
// static resolver, an echoing HTTP origin and a running proxy, all on loopback with OS ports.

import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
import type { ConfigBundle, Policy, QueryLogRecord } from "@gatehouse/contract";
import { Registry } from "prom-client";
import { type RunningProxy, startProxy } from "../src/proxy/index.ts";
import type { ProxyLimits } from "../src/proxy/limits.ts";
import type { ResolveResult, Resolver } from "../src/resolver.ts";
import { compileSnapshot, type EdgeSnapshot } from "../src/snapshot.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: Buffer;
}

export interface Origin {
  server: Server;
  port: number;
  seen: SeenRequest[];
  /** Requests the origin's strict parser refused: a framing differential got through. */
  parseErrors: number;
  parseErrorCodes: string[];
  close(): Promise<void>;
}

/** An origin that answers every request with a small JSON echo and `x-origin-path`. */
export async function startOrigin(): Promise<Origin> {
  const seen: SeenRequest[] = [];
  const o = { parseErrors: 0, parseErrorCodes: [] as string[] } as unknown as Origin;
  const server = createServer({ insecureHTTPParser: false }, (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      if (req.url?.startsWith("/status/")) res.statusCode = Number(req.url.slice(8, 11));
      const out = JSON.stringify({ method: req.method, url: req.url, bodyLength: body.length });
      res.setHeader("x-origin-path", req.url ?? "");
      res.setHeader("content-type", "application/json");
      res.setHeader("connection", "x-hop-header");
      res.setHeader("x-hop-header", "must not reach the client");
      res.end(out);
    });
  });
  server.on("clientError", (e: NodeJS.ErrnoException, socket) => {
    // Connection resets are the proxy abandoning a request (e.g. the client's body turned out
    // to be malformed mid-stream), not bytes the origin could not parse.
    // HPE_INVALID_EOF_STATE is the same seen from the parser: the message was cut short.
    if (e.code !== "ECONNRESET" && e.code !== "HPE_INVALID_EOF_STATE") {
      o.parseErrors++;
      o.parseErrorCodes.push(e.code ?? "?");
    }
    socket.destroy();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  o.server = server;
  o.port = (server.address() as AddressInfo).port;
  o.seen = seen;
  o.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return o;
}

/**
 * An origin that answers every request with `total` bytes (Content-Length), written with
 * backpressure; `done()` says whether it has written them all.
 */
export async function startBulkOrigin(
  total: number,
): Promise<{ server: Server; port: number; done(): boolean }> {
  let finished = false;
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-length": total });
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end(() => {
        finished = true;
      });
    };
    pump();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, done: () => finished };
}

/** A TCP server on loopback that sends back whatever it reads (a tunnel's far end). */
export async function startEchoServer(): Promise<{ server: NetServer; port: number }> {
  const server = createNetServer((s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port };
}

export class StaticResolver implements Resolver {
  readonly names: Map<string, string[]>;
  readonly blocked: Set<string>;
  calls = 0;
  constructor(names: Record<string, string[]>, blocked: string[] = []) {
    this.names = new Map(Object.entries(names));
    this.blocked = new Set(blocked);
  }
  async resolve(name: string): Promise<ResolveResult> {
    this.calls++;
    if (this.blocked.has(name))
      return {
        addresses: [],
        rcode: "NOERROR",
        blockedBy: { policyId: "dns-1", policyName: "DNS block" },
      };
    const a = this.names.get(name);
    return a ? { addresses: a, rcode: "NOERROR" } : { addresses: [], rcode: "NXDOMAIN" };
  }
}

let precedence = 100;
export function policy(
  type: "http" | "net",
  action: Policy["action"],
  expression: string,
  extra: Partial<Policy> = {},
): Policy {
  precedence += 10;
  return {
    id: `${type}-${precedence}`,
    name: `${type} ${action} ${precedence}`,
    type,
    enabled: true,
    precedence,
    expression,
    action,
    ...extra,
  };
}

/** The explicit allow that lets tests reach loopback origins (the SSRF guard stays on). */
export const ALLOW_TEST_ORIGINS = policy(
  "net",
  "allow",
  'net.connect.host in {"origin.test" "127.0.0.1" "tls.test"}',
  {
    id: "allow-test-origins",
    name: "Allow test origins",
    // Last: tests put their own policies in front of it.
    precedence: 1_000_000,
    // The origins listen on loopback: the explicit opt-in the private-address guard needs.
    settings: { allowPrivateDestinations: ["127.0.0.1/32"] },
  },
);

export function bundle(over: Partial<ConfigBundle> = {}): ConfigBundle {
  return {
    schemaVersion: 1,
    version: 1,
    resolver: { upstreams: [] },
    locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8", "::1/128"] }],
    lists: [],
    policies: [ALLOW_TEST_ORIGINS],
    ...over,
  };
}

export interface Harness {
  proxy: RunningProxy;
  port: number;
  origin: Origin;
  resolver: StaticResolver;
  log: QueryLog;
  registry: Registry;
  snapshot: EdgeSnapshot;
  setBundle(b: ConfigBundle): void;
  close(): Promise<void>;
}

export async function startHarness(
  b: ConfigBundle = bundle(),
  limits?: Partial<ProxyLimits>,
): Promise<Harness> {
  const origin = await startOrigin();
  const resolver = new StaticResolver(
    {
      "origin.test": ["127.0.0.1"],
      "tls.test": ["127.0.0.1"],
      "internal.test": ["10.0.0.1"],
      "metadata.test": ["169.254.169.254"],
      "rebind.test": ["10.0.0.9", "127.0.0.1"],
    },
    ["dnsblocked.test"],
  );
  const log = new QueryLog(1000);
  const registry = new Registry();
  let snapshot = compileSnapshot(b);
  const proxy = await startProxy({
    listen: ["127.0.0.1:0"],
    getSnapshot: () => snapshot,
    resolver,
    log,
    registry,
    ...(limits ? { limits } : {}),
  });
  const h: Harness = {
    proxy,
    port: proxy.addresses[0]!.port,
    origin,
    resolver,
    log,
    registry,
    get snapshot() {
      return snapshot;
    },
    setBundle(nb) {
      snapshot = compileSnapshot(nb);
    },
    async close() {
      await proxy.close();
      await origin.close();
    },
  };
  return h;
}

/** Send raw bytes on a fresh connection; collect everything until the server closes or `idleMs`. */
export function rawExchange(
  port: number,
  data: Buffer | string,
  idleMs = 300,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => done(false), idleMs);
    };
    s.on("data", (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    s.on("close", () => done(true));
    s.on("error", () => {});
    s.write(data);
    arm();
  });
}

export interface ParsedResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * Split a byte stream of HTTP/1.1 responses (Content-Length or chunked framing only). With
 * `wholeOnly`, a response whose body has not fully arrived is left in `rest` instead of being
 * returned cut short (for readers that are still receiving).
 */
export function parseResponses(
  text: string,
  wholeOnly = false,
): { responses: ParsedResponse[]; rest: string } {
  const responses: ParsedResponse[] = [];
  let s = text;
  while (s.startsWith("HTTP/1.")) {
    const end = s.indexOf("\r\n\r\n");
    if (end < 0) break;
    const lines = s.slice(0, end).split("\r\n");
    const status = Number(lines[0]!.split(" ")[1]);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const c = l.indexOf(":");
      headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
    }
    let rest = s.slice(end + 4);
    let body = "";
    if (status === 100) {
      s = rest;
      continue;
    }
    if (wholeOnly && !wholeBody(headers, rest)) break;
    if (headers.get("transfer-encoding") === "chunked") {
      for (;;) {
        const le = rest.indexOf("\r\n");
        const size = Number.parseInt(rest.slice(0, le), 16);
        rest = rest.slice(le + 2);
        if (size === 0) {
          rest = rest.slice(rest.indexOf("\r\n") + 2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else {
      const n = Number(headers.get("content-length") ?? 0);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    }
    responses.push({ status, headers, body });
    s = rest;
  }
  return { responses, rest: s };
}

/** Whether `rest` holds the whole body that `headers` announce. */
function wholeBody(headers: Map<string, string>, rest: string): boolean {
  if (headers.get("transfer-encoding") !== "chunked") {
    return rest.length >= Number(headers.get("content-length") ?? 0);
  }
  for (let at = 0; ; ) {
    const le = rest.indexOf("\r\n", at);
    if (le < 0) return false;
    const size = Number.parseInt(rest.slice(at, le), 16);
    if (size === 0) return rest.indexOf("\r\n", le + 2) >= 0;
    at = le + 2 + size + 2;
    if (at > rest.length) return false;
  }
}

/**
 * Send raw bytes on a fresh connection and read until `count` whole responses have arrived or
 * the server closes. The end is decided by what arrived, never by a silence, so a proxy slowed
 * down (a password KDF on a loaded machine) cannot cut the exchange short. `boundMs` only keeps
 * a broken build from hanging: it resolves with what arrived so the assertions say what failed.
 * `text` is every byte that arrived, as latin1.
 */
export function exchangeResponses(
  port: number,
  data: Buffer | string,
  count: number,
  boundMs = 30_000,
): Promise<{ responses: ParsedResponse[]; closed: boolean; text: string }> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, "127.0.0.1");
    let text = "";
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(bound);
      s.destroy();
      resolve({ responses: parseResponses(text, true).responses, closed, text });
    };
    const bound = setTimeout(() => done(false), boundMs);
    s.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      if (parseResponses(text, true).responses.length >= count) done(false);
    });
    s.on("close", () => done(true));
    s.on("error", () => {});
    s.write(data);
  });
}

/** Poll until `cond()` holds. `boundMs` only keeps a broken build from hanging. */
export async function until(
  cond: () => boolean,
  what = "a condition",
  boundMs = 30_000,
): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > boundMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** How many records the harness's query log has taken so far: a mark for `recordAfter`. */
export function logMark(h: Harness): number {
  return h.log.pushed;
}

/**
 * The newest query-log record once `n` records have been written since `mark`. A record is
 * written when its request or tunnel is over, which can be after the client has seen the answer
 * or the close: wait for it instead of sleeping and hoping.
 */
export async function recordAfter(h: Harness, mark: number, n = 1): Promise<QueryLogRecord> {
  await until(() => h.log.pushed >= mark + n, `query-log record ${mark + n}`);
  return h.log.peekNewest(1)[0]!;
}
