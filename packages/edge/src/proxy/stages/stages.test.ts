// Stage tests: each stage on a hand-made exchange, outcomes checked as values (an answer such as
// 403 or 407 is an outcome, never an exception).

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import type { ConfigBundle, Policy } from "@gatehouse/contract";
import { hashSecret } from "@gatehouse/contract/secrets";
import { Registry } from "prom-client";
import type { ResolveResult } from "../../resolver.ts";
import { compileSnapshot, type EdgeSnapshot } from "../../snapshot.ts";
import { AddressGuard } from "../address-guard.ts";
import { AuthFailureLimiter } from "../auth-limiter.ts";
import { type Exchange, newExchange } from "../exchange.ts";
import { ClientRequest } from "../http1/message.ts";
import { parseRequestHead } from "../http1/syntax.ts";
import { proxyMetrics } from "../proxy-metrics.ts";
import { createAdmit } from "./admit.ts";
import { createIdentify } from "./identify.ts";
import { traceEcho } from "./max-forwards.ts";
import { createParseTarget } from "./parse-target.ts";
import { createPolicyContexts, createPolicyRequest } from "./policy-request.ts";
import { createResolvePeer } from "./resolve-peer.ts";
import { createUpstreamRequest } from "./upstream-request.ts";

function bundle(policies: Policy[], over: Partial<ConfigBundle> = {}): ConfigBundle {
  return {
    schemaVersion: 1,
    version: 1,
    resolver: { upstreams: [] },
    locations: [{ id: "lan", name: "LAN", networks: ["10.0.0.0/8"] }],
    lists: [],
    policies,
    ...over,
  };
}

function p(
  type: "http" | "net",
  action: Policy["action"],
  expression: string,
  precedence: number,
  settings?: Policy["settings"],
): Policy {
  return {
    id: `${type}-${precedence}`,
    name: `${type} ${precedence}`,
    type,
    enabled: true,
    precedence,
    expression,
    action,
    ...(settings ? { settings } : {}),
  };
}

function exchange(
  b: ConfigBundle | EdgeSnapshot,
  url: string,
  opts: { client?: string; headers?: string[]; method?: string } = {},
): Exchange {
  const raw = opts.headers ?? ["Host", "x"];
  let head = `${opts.method ?? "GET"} ${url} HTTP/1.1\r\n`;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  const buf = Buffer.from(`${head}\r\n`, "latin1");
  const parsed = parseRequestHead(buf, buf.length, { maxHeadBytes: 1 << 16, maxHeaderCount: 1000 });
  const socket = {
    remoteAddress: opts.client ?? "10.1.2.3",
    remotePort: 40000,
    bytesRead: 0,
    bytesWritten: 0,
  } as Socket;
  return newExchange(
    "bundle" in b ? b : compileSnapshot(b),
    opts.method === "CONNECT" ? "connect" : "http",
    new ClientRequest(parsed, socket, { attach() {}, resume() {} }, false),
    undefined,
    socket,
  );
}

const parse = createParseTarget({
  maxHeaderCount: 100,
  maxUrlLength: 8192,
  viaToken: "gatehouse-test",
});
const identify = createIdentify();
const admit = createAdmit();
const policyRequest = createPolicyRequest(createPolicyContexts());

function resolverOf(table: Record<string, ResolveResult>) {
  return { resolve: async (name: string) => table[name] ?? { addresses: [], rcode: "NXDOMAIN" } };
}

test("parse-target splits absolute-form targets and refuses others", () => {
  const ex = exchange(bundle([]), "http://Example.COM:8080/a/b?c=d");
  assert.equal(parse.run(ex), "next");
  assert.deepEqual(
    [ex.host, ex.port, ex.path, ex.query, ex.hostFamily],
    ["example.com", 8080, "/a/b", "c=d", 0],
  );
  const v6 = exchange(bundle([]), "http://[2001:db8::1]/");
  assert.equal(parse.run(v6), "next");
  assert.deepEqual([v6.host, v6.port, v6.hostFamily], ["2001:db8::1", 80, 6]);
  for (const bad of [
    "https://x/",
    "http://user:pw@x/",
    "http://x/a#frag",
    "http://x/a\\b",
    "http://0x7f.1/",
  ]) {
    const e = exchange(bundle([]), bad);
    assert.equal(parse.run(e), "respond", bad);
    assert.equal(e.answer?.status, 400, bad);
  }
  const connect = exchange(bundle([]), "example.com:22", { method: "CONNECT" });
  assert.equal(parse.run(connect), "respond");
  assert.equal(connect.answer?.reason, "port_not_allowed");
});

