import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import {
  type AddressInfo,
  createServer as createNetServer,
  connect as netConnect,
  type Server,
} from "node:net";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { hashSecret } from "@gatehouse/contract/secrets";
import {
  ALLOW_TEST_ORIGINS,
  bundle,
  type Harness,
  parseResponses,
  policy,
  rawExchange,
  startBulkOrigin,
  startHarness,
  until,
} from "./proxy-harness.ts";

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function viaProxy(
  h: Harness,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Got> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: "127.0.0.1",
        port: h.port,
        method: opts.method ?? "GET",
        path: url,
        headers: { host: u.host, ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("HTTP forwarding", () => {
  let h: Harness;
  let base: string;
  before(async () => {
    h = await startHarness();
    base = `http://origin.test:${h.origin.port}`;
  });
  after(() => h.close());

  test("GET is forwarded with hop-by-hop fields stripped, Host from the target, Via added", async () => {
    const r = await viaProxy(h, `${base}/hello?q=secret`, {
      headers: {
        connection: "keep-alive, x-drop",
        "x-drop": "1",
        "proxy-connection": "keep-alive",
        "x-keep": "2",
      },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { method: "GET", url: "/hello?q=secret", bodyLength: 0 });
    const seen = h.origin.seen.at(-1)!;
    assert.equal(seen.headers.host, `origin.test:${h.origin.port}`);
    assert.equal(seen.headers["x-drop"], undefined);
    assert.equal(seen.headers["proxy-connection"], undefined);
    assert.equal(seen.headers["x-keep"], "2");
    assert.match(String(seen.headers.via), /^1\.1 gatehouse-[0-9a-f]{8}$/);
    // Response side: the origin's Connection-named field is gone, Via added.
    assert.equal(r.headers["x-hop-header"], undefined);
    assert.match(String(r.headers.via), /gatehouse-/);
    // Logged without the query string (proxy.logQueryStrings is off by default).
    const rec = h.log.peekNewest(1)[0]!;
    assert.equal(rec.kind, "http");
    assert.equal(rec.url, `${base}/hello`);
    assert.equal(rec.action, "allow");
    assert.equal(rec.status, 200);
    assert.equal(rec.policyId, "allow-test-origins");
    assert.equal(rec.upstreamAddr, `127.0.0.1:${h.origin.port}`);
    assert.ok(rec.bytesUp! > 0 && rec.bytesDown! > 0);
  });

  test("large chunked upload is streamed through intact", async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    const r = await new Promise<Got>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: h.port,
          method: "POST",
          path: `${base}/upload`,
          headers: { host: "origin.test" },
          agent: false,
        },
        (res) => {
          let t = "";
          res.on("data", (c) => (t += c));
          res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: t }));
        },
      );
      req.on("error", reject);
      // Several writes without Content-Length: node sends Transfer-Encoding: chunked.
      for (let i = 0; i < 3; i++) req.write(body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
      req.end();
    });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).bodyLength, body.length);
    assert.ok(h.origin.seen.at(-1)!.body.equals(body));
  });

  test("Expect: 100-continue gets a 100 before the body is sent", async () => {
    const head = `POST ${base}/expect HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`;
    const out = await new Promise<string>((resolve) => {
      const s = netConnect(h.port, "127.0.0.1");
      let text = "";
      s.on("data", (c: Buffer) => {
        text += c.toString("latin1");
        if (text.startsWith("HTTP/1.1 100 Continue\r\n\r\n") && !text.includes("200"))
          s.write("hello");
      });
      s.on("close", () => resolve(text));
      s.write(head);
    });
    assert.match(out, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    assert.equal(h.origin.seen.at(-1)!.body.toString(), "hello");
    assert.equal(h.origin.seen.at(-1)!.headers.expect, undefined);
  });

  test("keep-alive: pipelined requests on one client connection, answered in order", async () => {
    const req = (p: string, close = false) =>
      `GET ${base}${p} HTTP/1.1\r\nHost: origin.test\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
    const { text, closed } = await rawExchange(
      h.port,
      req("/one") + req("/two") + req("/three", true),
      2000,
    );
    assert.ok(closed);
    const { responses } = parseResponses(text);
    assert.deepEqual(
      responses.map((r) => r.headers.get("x-origin-path")),
      ["/one", "/two", "/three"],
    );
  });

  test("a client that leaves before the origin answers cancels the origin request", async () => {
    let originSocketClosed!: () => void;
    const closed = new Promise<void>((r) => {
      originSocketClosed = r;
    });
    const silent = createNetServer((sock) => {
      sock.on("error", () => {});
      sock.on("close", originSocketClosed);
    });
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    const port = (silent.address() as AddressInfo).port;
    try {
      const c = netConnect(h.port, "127.0.0.1");
      c.on("error", () => {});
      c.write(`GET http://origin.test:${port}/slow HTTP/1.1\r\nHost: origin.test\r\n\r\n`);
      await once(silent, "connection");
      c.destroy();
      await closed; // the pooled upstream connection was torn down, not left waiting
      await until(
        () => h.log.peekNewest(1)[0]?.url === `http://origin.test:${port}/slow`,
        "the aborted request's record",
      );
      assert.equal(h.log.peekNewest(1)[0]!.reason, "client_aborted");
    } finally {
      silent.close();
    }
  });

  test("response bodies stream with backpressure: a client that stops reading stalls the origin", async () => {
    const total = 64 * 1024 * 1024;
    const { server: big, port, done } = await startBulkOrigin(total);
    try {
      const c = netConnect(h.port, "127.0.0.1");
      c.write(
        `GET http://origin.test:${port}/big HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
      );
      const [first] = (await once(c, "data")) as [Buffer];
      c.pause();
      // Socket buffers hold a few MiB at most; 64 MiB cannot all be in flight.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(done(), false, "the origin was paused, not drained into proxy memory");
      let received = first.length;
      c.on("data", (d: Buffer) => {
        received += d.length;
      });
      c.resume();
      await once(c, "close");
      assert.ok(done());
      assert.ok(received > total, `got ${received} bytes`);
    } finally {
      big.close();
    }
  });

  test("HTTP/1.0 clients are answered and the connection closes", async () => {
    const { text, closed } = await rawExchange(
      h.port,
      `GET ${base}/ten HTTP/1.0\r\nHost: origin.test\r\n\r\n`,
      3000,
    );
    assert.ok(closed);
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.ok(text.endsWith('"bodyLength":0}'));
  });

  test("origin-form requests are not proxied; unreachable origin is 502", async () => {
    const { text } = await rawExchange(h.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(text, /^HTTP\/1\.1 400 /);
    const r = await viaProxy(h, "http://127.0.0.1:1/");
    assert.equal(r.status, 502);
    assert.equal(h.log.peekNewest(1)[0]!.reason, "connect_failed");
  });

  test("a request aimed at the proxy itself is a loop (508)", async () => {
    const r = await viaProxy(h, `http://127.0.0.1:${h.port}/`);
    assert.equal(r.status, 508);
  });

  test("an incoming Via with our token is a loop (508)", async () => {
    const first = await viaProxy(h, `${base}/v`);
    const token = String(first.headers.via).split(" ")[1]!;
    const r = await viaProxy(h, `${base}/v`, { headers: { via: `1.1 ${token}` } });
    assert.equal(r.status, 508);
  });

  test("metrics are on the shared registry", async () => {
    const text = await h.registry.metrics();
    assert.match(
      text,
      /gatehouse_proxy_requests_total\{kind="http",action="allow",status_class="2xx"\} \d+/,
    );
    assert.match(text, /gatehouse_proxy_upstream_connect_seconds_count \d+/);
    assert.match(text, /gatehouse_proxy_bytes_total\{direction="down"\} \d+/);
    assert.match(text, /gatehouse_proxy_errors_total\{cause="connect_failed"\} 1/);
  });

  test("curl -x end to end", async (t) => {
    const run = promisify(execFile);
    let out: { stdout: string };
    try {
      out = await run("curl", [
        "-sS",
        "--max-time",
        "5",
        "-x",
        `http://127.0.0.1:${h.port}`,
        `${base}/curl`,
      ]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return t.skip("curl not installed");
      throw e;
    }
    assert.equal(JSON.parse(out.stdout).url, "/curl");
  });
});

describe("policies, SSRF guard, admission", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(
      bundle({
        policies: [
          policy("http", "block", 'http.request.uri.path contains "/casino"', {
            id: "no-casino",
            name: "No casinos",
            settings: { blockReason: "Gambling is not allowed" },
          }),
          policy("net", "block", 'net.connect.host == "netblocked.test"', { id: "net-block" }),
          policy("http", "block", "any(http.conn.domains[*] in $bad_domains)", {
            id: "list-block",
          }),
          policy("http", "block", "http.response.status_code == 418", {
            id: "no-teapots",
            name: "No teapots",
          }),
          ALLOW_TEST_ORIGINS,
        ],
        lists: [{ id: "l1", name: "bad_domains", type: "domain", items: ["listed.test"] }],
        blockPage: { title: "Acme Gateway", color: "#123456" },
        proxy: { bypassDomains: ["intranet.example"], logQueryStrings: true },
      }),
    );
  });
  after(() => h.close());

  test("HTTP block: text/plain for non-browsers, themed HTML for browsers, 403", async () => {
    const base = `http://origin.test:${h.origin.port}`;
    const before = h.origin.seen.length;
    const t = await viaProxy(h, `${base}/casino?x=1`);
    assert.equal(t.status, 403);
    assert.match(String(t.headers["content-type"]), /^text\/plain/);
    assert.match(t.body, /Policy: No casinos/);
    assert.match(t.body, /Reason: Gambling is not allowed/);
    const rec = h.log.peekNewest(1)[0]!;
    assert.equal(rec.action, "block");
    assert.equal(rec.policyId, "no-casino");
    assert.equal(rec.url, `${base}/casino?x=1`, "logQueryStrings: true keeps the query");
    assert.ok(t.body.includes(`Request ID: ${rec.id}`));
    const html = await viaProxy(h, `${base}/casino`, {
      headers: { accept: "text/html,*/*;q=0.8" },
    });
    assert.equal(html.status, 403);
    assert.match(String(html.headers["content-type"]), /^text\/html/);
    assert.ok(
      html.body.includes("Acme Gateway") &&
        html.body.includes("#123456") &&
        html.body.includes("No casinos"),
    );
    assert.equal(h.origin.seen.length, before, "a blocked request never reaches the origin");
  });

  test("network policy blocks before HTTP policies and before DNS", async () => {
    const calls = h.resolver.calls;
    const r = await viaProxy(h, "http://netblocked.test/");
    assert.equal(r.status, 403);
    assert.equal(h.log.peekNewest(1)[0]!.policyId, "net-block");
    assert.equal(h.resolver.calls, calls);
  });

  test("lists shared with DNS work in proxy rules (a listed domain and its subdomains)", async () => {
    for (const url of ["http://listed.test/", "http://www.listed.test/x"]) {
      const r = await viaProxy(h, url);
      assert.equal(r.status, 403, url);
      assert.equal(h.log.peekNewest(1)[0]!.policyId, "list-block", url);
      assert.equal(h.log.peekNewest(1)[0]!.list, "bad_domains", url);
    }
  });

  test("response-phase policy replaces the origin's answer", async () => {
    const r = await viaProxy(h, `http://origin.test:${h.origin.port}/status/418`);
    assert.equal(r.status, 403);
    assert.match(r.body, /No teapots/);
  });

  test("DNS-blocked names are blocked", async () => {
    const r = await viaProxy(h, "http://dnsblocked.test/");
    assert.equal(r.status, 403);
    assert.equal(h.log.peekNewest(1)[0]!.reason, "dns_blocked");
  });

  test("private, link-local and rebinding targets are refused without an explicit allow", async () => {
    for (const url of [
      "http://internal.test/",
      "http://metadata.test/latest/meta-data",
      "http://10.1.2.3/",
      "http://[::1]:1/",
      "http://rebind.test/",
    ]) {
      const r = await viaProxy(h, url);
      assert.equal(r.status, 403, url);
      assert.equal(h.log.peekNewest(1)[0]!.reason, "private_target", url);
    }
  });

  test("PAC file per location with bypass domains DIRECT", async () => {
    const { text } = await rawExchange(
      h.port,
      "GET /proxy.pac HTTP/1.1\r\nHost: gw.example:3128\r\nConnection: close\r\n\r\n",
    );
    const { responses } = parseResponses(text);
    assert.equal(responses[0]!.status, 200);
    assert.equal(responses[0]!.headers.get("content-type"), "application/x-ns-proxy-autoconfig");
    assert.ok(responses[0]!.body.includes('"intranet.example":1'));
    assert.ok(responses[0]!.body.includes('return "PROXY gw.example:3128"'));
    assert.equal(responses[0]!.headers.get("cache-control"), "max-age=300");
    // Served through the PAC pipeline: recorded like any request.
    const rec = h.log.peekNewest(1)[0]!;
    assert.equal(rec.url, "/proxy.pac");
    assert.equal(rec.status, 200);
    assert.equal(rec.action, "allow");
    assert.equal(rec.reason, undefined);
  });

  test("an origin-form request other than the PAC file is 400 and recorded", async () => {
    const { text } = await rawExchange(h.port, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(text, /^HTTP\/1\.1 400 /);
    const rec = h.log.peekNewest(1)[0]!;
    assert.equal(rec.url, "/index.html");
    assert.equal(rec.reason, "bad_target");
    assert.equal(rec.action, "refused");
  });
});

