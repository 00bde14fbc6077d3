// Proxy limits from the edge config file (`edge.proxy.limits`, and the bundle's
// `proxy.connectPorts`): a configured value is what the running proxy enforces, and bad values
// are refused when the file is read.

import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EdgeConfigError, loadEdgeConfigFile } from "../src/config-file.ts";
import { type Edge, startEdge } from "../src/main.ts";
import { edgeRegistry } from "../src/telemetry/metrics.ts";
import { exchangeResponses, parseResponses, rawExchange } from "./proxy-harness.ts";

const dir = mkdtempSync(join(tmpdir(), "gh-proxy-limits-"));

function configFile(name: string, limits: string, extra = ""): string {
  const f = join(dir, name);
  writeFileSync(
    f,
    `resolver: {upstreams: []}
locations: [{id: lo, name: Loopback, networks: [127.0.0.0/8]}]
lists: []
policies:
  - {id: allow-lo, name: Loopback origins, type: net, enabled: true, precedence: 1,
     expression: "net.dst.ip == 127.0.0.1", action: allow,
     settings: {allowPrivateDestinations: [127.0.0.1]}}
${extra}
edge:
  proxy:
    http: ["127.0.0.1:0"]
    limits: ${limits}
`,
  );
  return f;
}

/** The proxy's client connections open now (this file runs one edge at a time). */
async function activeConnections(): Promise<number> {
  const g = edgeRegistry().getSingleMetric("gatehouse_proxy_active_connections")!;
  return (await g.get()).values[0]?.value ?? 0;
}

describe("proxy limits from the config file", () => {
  let edge: Edge;
  let port: number;
  let silent: Server;
  let silentPort: number;
  before(async () => {
    // An origin that accepts connections and never answers (it reads, so a client's FIN
    // relayed through a tunnel ends the connection).
    silent = createServer((s) => {
      s.on("error", () => {});
      s.resume();
    });
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    silentPort = (silent.address() as AddressInfo).port;
    const cfg = await loadEdgeConfigFile(
      configFile(
        "edge.yaml",
        "{maxUrlLength: 300, maxHeaderCount: 10, maxHeaderBytes: 2048, headersTimeoutMs: 300, requestTimeoutMs: 2000, upstreamResponseTimeoutMs: 300, maxConnections: 3, idleTimeoutMs: 400, clientHelloTimeoutMs: 300}",
        `proxy: {connectPorts: [${silentPort}]}`,
      ),
    );
    edge = await startEdge({ config: cfg, log: () => {} });
    port = Number(edge.addresses.proxy.http[0]!.split(":").pop());
  });
  after(async () => {
    await edge.close();
    silent.close();
  });

  const get = (path: string, headers = "") =>
    `GET http://127.0.0.1:${silentPort}${path} HTTP/1.1\r\nHost: 127.0.0.1:${silentPort}\r\n${headers}\r\n`;

  test("maxUrlLength: a target over the configured length gets 414 (the default allows 8 KiB)", async () => {
    const { responses } = await exchangeResponses(port, get(`/${"a".repeat(400)}`), 1);
    assert.equal(responses[0]?.status, 414);
  });

  test("maxHeaderCount: more header lines than configured get 431", async () => {
    let headers = "";
    for (let i = 0; i < 12; i++) headers += `X-H${i}: ${i}\r\n`;
    const { responses } = await exchangeResponses(port, get("/", headers), 1);
    assert.equal(responses[0]?.status, 431);
  });

  test("maxHeaderBytes: a head over the configured size gets 431", async () => {
    const { responses } = await exchangeResponses(
      port,
      get("/", `X-Big: ${"b".repeat(2500)}\r\n`),
      1,
    );
    assert.equal(responses[0]?.status, 431);
  });

  test("headersTimeoutMs: a head that never completes is cut off with 408", async () => {
    const t0 = Date.now();
    const r = await rawExchange(port, "GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n", 4000);
    assert.ok(r.closed);
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - t0 < 3000, "well before the 10 s default");
  });

  test("upstreamResponseTimeoutMs: an origin that never answers gets 504", async () => {
    // Waited for at most 10 s, so not the 30 s default.
    const { responses } = await exchangeResponses(port, get("/"), 1, 10_000);
    assert.equal(responses[0]?.status, 504);
  });

  test("idleTimeoutMs: an idle keep-alive client connection is closed after it", async () => {
    const t0 = Date.now();
    // A refused (private) destination is answered without closing: the next request on the
    // connection is answered too, then the connection idles out.
    const r = await rawExchange(
      port,
      "GET http://10.1.2.3/ HTTP/1.1\r\nHost: 10.1.2.3\r\n\r\nGET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      3000,
    );
    const { responses } = parseResponses(r.text);
    assert.deepEqual(
      responses.map((x) => x.status),
      [403, 200],
    );
    assert.equal(responses[0]!.headers.get("connection"), "keep-alive");
    assert.ok(r.closed);
    assert.ok(Date.now() - t0 < 2500, "closed by the proxy, well before the 60 s default");
  });

  test("clientHelloTimeoutMs: a tunnel whose client never speaks is dialled after it", async () => {
    const accepted = once(silent, "connection");
    const t0 = Date.now();
    const s = connect(port, "127.0.0.1");
    s.on("error", () => {});
    s.write(`CONNECT 127.0.0.1:${silentPort} HTTP/1.1\r\nHost: 127.0.0.1:${silentPort}\r\n\r\n`);
    const [dialled] = (await accepted) as [Socket];
    assert.ok(Date.now() - t0 < 5000, "well before the 10 s default");
    s.destroy();
    await once(dialled, "close"); // the proxy tore the tunnel down: no connection left over
  });

  test("maxConnections: connections beyond the configured number are dropped", async () => {
    // Three established tunnels hold the slots: the HTTP side's head and idle timeouts no
    // longer apply to them, and the tunnel idle timeout is the 120 s default.
    const open: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const s = connect(port, "127.0.0.1");
        s.on("error", () => {});
        open.push(s);
        s.write(
          `CONNECT 127.0.0.1:${silentPort} HTTP/1.1\r\nHost: 127.0.0.1:${silentPort}\r\n\r\n`,
        );
        const [head] = (await once(s, "data")) as [Buffer];
        assert.match(head.toString("latin1"), /^HTTP\/1\.1 200 /);
      }
      assert.equal(await activeConnections(), 3);
      // Refused: closed at once, nothing said (a wrongly admitted one would get the origin's 504).
      const r = await exchangeResponses(port, get("/"), 1);
      assert.ok(r.closed);
      assert.equal(r.text, "");
    } finally {
      for (const s of open) s.destroy();
      // The next test needs the slots back: the proxy counts a connection closed on its "close".
      for (let n = await activeConnections(); n !== 0; n = await activeConnections())
        await new Promise((r) => setTimeout(r, 5));
    }
  });

  test("connectPorts from the bundle: CONNECT to a listed port is established, 443 is not", async () => {
    const ok = await exchangeResponses(
      port,
      `CONNECT 127.0.0.1:${silentPort} HTTP/1.1\r\nHost: 127.0.0.1:${silentPort}\r\n\r\n`,
      1,
    );
    assert.equal(ok.responses[0]?.status, 200);
    const refused = await exchangeResponses(
      port,
      "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n",
      1,
    );
    assert.equal(refused.responses[0]?.status, 403);
  });
});