test("identify + admit: unknown clients 403, required auth 407, bad credentials 407", async () => {
  const unknown = exchange(bundle([]), "http://a.example/", { client: "192.0.2.1" });
  assert.equal(await identify.run(unknown), "next");
  assert.equal(admit.run(unknown), "respond");
  assert.equal(unknown.answer?.status, 403);

  const auth = bundle([], {
    locations: [{ id: "lan", name: "LAN", networks: ["10.0.0.0/8"], requireProxyAuth: true }],
  });
  const none = exchange(auth, "http://a.example/");
  await identify.run(none);
  assert.equal(admit.run(none), "respond");
  assert.deepEqual([none.answer?.status, none.answer?.reason], [407, "auth_required"]);

  const wrong = exchange(auth, "http://a.example/", {
    headers: [
      "Host",
      "a",
      "Proxy-Authorization",
      `Basic ${Buffer.from("nobody:x").toString("base64")}`,
    ],
  });
  await identify.run(wrong);
  assert.equal(admit.run(wrong), "respond");
  assert.deepEqual([wrong.answer?.status, wrong.answer?.reason], [407, "auth_failed"]);
});

test("identify: one KDF per credential, 429 without the KDF past the failure limit, none for strangers", async () => {
  const snap = compileSnapshot(
    bundle([], {
      locations: [{ id: "lan", name: "LAN", networks: ["10.0.0.0/8"], requireProxyAuth: true }],
      identities: {
        users: [{ id: "u1", email: "ann@example.com", credentialHash: await hashSecret("s3cret") }],
        devices: [],
      },
    }),
  );
  let kdfRuns = 0;
  const verify = snap.identities.verify.bind(snap.identities);
  snap.identities.verify = (user, password) => {
    if (user === "ann@example.com") kdfRuns++;
    return verify(user, password);
  };
  const registry = new Registry();
  const limited = createIdentify({
    limiter: new AuthFailureLimiter({ maxFailures: 2, windowMs: 60_000 }),
    metrics: proxyMetrics(registry),
  });
  const basic = (pw: string) => `Basic ${Buffer.from(`ann@example.com:${pw}`).toString("base64")}`;
  const run = async (pw: string, client = "10.1.2.3") => {
    const ex = exchange(snap, "http://a.example/", {
      client,
      headers: ["Host", "a", "Proxy-Authorization", basic(pw)],
    });
    const o = await limited.run(ex);
    return { ex, outcome: o === "next" ? admit.run(ex) : o };
  };

  // A keep-alive connection (or any client) repeating good credentials: the KDF runs once.
  const burst = await Promise.all([run("s3cret"), run("s3cret"), run("s3cret")]);
  for (const { ex, outcome } of burst) {
    assert.equal(outcome, "next");
    assert.equal(ex.identity?.email, "ann@example.com");
  }
  assert.equal((await run("s3cret")).ex.identity?.email, "ann@example.com");
  assert.equal(kdfRuns, 1);

  // Two guesses (the success above took its own attempt back), then 429 without a KDF run.
  for (const pw of ["guess-1", "guess-2"]) {
    const { ex, outcome } = await run(pw);
    assert.equal(outcome, "respond");
    assert.deepEqual([ex.answer?.status, ex.answer?.reason], [407, "auth_failed"]);
  }
  assert.equal(kdfRuns, 3);
  const over = await run("guess-3");
  assert.equal(over.outcome, "respond");
  assert.deepEqual([over.ex.answer?.status, over.ex.reason], [429, "auth_rate_limited"]);
  assert.ok(over.ex.answer!.retryAfterSeconds! > 0 && over.ex.answer!.retryAfterSeconds! <= 60);
  assert.equal(over.ex.identity, undefined);
  assert.equal(kdfRuns, 3, "no KDF for a limited client");
  // Verdicts already known still answer: a cached failure is 407, a cached success works.
  assert.equal((await run("guess-1")).ex.answer?.status, 407);
  assert.equal((await run("s3cret")).ex.identity?.email, "ann@example.com");
  // Other addresses are not limited; strangers (admit's 403) are never checked.
  assert.equal((await run("guess-4", "10.9.9.9")).ex.answer?.status, 407);
  const stranger = await run("guess-5", "192.0.2.1");
  assert.equal(stranger.ex.answer?.status, 403);
  assert.equal(kdfRuns, 4);

  const text = await registry.metrics();
  assert.match(text, /gatehouse_proxy_auth_failures_total\{result="rejected"\} 3/);
  assert.match(text, /gatehouse_proxy_auth_failures_total\{result="limited"\} 1/);
});

