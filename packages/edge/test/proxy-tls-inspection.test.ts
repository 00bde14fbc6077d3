// TLS inspection end to end, with curl as the client (`curl --cacert <gatehouse root> -x
// http://edge https://origin/...`) and TLS origins on loopback with their own test CA, trusted
// by the edge through the organisation's origin CAs (proxy.originCas): an HTTP policy on the
// path blocks https://…/setup.exe with 403 and the block page over HTTPS; an allowed large body
// arrives intact; a do_not_inspect host shows the origin's own certificate; an expired or
// self-signed origin gets a block page that says why; the query log says what happened.
// HTTP/2 on both sides: `curl --http2` and a node:http2 client negotiate h2 with the proxy
// (ALPN), which speaks h2 to an origin that offers it and HTTP/1.1 to one that does not; every
// stream is judged by the HTTP policies on its own; nghttp2's message checks refuse a
// connection-specific field before anything reaches the origin.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import {
  type ClientHttp2Session,
  createSecureServer,
  connect as h2connect,
  type IncomingHttpHeaders,
} from "node:http2";
import { createServer, type Server } from "node:https";
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  connect as netConnect,
} from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TLSSocket } from "node:tls";
import { promisify } from "node:util";
import type { ConfigBundle } from "@gatehouse/contract";
import { Registry } from "prom-client";
import { generate } from "selfsigned";
import type { RunningProxy } from "../src/proxy/index.ts";
import { startProxy } from "../src/proxy/index.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { LeafMinter } from "../src/tls/leaf-minter.ts";
import { assertNoFailuresBeyondNode, skip as h2specSkip } from "./h2spec.ts";
import { tlsThrough } from "./inspection-client.ts";
import { bundle, policy, StaticResolver, until } from "./proxy-harness.ts";
import { originCert, type TestPki, testPki } from "./tls-pki.ts";

const run = promisify(execFile);
const BIG = Buffer.alloc(5 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 2654435761) >>> 24;
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

type OriginServer = NetServer;