test("bad proxy limits are refused when the file is read, naming the key", async () => {
  const cases: [string, RegExp][] = [
    ["{maxHeaderBytes: 10}", /\/edge\/proxy\/limits\/maxHeaderBytes/],
    ["{headersTimeoutMs: 0}", /\/edge\/proxy\/limits\/headersTimeoutMs/],
    ["{maxConnections: -1}", /\/edge\/proxy\/limits\/maxConnections/],
    ["{idleTimeoutMs: 1.5}", /\/edge\/proxy\/limits\/idleTimeoutMs/],
    ['{connectTimeoutMs: "5s"}', /\/edge\/proxy\/limits\/connectTimeoutMs/],
    ["{maxHeaderBtyes: 4096}", /\/edge\/proxy\/limits/],
    ["{authFailureLimit: 0}", /\/edge\/proxy\/limits\/authFailureLimit/],
    ["{authFailureWindowMs: 10}", /\/edge\/proxy\/limits\/authFailureWindowMs/],
    [
      "{headersTimeoutMs: 20000, requestTimeoutMs: 10000}",
      /headersTimeoutMs \(20000\) must not exceed requestTimeoutMs \(10000\)/,
    ],
  ];
  for (const [limits, re] of cases) {
    await assert.rejects(
      loadEdgeConfigFile(configFile("bad.yaml", limits)),
      (e: unknown) => e instanceof EdgeConfigError && re.test(e.message),
      limits,
    );
  }
  // requestTimeoutMs 0 (unlimited) with any head timeout is fine.
  const cfg = await loadEdgeConfigFile(
    configFile("ok.yaml", "{headersTimeoutMs: 20000, requestTimeoutMs: 0}"),
  );
  assert.equal(cfg.edge?.proxy?.limits?.requestTimeoutMs, 0);
});