test("policy-request: network before HTTP, precedence, first match wins", () => {
  const b = bundle([
    p("http", "allow", 'http.request.uri.path == "/ok"', 1),
    p("http", "block", 'http.conn.hostname == "a.example"', 2),
    p("net", "block", "net.dst.port == 8081", 3),
    p("net", "allow", 'net.connect.host == "a.example"', 4),
  ]);
  const run = (url: string) => {
    const ex = exchange(b, url);
    assert.equal(parse.run(ex), "next");
    return { outcome: policyRequest.run(ex), ex };
  };
  const ok = run("http://a.example/ok");
  assert.equal(ok.outcome, "next");
  assert.equal(ok.ex.policy?.id, "http-1");
  const blocked = run("http://a.example/other");
  assert.equal(blocked.outcome, "respond");
  assert.equal(blocked.ex.policy?.id, "http-2");
  assert.equal(blocked.ex.answer?.status, 403);
  // The network block wins even though an HTTP allow would match.
  const port = run("http://a.example:8081/ok");
  assert.equal(port.outcome, "respond");
  assert.equal(port.ex.policy?.id, "net-3");
});

test("policy-request: header fields by lowercased name, repeats grouped, names in arrival order", () => {
  const b = bundle([
    p("http", "block", 'any(http.request.headers["x-tag"][*] == "two")', 1),
    p("http", "block", 'http.request.headers.names[1] == "x-tag"', 2),
    p("http", "block", 'any(http.request.headers["user-agent"][*] contains "sqlmap")', 3),
  ]);
  const run = (headers: string[]) => {
    const ex = exchange(b, "http://a.example/", { headers });
    assert.equal(parse.run(ex), "next");
    return { outcome: policyRequest.run(ex), id: ex.policy?.id };
  };
  // The second X-Tag line is grouped with the first, whatever the case of its name.
  assert.deepEqual(run(["Host", "a.example", "X-TAG", "one", "x-tag", "two"]), {
    outcome: "respond",
    id: "http-1",
  });
  // names[1] is the second distinct name as sent (not in sorted order).
  assert.deepEqual(run(["Host", "a.example", "X-Tag", "one", "Accept", "*/*"]), {
    outcome: "respond",
    id: "http-2",
  });
  assert.deepEqual(run(["Accept", "*/*", "Host", "a.example", "X-Tag", "one"]), {
    outcome: "next",
    id: undefined,
  });
  // Many fields (grouped through an index): the same answers.
  const many = ["Host", "a.example"];
  for (let i = 0; i < 40; i++) many.push(`X-F${i}`, String(i));
  assert.deepEqual(run([...many, "User-Agent", "sqlmap/1.7", "X-Tag", "one"]), {
    outcome: "respond",
    id: "http-3",
  });
  assert.deepEqual(run([...many, "X-Tag", "one", "X-TAG", "two"]), {
    outcome: "respond",
    id: "http-1",
  });
  // obs-text in a value (one byte per char, as read) reaches the rules as it came.
  assert.equal(run(["Host", "a.example", "User-Agent", "sqlmap\u00e9"]).outcome, "respond");
});