/** An HTTPS origin (HTTP/1.1 only), or with `h2` one that offers h2 and http/1.1 in ALPN. */
async function origin(
  cert: string,
  key: string,
  h2 = false,
): Promise<{ server: OriginServer; port: number }> {
  const handler = (
    req: import("node:http").IncomingMessage | import("node:http2").Http2ServerRequest,
    res: import("node:http").ServerResponse | import("node:http2").Http2ServerResponse,
  ) => {
    if (req.url === "/big") {
      res.setHeader("content-type", "application/octet-stream");
      res.end(BIG);
    } else if (req.url === "/echo") {
      // The request body's hash, its length and how it was framed on the way in.
      const hash = createHash("sha256");
      let n = 0;
      req.on("data", (c: Buffer) => {
        hash.update(c);
        n += c.length;
      });
      req.on("end", () => {
        res.end(`${hash.digest("hex")} ${n} ${req.headers["transfer-encoding"] ?? "-"}`);
      });
    } else res.end(`origin says ${req.url} over HTTP/${req.httpVersion}`);
  };
  const server = h2
    ? createSecureServer({ cert, key, allowHTTP1: true }, handler)
    : createServer({ cert, key }, handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * A proxy inspecting TLS for loopback with `policies` (and an allow for the origins' names),
 * its leaves from `pki`, the origins' own CA trusted; whether curl is installed.
 */
async function inspectingProxy(
  origins: Record<string, { port: number }>,
  originRoot: string,
  pki: TestPki,
  policies: ConfigBundle["policies"],
  log: QueryLog,
  registry: Registry,
  originIp = "127.0.0.1",
): Promise<{ proxy: RunningProxy; curlMissing: boolean }> {
  const names = Object.keys(origins);
  const snapshot = compileSnapshot(
    bundle({
      locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"], tlsInspection: true }],
      proxy: { connectPorts: Object.values(origins).map((o) => o.port), originCas: [originRoot] },
      policies: [
        ...policies,
        policy("net", "allow", `net.connect.host in {${names.map((n) => `"${n}"`).join(" ")}}`, {
          name: "Test origins",
          settings: { allowPrivateDestinations: [`${originIp}/32`] },
        }),
      ],
    }),
  );
  const minter = new LeafMinter({ registry });
  minter.setIssuer(pki.issuer);
  const proxy = await startProxy({
    listen: ["127.0.0.1:0"],
    getSnapshot: () => snapshot,
    resolver: new StaticResolver(Object.fromEntries(names.map((n) => [n, [originIp]]))),
    log,
    registry,
    minter,
  });
  try {
    await run("curl", ["--version"]);
    return { proxy, curlMissing: false };
  } catch {
    return { proxy, curlMissing: true };
  }
}

describe("TLS inspection (curl through the proxy)", () => {
  let dir: string;
  let gatehouse: TestPki;
  let originPki: TestPki;
  let proxy: RunningProxy;
  let log: QueryLog;
  let registry: Registry;
  const origins: Record<string, { server: OriginServer; port: number }> = {};
  let gatehouseRoot: string;
  let originRoot: string;
  let curlMissing = false;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-inspect-"));
    gatehouse = await testPki();
    originPki = await testPki();
    gatehouseRoot = join(dir, "gatehouse-root.pem");
    originRoot = join(dir, "origin-root.pem");
    await writeFile(gatehouseRoot, gatehouse.root);
    await writeFile(originRoot, originPki.root);
    // Origin certificates from the origins' own CA: valid ones, and one expired a month ago.
    const good = new LeafMinter();
    good.setIssuer(originPki.issuer);
    const past = new LeafMinter({ now: () => Date.now() - 30 * 86_400_000 });
    past.setIssuer(originPki.issuer);
    for (const [name, m] of [
      ["tls.test", good],
      ["h2.test", good],
      ["pinned.test", good],
      ["expired.test", past],
    ] as const) {
      const leaf = await m.leaf(name);
      origins[name] = await origin(leaf.certPem + leaf.issuerPem, leaf.keyPem, name === "h2.test");
    }
    const self = await generate([{ name: "commonName", value: "selfsigned.test" }], {
      keySize: 2048,
      extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "selfsigned.test" }] }],
    });
    origins["selfsigned.test"] = await origin(self.cert, self.private);

    log = new QueryLog(1000);
    registry = new Registry();
    ({ proxy, curlMissing } = await inspectingProxy(
      origins,
      originPki.root,
      gatehouse,
      [
        policy("http", "block", 'http.request.uri.path matches "[.](exe|msi)$"', {
          name: "No installers",
          settings: { blockReason: "installers are not allowed" },
        }),
        policy("http", "do_not_inspect", 'http.request.host == "pinned.test"', {
          name: "Pinned app",
        }),
      ],
      log,
      registry,
    ));
  });
  after(async () => {
    await proxy?.close();
    for (const o of Object.values(origins)) o.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** curl through the proxy; status, body and exit code (curl's, 0 when TLS verified). */
  async function curl(
    name: string,
    path: string,
    ca = gatehouseRoot,
    version: "--http1.1" | "--http2" = "--http1.1",
  ): Promise<{ code: number; status: string; body: Buffer }> {
    const out = join(dir, `body-${Math.random().toString(36).slice(2)}`);
    const url = `https://${name}:${origins[name]!.port}${path}`;
    try {
      const r = await run(
        "curl",
        [
          "-sS",
          version,
          "--max-time",
          "20",
          "--cacert",
          ca,
          "-x",
          `http://127.0.0.1:${proxy.addresses[0]!.port}`,
          "-o",
          out,
          "-w",
          "%{http_code}",
          "-H",
          "accept: text/html",
          url,
        ],
        { maxBuffer: 1 << 20 },
      );
      const { readFile } = await import("node:fs/promises");
      return { code: 0, status: r.stdout, body: await readFile(out) };
    } catch (e) {
      return { code: (e as { code: number }).code, status: "", body: Buffer.alloc(0) };
    }
  }

  it("blocks https://…/setup.exe by its path: 403 and the block page, over HTTPS", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const mark = log.pushed;
    const r = await curl("tls.test", "/downloads/setup.exe");
    assert.equal(r.code, 0, "curl verified the minted certificate against the Gatehouse root");
    assert.equal(r.status, "403");
    assert.match(String(r.body), /No installers/);
    assert.match(String(r.body), /installers are not allowed/);
    await until(() => log.pushed >= mark + 2, "records");
    const recs = log.peekNewest(2);
    const http = recs.find((x) => x.kind === "http")!;
    assert.equal(http.action, "block");
    assert.equal(http.inspected, true);
    assert.equal(http.url, `https://tls.test:${origins["tls.test"]!.port}/downloads/setup.exe`);
    assert.match(http.tlsVersion ?? "", /^TLSv1\.[23]$/);
    assert.equal(http.alpn, "http/1.1");
    const tunnel = recs.find((x) => x.kind === "net")!;
    assert.equal(tunnel.inspected, true);
  });

  it("lets an allowed request through with the body intact (5 MiB, hashed both ways)", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const mark = log.pushed;
    const r = await curl("tls.test", "/big");
    assert.equal(r.code, 0);
    assert.equal(r.status, "200");
    assert.equal(sha(r.body), sha(BIG));
    await until(() => log.pushed >= mark + 2, "records");
    const http = log.peekNewest(2).find((x) => x.kind === "http")!;
    assert.equal(http.originCert, "valid");
    assert.equal(http.action, "allow");
    // The origin's certificate is not what the client sees: its own CA does not verify us.
    const mine = await curl("tls.test", "/hello", originRoot);
    // curl: 60 (peer certificate cannot be authenticated) or 35 (handshake failed), by version.
    assert.ok([35, 60].includes(mine.code), `curl exit ${mine.code}`);
  });

  it("a do_not_inspect host shows the origin's own certificate", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const r = await curl("pinned.test", "/hello", originRoot);
    assert.equal(r.code, 0, "verified against the origin's CA: untouched TLS");
    assert.equal(String(r.body), "origin says /hello over HTTP/1.1");
    const viaGatehouse = await curl("pinned.test", "/hello");
    assert.ok([35, 60].includes(viaGatehouse.code), `curl exit ${viaGatehouse.code}`);
  });

  it("an expired or self-signed origin gets a block page that says why", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const expired = await curl("expired.test", "/x");
    assert.equal(expired.code, 0);
    assert.equal(expired.status, "502");
    assert.match(String(expired.body), /expired/);
    assert.match(String(expired.body), /CERT_HAS_EXPIRED/);
    const self = await curl("selfsigned.test", "/x");
    assert.equal(self.status, "502");
    assert.match(String(self.body), /self-signed/);
    await until(
      () => log.peekNewest(10).some((x) => x.originCert === "DEPTH_ZERO_SELF_SIGNED_CERT"),
      "record",
    );
    const metrics = await registry.metrics();
    assert.match(
      metrics,
      /gatehouse_proxy_origin_cert_errors_total\{reason="CERT_HAS_EXPIRED"\} 1/,
    );
    assert.match(metrics, /gatehouse_proxy_tls_handshakes_total\{result="ok"\} \d+/);
  });
});