describe("unknown clients and proxy authentication", () => {
  test("a client outside every location gets 403 (never an open proxy)", async () => {
    const h = await startHarness(
      bundle({ locations: [{ id: "far", name: "Far", networks: ["192.0.2.0/24"] }] }),
    );
    try {
      const r = await viaProxy(h, `http://origin.test:${h.origin.port}/`);
      assert.equal(r.status, 403);
      assert.equal(h.log.peekNewest(1)[0]!.reason, "unknown_client");
      const { text } = await rawExchange(h.port, "GET /proxy.pac HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(text, /^HTTP\/1\.1 403 /);
      assert.equal(h.origin.seen.length, 0);
    } finally {
      await h.close();
    }
  });

  test("407 with a Basic challenge; good credentials fill identity fields", async () => {
    const hash = await hashSecret("s3cret");
    const h = await startHarness(
      bundle({
        locations: [
          { id: "lo", name: "Loopback", networks: ["127.0.0.0/8"], requireProxyAuth: true },
        ],
        identities: {
          users: [{ id: "u1", email: "ann@example.com", groups: ["staff"], credentialHash: hash }],
          devices: [],
        },
        policies: [
          policy(
            "http",
            "block",
            'any(identity.groups.name[*] == "staff") and http.request.uri.path == "/staff-blocked"',
            { id: "staff-block" },
          ),
          ALLOW_TEST_ORIGINS,
        ],
      }),
    );
    try {
      const base = `http://origin.test:${h.origin.port}`;
      const none = await viaProxy(h, `${base}/`);
      assert.equal(none.status, 407);
      assert.equal(
        none.headers["proxy-authenticate"],
        'Basic realm="Gatehouse proxy", charset="UTF-8"',
      );
      const auth = (u: string, p: string) => ({
        "proxy-authorization": `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`,
      });
      const wrong = await viaProxy(h, `${base}/`, { headers: auth("ann@example.com", "nope") });
      assert.equal(wrong.status, 407);
      const ok = await viaProxy(h, `${base}/in`, { headers: auth("ann@example.com", "s3cret") });
      assert.equal(ok.status, 200);
      assert.equal(h.log.peekNewest(1)[0]!.identity, "ann@example.com");
      assert.equal(h.origin.seen.at(-1)!.headers["proxy-authorization"], undefined);
      const blocked = await viaProxy(h, `${base}/staff-blocked`, {
        headers: auth("ann@example.com", "s3cret"),
      });
      assert.equal(blocked.status, 403);
      assert.equal(h.log.peekNewest(1)[0]!.policyId, "staff-block");
    } finally {
      await h.close();
    }
  });
});

describe("limits", () => {
  let h: Harness;
  let silent: Server;
  let silentPort: number;
  before(async () => {
    h = await startHarness(bundle(), {
      headersTimeoutMs: 300,
      maxHeaderBytes: 2048,
      maxUrlLength: 200,
      upstreamResponseTimeoutMs: 300,
    });
    // An origin that accepts connections and never answers.
    silent = createNetServer((s) => s.on("error", () => {}));
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    silentPort = (silent.address() as AddressInfo).port;
  });
  after(async () => {
    await h.close();
    silent.close();
  });

  test("an origin that never answers gets 504 after the upstream response timeout", async () => {
    const r = await viaProxy(h, `http://origin.test:${silentPort}/`);
    assert.equal(r.status, 504);
    assert.equal(h.log.peekNewest(1)[0]!.reason, "upstream_timeout");
  });

  test("HEAD is forwarded and answered without a body", async () => {
    const r = await viaProxy(h, `http://origin.test:${h.origin.port}/head`, { method: "HEAD" });
    assert.equal(r.status, 200);
    assert.equal(r.body, "");
    assert.equal(h.origin.seen.at(-1)!.method, "HEAD");
  });

  test("slow-loris: a head that never completes is cut off with 408", async () => {
    // Trickle-free variant: half a head, then silence; the proxy must not wait forever.
    const { text, closed } = await rawExchange(
      h.port,
      "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nX-A: 1\r\n",
      5000,
    );
    assert.ok(closed);
    assert.match(text, /^HTTP\/1\.1 408 /);
  });

  test("oversized head → 431, oversized URL → 414, both close the connection", async () => {
    const big = await rawExchange(
      h.port,
      `GET http://origin.test:${h.origin.port}/ HTTP/1.1\r\nHost: origin.test\r\nX-Big: ${"a".repeat(3000)}\r\n\r\n`,
      3000,
    );
    assert.match(big.text, /^HTTP\/1\.1 431 /);
    assert.ok(big.closed);
    const long = await rawExchange(
      h.port,
      `GET http://origin.test:${h.origin.port}/${"a".repeat(300)} HTTP/1.1\r\nHost: origin.test\r\n\r\n`,
      3000,
    );
    assert.match(long.text, /^HTTP\/1\.1 414 /);
    assert.ok(long.closed);
  });
});