test("policy-request: header rules that read named fields only see the same answers (map of those names alone)", () => {
  const named = bundle([
    p("http", "block", 'any(http.request.headers["x-tag"][*] == "two")', 1),
    p("http", "block", 'any(http.request.headers["user-agent"][*] contains "sqlmap")', 2),
    p("http", "block", 'http.request.headers["X-Tag"][0] == "one"', 3),
  ]);
  const snap = compileSnapshot(named);
  assert.deepEqual([...(snap.policies.http.queryHeaderNames ?? [])].sort(), [
    "X-Tag",
    "user-agent",
    "x-tag",
  ]);
  // A rule reading every field: no name list, the whole map is built.
  const whole = bundle([
    p("http", "block", 'any(http.request.headers["x-tag"][*] == "two")', 1),
    p("http", "block", 'any(http.request.headers[*][*] == "evil")', 2),
  ]);
  assert.equal(compileSnapshot(whole).policies.http.queryHeaderNames, undefined);
  const run = (b: EdgeSnapshot, headers: string[]) => {
    const ex = exchange(b, "http://a.example/", { headers });
    assert.equal(parse.run(ex), "next");
    return { outcome: policyRequest.run(ex), id: ex.policy?.id };
  };
  const many = ["Host", "a.example"];
  for (let i = 0; i < 40; i++) many.push(`X-F${i}`, String(i));
  for (const pre of [["Host", "a.example"], many]) {
    // Grouped whatever the case of the name; a key written with capitals matches no field.
    assert.deepEqual(run(snap, [...pre, "X-TAG", "one", "x-tag", "two"]), {
      outcome: "respond",
      id: "http-1",
    });
    assert.deepEqual(run(snap, [...pre, "User-Agent", "sqlmap\u00e9", "X-Tag", "one"]), {
      outcome: "respond",
      id: "http-2",
    });
    assert.deepEqual(run(snap, [...pre, "X-Tag", "one", "Accept", "*/*"]), {
      outcome: "next",
      id: undefined,
    });
  }
  const w = compileSnapshot(whole);
  assert.deepEqual(run(w, ["Host", "a.example", "X-Other", "evil"]), {
    outcome: "respond",
    id: "http-2",
  });
  assert.deepEqual(run(w, ["Host", "a.example", "X-TAG", "two"]), {
    outcome: "respond",
    id: "http-1",
  });
});