describe("TLS inspection over HTTP/2", () => {
  let dir: string;
  let gatehouse: TestPki;
  let proxy: RunningProxy;
  let log: QueryLog;
  const origins: Record<string, { server: OriginServer; port: number }> = {};
  let gatehouseRoot: string;
  let curlMissing = false;
  /** What the h1-only origin saw: raw request heads. */
  const seen: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-inspect-h2-"));
    gatehouse = await testPki();
    const originPki = await testPki();
    gatehouseRoot = join(dir, "gatehouse-root.pem");
    await writeFile(gatehouseRoot, gatehouse.root);
    for (const name of ["h1.test", "h2.test"]) {
      const served = await originCert(originPki, name);
      origins[name] = await origin(served.cert, served.key, name === "h2.test");
    }
    (origins["h1.test"]!.server as Server).on("request", (req) => {
      seen.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)}`);
    });
    log = new QueryLog(1000);
    ({ proxy, curlMissing } = await inspectingProxy(
      origins,
      originPki.root,
      gatehouse,
      [
        policy("http", "block", 'http.request.uri.path matches "[.](exe|msi)$"', {
          name: "No installers",
        }),
      ],
      log,
      new Registry(),
    ));
  });
  after(async () => {
    await proxy?.close();
    for (const o of Object.values(origins)) o.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A TLS connection to `name` through a CONNECT tunnel, ALPN `alpn`, verified against our root. */
  async function tunnel(
    name: string,
    alpn: string[],
    more: { maxVersion?: "TLSv1.2" } = {},
  ): Promise<TLSSocket> {
    return tlsThrough(proxy.addresses[0]!.port, name, origins[name]!.port, {
      ca: gatehouse.root,
      ALPNProtocols: alpn,
      ...more,
    });
  }

  async function h2session(name: string): Promise<ClientHttp2Session> {
    const tls = await tunnel(name, ["h2"]);
    assert.equal(tls.alpnProtocol, "h2");
    return h2connect(`https://${name}:${origins[name]!.port}`, { createConnection: () => tls });
  }

  /** One request on a session: status, headers, body. */
  function fetch2(
    s: ClientHttp2Session,
    path: string,
    opts: { method?: string; body?: Buffer; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const st = s.request(
        { ":method": opts.method ?? "GET", ":path": path, accept: "text/html", ...opts.headers },
        { endStream: opts.body === undefined },
      );
      let headers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      st.on("response", (h) => {
        headers = h;
      });
      st.on("data", (c: Buffer) => chunks.push(c));
      st.on("end", () =>
        resolve({ status: Number(headers[":status"]), headers, body: Buffer.concat(chunks) }),
      );
      st.on("error", reject);
      if (opts.body !== undefined) {
        // In pieces, without Content-Length: a body of unknown length.
        st.write(opts.body.subarray(0, 1000));
        st.end(opts.body.subarray(1000));
      }
    });
  }

  it("curl --http2: h2 both ways, the body intact, the record says h2", async (t) => {
    if (curlMissing) return t.skip("curl not installed");
    const mark = log.pushed;
    const port = origins["h2.test"]!.port;
    const out = join(dir, "h2-big");
    const r = await run("curl", [
      ...["-sS", "--http2", "--max-time", "20", "--cacert", gatehouseRoot],
      ...["-x", `http://127.0.0.1:${proxy.addresses[0]!.port}`, "-o", out],
      ...["-w", "%{http_code} %{http_version}", `https://h2.test:${port}/big`],
    ]);
    assert.equal(r.stdout, "200 2");
    const { readFile } = await import("node:fs/promises");
    assert.equal(sha(await readFile(out)), sha(BIG));
    const hello = await run("curl", [
      ...["-sS", "--http2", "--max-time", "20", "--cacert", gatehouseRoot],
      ...["-x", `http://127.0.0.1:${proxy.addresses[0]!.port}`, `https://h2.test:${port}/hello`],
    ]);
    assert.equal(hello.stdout, "origin says /hello over HTTP/2.0", "h2 toward the origin too");
    await until(() => log.pushed >= mark + 4, "records");
    const http = log.peekNewest(4).filter((x) => x.kind === "http");
    assert.equal(http.length, 2);
    for (const x of http) {
      assert.equal(x.alpn, "h2");
      assert.equal(x.inspected, true);
      assert.equal(x.originCert, "valid");
    }
  });

  it("judges every stream of one session by itself: a blocked path, an allowed one", async () => {
    const s = await h2session("h2.test");
    try {
      const [blocked, allowed] = await Promise.all([
        fetch2(s, "/downloads/setup.exe"),
        fetch2(s, "/page"),
      ]);
      assert.equal(blocked.status, 403);
      assert.match(String(blocked.body), /No installers/);
      assert.match(String(blocked.headers["content-type"]), /text\/html/);
      assert.equal(allowed.status, 200);
      assert.equal(String(allowed.body), "origin says /page over HTTP/2.0");
      // The session is still good after a refusal.
      assert.equal((await fetch2(s, "/again")).status, 200);
    } finally {
      s.close();
    }
  });

  it("h2 client to an HTTP/1.1-only origin: bodies re-framed chunked, Host from :authority", async () => {
    const s = await h2session("h1.test");
    try {
      const body = Buffer.alloc(300_000, 7);
      const r = await fetch2(s, "/echo", { method: "POST", body });
      assert.equal(r.status, 200);
      assert.equal(String(r.body), `${sha(body)} ${body.length} chunked`);
      const hello = await fetch2(s, "/hello", {
        headers: { cookie: "a=1" },
      });
      assert.equal(String(hello.body), "origin says /hello over HTTP/1.1");
      const head = seen.at(-1)!;
      assert.match(head, new RegExp(`"host":"h1.test:${origins["h1.test"]!.port}"`));
      assert.match(head, /"via":"1.1 gatehouse-/);
    } finally {
      s.close();
    }
  });

  it("an HTTP/1.1 client reaches an h2 origin", async () => {
    const tls = await tunnel("h2.test", ["http/1.1"]);
    assert.equal(tls.alpnProtocol, "http/1.1");
    const port = origins["h2.test"]!.port;
    tls.write(`GET /one HTTP/1.1\r\nhost: h2.test:${port}\r\nconnection: close\r\n\r\n`);
    const chunks: Buffer[] = [];
    for await (const c of tls) chunks.push(c as Buffer);
    const text = String(Buffer.concat(chunks));
    assert.match(text, /^HTTP\/1.1 200/);
    assert.match(text, /\r\norigin says \/one over HTTP\/2.0\r\n/);
  });

  const STATUS: Record<number, string> = { 136: "200", 140: "400", 141: "404", 142: "500" };

  /** An HPACK literal field, not indexed, new name, no Huffman (RFC 7541 §6.2.2). */
  function literal(name: string, value: string): Buffer {
    const n = Buffer.from(name, "latin1");
    const v = Buffer.from(value, "latin1");
    return Buffer.concat([Buffer.from([0, n.length]), n, Buffer.from([v.length]), v]);
  }

  function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(stream, 5);
    return Buffer.concat([h, payload]);
  }

  /**
   * Send stream 1 as raw frames (what node's client would refuse to send) and report how the
   * proxy ended it: "rst:<code>", "goaway:<code>" or "response:<status byte>".
   */
  async function rawStream(fields: [string, string][], data?: Buffer): Promise<string> {
    const port = origins["h1.test"]!.port;
    const tls = await tunnel("h1.test", ["h2"]);
    const block = Buffer.concat(
      [
        [":method", data === undefined ? "GET" : "POST"],
        [":scheme", "https"],
        [":authority", `h1.test:${port}`],
        [":path", "/raw"],
        ...fields,
      ].map(([n, v]) => literal(n!, v!)),
    );
    tls.write(
      Buffer.concat([
        Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        frame(4, 0, 0, Buffer.alloc(0)),
        frame(1, data === undefined ? 0x5 : 0x4, 1, block),
        ...(data === undefined ? [] : [frame(0, 0x1, 1, data)]),
      ]),
    );
    let buf = Buffer.alloc(0);
    try {
      for await (const chunk of tls) {
        buf = Buffer.concat([buf, chunk as Buffer]);
        while (buf.length >= 9) {
          const len = buf.readUIntBE(0, 3);
          if (buf.length < 9 + len) break;
          const type = buf[3]!;
          const stream = buf.readUInt32BE(5) & 0x7fffffff;
          const payload = buf.subarray(9, 9 + len);
          buf = buf.subarray(9 + len);
          if (type === 3 && stream === 1) return `rst:${payload.readUInt32BE(0)}`;
          if (type === 7) return `goaway:${payload.readUInt32BE(4)}`;
          // The first field of a response is :status, from HPACK's static table (RFC 7541 A).
          if (type === 1 && stream === 1) return `response:${STATUS[payload[0]!] ?? payload[0]}`;
        }
      }
      return "closed";
    } finally {
      tls.destroy();
    }
  }

  it("nghttp2's message checks: connection-specific fields, CR/LF in values, a short body", async () => {
    const before = seen.length;
    // RFC 9113 §8.2.2, §8.2.1, §8.1.1: malformed → stream error PROTOCOL_ERROR (1).
    assert.equal(await rawStream([["connection", "keep-alive"]]), "rst:1");
    assert.equal(await rawStream([["transfer-encoding", "chunked"]]), "rst:1");
    // A value with CR or LF: nghttp2 drops the field, so it never reaches an HTTP/1.1 head.
    assert.equal(await rawStream([["x-smuggle", "a\r\nhost: evil.test"]]), "response:200");
    assert.equal(await rawStream([["x-smuggle", "a\nb"]]), "response:200");
    assert.ok(!seen.slice(before).some((h) => /smuggle|evil/.test(h)), seen.join("\n"));
    assert.equal(await rawStream([["Uppercase", "x"]]), "rst:1");
    // §8.3: a repeated pseudo-header, an unknown one, one after a regular field.
    assert.equal(await rawStream([[":path", "/again"]]), "rst:1");
    assert.equal(await rawStream([[":protocol", "websocket"]]), "rst:1");
    assert.equal(
      await rawStream([
        ["x-a", "1"],
        [":status", "200"],
      ]),
      "rst:1",
    );
    assert.equal(seen.length, before + 2, "only the two without the field reached the origin");
    assert.equal(await rawStream([["content-length", "10"]], Buffer.from("short")), "rst:1");
    // A well-formed raw stream gets a response (the harness itself is sound).
    assert.equal(await rawStream([["x-fine", "yes"]]), "response:200");
  });

  it("an oversize ClientHello closes the tunnel before any handshake, logged", async () => {
    const mark = log.pushed;
    const port = origins["h1.test"]!.port;
    const raw = netConnect(proxy.addresses[0]!.port, "127.0.0.1");
    raw.write(`CONNECT h1.test:${port} HTTP/1.1\r\nhost: h1.test:${port}\r\n\r\n`);
    // A ClientHello announcing 1 MiB, in full-size records: more than the 64 KiB we hold.
    const records: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const body = Buffer.alloc(16_384, 0x41);
      if (i === 0) body.set([1, 0x10, 0, 0, 3, 3]);
      records.push(Buffer.from([0x16, 3, 1, 0x40, 0]), body);
    }
    raw.write(Buffer.concat(records));
    raw.on("error", () => {});
    const got: Buffer[] = [];
    raw.on("data", (c: Buffer) => got.push(c));
    await new Promise<void>((resolve) => raw.once("close", () => resolve()));
    assert.match(String(Buffer.concat(got)), /^HTTP\/1.1 200/, "only the CONNECT's 200, no TLS");
    // Tunnels of earlier tests may record after the mark too (their sockets close late).
    const refused = () =>
      log
        .peekNewest(log.pushed - mark)
        .find((x) => x.kind === "net" && x.reason === "no_client_hello");
    await until(() => refused() !== undefined, "the refused tunnel's record");
    assert.equal(refused()!.inspected, undefined);
  });

  it("refuses TLS renegotiation on the decrypted side", async () => {
    const tls = await tunnel("h1.test", ["http/1.1"], { maxVersion: "TLSv1.2" });
    assert.equal(tls.getProtocol(), "TLSv1.2");
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve("no answer"), 5000);
      tls.once("close", () => resolve("closed"));
      tls.once("error", (e) => resolve(`error: ${e.message}`));
      const asked = tls.renegotiate({ rejectUnauthorized: false }, (err) => {
        clearTimeout(timer);
        resolve(err ? `error: ${err.message}` : "renegotiated");
      });
      if (!asked) resolve("not asked");
    });
    tls.destroy();
    // The server's no_renegotiation alert (RFC 5246 §7.2.2), as OpenSSL reports it.
    assert.match(outcome, /^error: .*no renegotiation/);
  });

  it("h2spec on the decrypted side fails no case beyond node:http2's own", {
    skip: h2specSkip,
    timeout: 180_000,
  }, async (t) => {
    // h2spec cannot ask a proxy, so a shim on 127.0.0.1:P sends each of its connections through
    // a CONNECT to localhost:P, and h2spec is pointed at localhost:P: its :authority is then the
    // tunnel's (no 421). The proxy resolves localhost to 127.0.0.2, where the origin listens on
    // the same port P.
    const shim = createNetServer((client) => {
      const up = netConnect(shimProxy.addresses[0]!.port, "127.0.0.1");
      up.write(`CONNECT localhost:${port} HTTP/1.1\r\nhost: localhost:${port}\r\n\r\n`);
      let head = Buffer.alloc(0);
      const onHead = (c: Buffer) => {
        head = Buffer.concat([head, c]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        up.off("data", onHead);
        if (!head.subarray(0, end).toString().startsWith("HTTP/1.1 200")) {
          client.destroy();
          up.destroy();
          return;
        }
        if (head.length > end + 4) client.write(head.subarray(end + 4));
        client.pipe(up).pipe(client);
      };
      up.on("data", onHead);
      client.on("error", () => up.destroy());
      up.on("error", () => client.destroy());
    });
    await new Promise<void>((r) => shim.listen(0, "127.0.0.1", r));
    const port = (shim.address() as AddressInfo).port;
    const originPki = await testPki();
    const o = createSecureServer(await originCert(originPki, "localhost"), (q, r) => {
      if (q.method === "HEAD") r.end();
      else r.end("ok");
    });
    await new Promise<void>((r) => o.listen(port, "127.0.0.2", r));
    const { proxy: shimProxy } = await inspectingProxy(
      { localhost: { port } },
      originPki.root,
      gatehouse,
      [],
      new QueryLog(100),
      new Registry(),
      "127.0.0.2",
    );
    try {
      await assertNoFailuresBeyondNode(t, "inspected h2 (through CONNECT)", port, "/", "localhost");
    } finally {
      shim.close();
      o.close();
      await shimProxy.close();
    }
  });
});