test("resolve-peer: SSRF guard on every candidate, explicit allow, DNS outcomes", async () => {
  const resolve = createResolvePeer(
    resolverOf({
      "inside.example": { addresses: ["10.0.0.5"], rcode: "NOERROR" },
      "mixed.example": { addresses: ["127.0.0.1", "93.184.216.34"], rcode: "NOERROR" },
      "blocked.example": {
        addresses: [],
        rcode: "NOERROR",
        blockedBy: { policyId: "d", policyName: "DNS" },
      },
      "broken.example": { addresses: [], rcode: "SERVFAIL" },
    }),
    new AddressGuard(),
  );
  const b = bundle([p("net", "allow", 'net.connect.host == "allowed-inside.example"', 1)]);
  const at = async (url: string) => {
    const ex = exchange(b, url);
    parse.run(ex);
    policyRequest.run(ex);
    return { outcome: await resolve.run(ex), ex };
  };
  const inside = await at("http://inside.example/");
  assert.deepEqual(
    [inside.outcome, inside.ex.answer?.status, inside.ex.answer?.reason],
    ["respond", 403, "private_target"],
  );
  const mixed = await at("http://mixed.example/");
  assert.equal(mixed.outcome, "next");
  assert.equal(
    mixed.ex.peerIp,
    "93.184.216.34",
    "the public address is pinned, the loopback one skipped",
  );
  const literal = await at("http://169.254.169.254/latest/");
  assert.equal(literal.ex.answer?.reason, "private_target");
  const dnsBlocked = await at("http://blocked.example/");
  assert.deepEqual(
    [dnsBlocked.ex.answer?.status, dnsBlocked.ex.answer?.reason],
    [403, "dns_blocked"],
  );
  const broken = await at("http://broken.example/");
  assert.deepEqual([broken.ex.answer?.status, broken.ex.answer?.reason], [502, "dns_failed"]);

  const allowed = createResolvePeer(
    resolverOf({ "allowed-inside.example": { addresses: ["10.0.0.7"], rcode: "NOERROR" } }),
    new AddressGuard(),
  );
  // An allow policy that names the host is not consent to dial an internal address …
  const named = exchange(b, "http://allowed-inside.example/");
  parse.run(named);
  policyRequest.run(named);
  assert.equal(named.policy?.id, "net-1");
  assert.equal(await allowed.run(named), "respond");
  assert.equal(named.answer?.reason, "private_target");
  // … only its allowPrivateDestinations is, and only for the addresses listed there.
  const optIn = bundle([
    p("net", "allow", 'net.connect.host == "allowed-inside.example"', 1, {
      allowPrivateDestinations: ["10.0.0.0/29"],
    }),
  ]);
  const ex = exchange(optIn, "http://allowed-inside.example/");
  parse.run(ex);
  policyRequest.run(ex);
  assert.equal(await allowed.run(ex), "next");
  assert.equal(ex.peerIp, "10.0.0.7");
  assert.equal(ex.peerPrivate, true);
  const outside = createResolvePeer(
    resolverOf({ "allowed-inside.example": { addresses: ["10.0.0.8"], rcode: "NOERROR" } }),
    new AddressGuard(),
  );
  const ex2 = exchange(optIn, "http://allowed-inside.example/");
  parse.run(ex2);
  policyRequest.run(ex2);
  assert.equal(await outside.run(ex2), "respond");
  assert.equal(ex2.answer?.reason, "private_target");
});

test("a TRACE echo is the request head as received, without credentials or cookies", () => {
  const ex = exchange(bundle([]), "http://a.example/p?q", {
    method: "TRACE",
    headers: ["Host", "a", "Proxy-Authorization", "Basic eA==", "COOKIE", "c", "X-A", "1"],
  });
  assert.equal(
    traceEcho(ex).toString("latin1"),
    "TRACE http://a.example/p?q HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n",
  );
});

test("upstream-request: Host without the scheme's default port (80 plain, 443 inspected)", () => {
  const upstream = createUpstreamRequest("1.1 gatehouse-test");
  const hostOf = (ex: Exchange) => {
    assert.equal(upstream.run(ex), "next");
    const h = ex.upstreamHeaders ?? [];
    return h[h.findIndex((v, i) => i % 2 === 0 && v.toLowerCase() === "host") + 1];
  };
  const inspected = (port: number, family: 0 | 6 = 0) => {
    const ex = exchange(bundle([]), "/p", { headers: ["Host", "a.example"] });
    ex.inspection = {
      host: family === 6 ? "2001:db8::1" : "a.example",
      hostFamily: family,
      port,
      sni: "a.example",
      location: undefined,
      identity: undefined,
      principal: undefined,
      tlsVersion: "TLSv1.3",
      alpn: "http/1.1",
    };
    [ex.host, ex.hostFamily, ex.port] = [ex.inspection.host, family, port];
    return ex;
  };
  assert.equal(hostOf(inspected(443)), "a.example");
  assert.equal(hostOf(inspected(8443)), "a.example:8443");
  // An inspected tunnel to port 80 still carries https: 80 is not its default.
  assert.equal(hostOf(inspected(80)), "a.example:80");
  assert.equal(hostOf(inspected(443, 6)), "[2001:db8::1]");
  const plain = (url: string) => {
    const ex = exchange(bundle([]), url, { headers: ["Host", "a.example"] });
    assert.equal(parse.run(ex), "next");
    return ex;
  };
  assert.equal(hostOf(plain("http://a.example/")), "a.example");
  assert.equal(hostOf(plain("http://a.example:8080/")), "a.example:8080");
  assert.equal(hostOf(plain("http://a.example:443/")), "a.example:443");
});
