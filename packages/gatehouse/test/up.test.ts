// Issue: "Edge ↔ control" end-to-end tests. The real `gatehouse` command, on loopback, with a
// fake upstream DNS server and a local origin started here.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  BUILTIN_DO_NOT_INSPECT,
  BUILTIN_DO_NOT_INSPECT_ITEMS,
  BUILTIN_DO_NOT_INSPECT_LIST,
} from "@gatehouse/contract";
import {
  api,
  eventually,
  fakeUpstream,
  freePort,
  queryDns,
  type Running,
  runCli,
} from "./support/processes.ts";

function proxyGet(proxyPort: number, url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string; type: string }>((res, rej) => {
    const req = request(
      { host: "127.0.0.1", port: proxyPort, method: "GET", path: url, headers },
      (r) => {
        let body = "";
        r.setEncoding("utf8");
        r.on("data", (d: string) => {
          body += d;
        });
        r.on("end", () =>
          res({ status: r.statusCode ?? 0, body, type: String(r.headers["content-type"] ?? "") }),
        );
      },
    );
    req.on("error", rej);
    req.end();
  });
}

const A = (r: { answers: { type: string; data: unknown }[] }) =>
  r.answers.filter((a) => a.type === "A").map((a) => a.data);

describe("gatehouse up: control and an enrolled edge in one command", () => {
  let dir: string;
  let up: Running;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let origin: Server;
  let originPort: number;
  let ports: { dns: number; proxy: number; api: number; metrics: number };
  let call: ReturnType<typeof api>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-up-"));
    upstream = await fakeUpstream("192.0.2.10");
    origin = createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`hello from the origin: ${req.url}`);
    });
    await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
    originPort = (origin.address() as AddressInfo).port;
    ports = {
      dns: await freePort(),
      proxy: await freePort(),
      api: await freePort(),
      metrics: await freePort(),
    };
    up = runCli([
      "up",
      "--data-dir",
      dir,
      "--dns",
      `127.0.0.1:${ports.dns}`,
      "--proxy",
      `127.0.0.1:${ports.proxy}`,
      "--api",
      `127.0.0.1:${ports.api}`,
      "--metrics",
      `127.0.0.1:${ports.metrics}`,
      "--dot",
      `127.0.0.1:${await freePort()}`,
      "--doh",
      `127.0.0.1:${await freePort()}`,
    ]);
    const [, token] = await up.waitFor(/Admin token \(shown once, keep it\): (\S+)/);
    await up.waitFor(/Ctrl-C stops everything/);
    call = api(`http://127.0.0.1:${ports.api}`, token!);
    // The starter's cache is sized for a small machine (8 MiB, up.ts STARTER_CACHE_BYTES).
    const seeded = await call("GET", "/resolver");
    assert.equal(
      (seeded.body as { cache?: { maxBytes?: number } }).cache?.maxBytes,
      8 * 1024 * 1024,
    );
    // Point the resolver at the local fake upstream before any name is resolved.
    const r = await call("PUT", "/resolver", {
      upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
      dnssec: { validate: false },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await call("POST", "/config/publish", {});
  });

  after(async () => {
    await up?.stop();
    await upstream?.close();
    origin?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("prints what runs where and the commands to try", () => {
    const out = up.output();
    assert.match(out, new RegExp(`DNS over UDP\\s+127\\.0\\.0\\.1:${ports.dns}`));
    assert.match(out, new RegExp(`HTTP proxy\\s+127\\.0\\.0\\.1:${ports.proxy}`));
    assert.match(out, new RegExp(`control API\\s+http://127\\.0\\.0\\.1:${ports.api}/api/v1`));
    assert.match(out, new RegExp(`dashboard\\s+http://127\\.0\\.0\\.1:${ports.api}/ `));
    assert.match(out, /dig @127\.0\.0\.1 -p \d+ blocked\.example/);
    assert.match(out, /curl -x http:\/\/127\.0\.0\.1:\d+ /);
  });

  test("the dashboard printed in the banner is served at / without a token", async () => {
    const r = await fetch(`http://127.0.0.1:${ports.api}/`);
    assert.equal(r.status, 200, "is the dashboard built? npm run build -w packages/dashboard");
    assert.match(r.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(r.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.match(await r.text(), /<div id="root">/);
  });

  test("the starter policy blocks the example list", async () => {
    const r = await eventually(
      () => queryDns(ports.dns, "www.blocked.example"),
      (x) => A(x).length > 0,
      5000,
    );
    assert.deepEqual(A(r), ["0.0.0.0"]);
  });

  test("the starter has the built-in do-not-inspect list and its policy, editable like any", async () => {
    const lists = await call<{ items: { id: string; name: string; itemCount: number }[] }>(
      "GET",
      "/lists?limit=500",
    );
    const builtin = lists.body.items.find((l) => l.name === BUILTIN_DO_NOT_INSPECT_LIST);
    assert.ok(builtin, JSON.stringify(lists.body));
    assert.equal(builtin.itemCount, BUILTIN_DO_NOT_INSPECT_ITEMS.length);
    const policies = await call<{ items: { name: string; action: string; type: string }[] }>(
      "GET",
      "/policies?limit=500",
    );
    const p = policies.body.items.find((x) => x.name === BUILTIN_DO_NOT_INSPECT.policy.name);
    assert.equal(p?.action, "do_not_inspect");
    assert.equal(p?.type, "http");
    const add = await call("POST", `/lists/${builtin.id}/items`, ["pinned-app.test"]);
    assert.ok(add.status < 300, JSON.stringify(add.body));
  });

  test("a list and a DNS block policy made through the API are enforced within 2 s, and undone", async () => {
    const before = await eventually(
      () => queryDns(ports.dns, "shop.example.org"),
      (x) => A(x).length > 0,
      5000,
    );
    assert.deepEqual(A(before), ["192.0.2.10"]);

    const list = await call<{ id: string }>("POST", "/lists", {
      name: "shops",
      type: "domain",
      items: ["shop.example.org"],
    });
    assert.equal(list.status, 201, JSON.stringify(list.body));
    const policy = await call<{ id: string }>("POST", "/policies", {
      name: "No shopping",
      type: "dns",
      precedence: 5,
      expression: "any(dns.domains[*] in $shops)",
      action: "block",
      settings: { blockMode: "nxdomain" },
    });
    assert.equal(policy.status, 201, JSON.stringify(policy.body));
    const published = Date.now();
    assert.equal((await call("POST", "/config/publish", {})).status < 300, true);
    const blocked = await eventually(
      () => queryDns(ports.dns, "shop.example.org"),
      (x) => x.rcode === "NXDOMAIN",
      2000,
    );
    assert.equal(blocked.rcode, "NXDOMAIN");
    assert.ok(Date.now() - published <= 2000);

    assert.equal((await call("DELETE", `/policies/${policy.body.id}`)).status < 300, true);
    await call("POST", "/config/publish", {});
    const again = await eventually(
      () => queryDns(ports.dns, "shop.example.org"),
      (x) => x.rcode === "NOERROR" && A(x).length > 0,
      2000,
    );
    assert.deepEqual(A(again), ["192.0.2.10"]);
  });

  test("a proxy policy blocks a host with the block page; an allowed local origin is fetched", async () => {
    const block = await call("POST", "/policies", {
      name: "Block the casino",
      type: "http",
      precedence: 10,
      expression: 'http.conn.hostname == "casino.test"',
      action: "block",
      settings: { blockReason: "Gambling is not allowed here" },
    });
    assert.equal(block.status, 201, JSON.stringify(block.body));
    // The origin is on loopback, which the proxy refuses unless a policy names it (SSRF guard).
    const allow = await call("POST", "/policies", {
      name: "Allow the test origin",
      type: "net",
      precedence: 10,
      expression: `net.dst.ip == 127.0.0.1 and net.dst.port == ${originPort}`,
      action: "allow",
      settings: { allowPrivateDestinations: ["127.0.0.1"] },
    });
    assert.equal(allow.status, 201, JSON.stringify(allow.body));
    // The proxy resolves names through the edge's DNS pipeline: a DNS override points the
    // blocked host at the local origin, so the block is the HTTP policy's doing, not an
    // unreachable origin's.
    const override = await call("POST", "/policies", {
      name: "casino.test is local",
      type: "dns",
      precedence: 20,
      expression: 'dns.fqdn == "casino.test"',
      action: "override",
      settings: { overrideIps: ["127.0.0.1"] },
    });
    assert.equal(override.status, 201, JSON.stringify(override.body));
    const published = await call<{ version: number }>("POST", "/config/publish", {});
    // Until the edge has applied it, casino.test resolves through the fake upstream to an
    // unreachable TEST-NET address, and a connect to it can take longer than the test waits.
    await up.waitFor(new RegExp(`applied config v${published.body.version}\\b`), 5000);

    const page = await eventually(
      () =>
        proxyGet(ports.proxy, `http://casino.test:${originPort}/slots`, { accept: "text/html" }),
      (r) => r.status === 403,
      2000,
    );
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /Block the casino/);
    const ok = await proxyGet(ports.proxy, `http://127.0.0.1:${originPort}/hello`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, "hello from the origin: /hello");
  });

  test("the edge serves Prometheus metrics, including its config version", async () => {
    const res = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^gatehouse_dns_queries_total\{/m);
    assert.match(text, /^gatehouse_edge_config_version \d+/m);
    assert.match(text, /^gatehouse_edge_process_resident_memory_bytes /m);
  });

  test("query logs travel from the edge to control's analytics store", async () => {
    const r = await eventually(
      () =>
        call<{ records: { qname?: string; action: string; policyName?: string; kind: string }[] }>(
          "GET",
          "/analytics/logs?domainSuffix=blocked.example&limit=10",
        ),
      (x) => x.status === 200 && x.body.records.length > 0,
      10_000,
    );
    const rec = r.body.records[0]!;
    assert.equal(rec.kind, "dns");
    assert.equal(rec.action, "block");
    assert.equal(rec.qname, "www.blocked.example");
    assert.equal(rec.policyName, "Block the example list");
    const top = await call<{ items?: unknown[] }>(
      "GET",
      "/analytics/top?dimension=blocked_domain&limit=5",
    );
    assert.equal(top.status, 200, JSON.stringify(top.body));
  });

  test("the edge shows up in control with its applied version", async () => {
    const edges = await call<{ items: { configVersion: number | null; stale: boolean }[] }>(
      "GET",
      "/edges",
    );
    assert.equal(edges.status, 200);
    assert.equal(edges.body.items.length, 1);
  });

  test("no secret but the one-time admin token line appears in the output", () => {
    const out = up.output();
    const tokens = out.match(/gh[tej]_[A-Za-z0-9_-]{20,}/g) ?? [];
    assert.equal(tokens.length, 1, `secrets in output: ${tokens.join(", ")}`);
  });

  // Last: it stops the command. After serving DNS, proxy and API traffic (kept-alive edge
  // connections to control, a config long-poll in flight), one Ctrl-C is enough.
  test("one SIGINT stops everything and exits 0, without a second signal", async () => {
    const code = await up.stop("SIGINT");
    assert.equal(code, 0);
    assert.doesNotMatch(up.output(), /again, exiting now/);
  });
});

describe("gatehouse edge --control: fail-static when control is gone", () => {
  let dir: string;
  let control: Running;
  let edge: Running;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-failstatic-"));
    upstream = await fakeUpstream("192.0.2.20");
  });
  after(async () => {
    await edge?.stop();
    await control?.stop();
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("a bundle the edge refuses is reported; kill control: the edge keeps answering; restart the edge: it serves the last config from disk", async () => {
    const apiPort = await freePort();
    const dnsPort = await freePort();
    control = runCli([
      "control",
      "--data-dir",
      join(dir, "control"),
      "--listen",
      `127.0.0.1:${apiPort}`,
    ]);
    const [, token] = await control.waitFor(/admin token \(shown once, keep it\): (\S+)/);
    const call = api(`http://127.0.0.1:${apiPort}`, token!);
    assert.equal(
      (
        await call("PUT", "/resolver", {
          upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
          dnssec: { validate: false },
        })
      ).status,
      200,
    );
    assert.equal(
      (await call("POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] })).status,
      201,
    );
    assert.equal(
      (
        await call("POST", "/policies", {
          name: "Block bad",
          type: "dns",
          precedence: 1,
          expression: 'dns.fqdn == "bad.example"',
          action: "block",
        })
      ).status,
      201,
    );
    await call("POST", "/config/publish", {});
    const join_ = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
    assert.equal(join_.status, 201);

    const edgeArgs = [
      "edge",
      "--control",
      `http://127.0.0.1:${apiPort}`,
      "--data-dir",
      join(dir, "edge"),
      "--dns",
      `127.0.0.1:${dnsPort}`,
      "--proxy",
      `127.0.0.1:${await freePort()}`,
      "--max-list-items",
      "2",
    ];
    edge = runCli([...edgeArgs, "--join-token", join_.body.joinToken]);
    await edge.waitFor(/applied config v\d+/);
    assert.deepEqual(A(await queryDns(dnsPort, "bad.example")), ["0.0.0.0"]);
    assert.deepEqual(A(await queryDns(dnsPort, "good.example")), ["192.0.2.20"]);

    // A bundle this edge cannot take (its lists exceed the edge's limit): refused whole, the old
    // config keeps serving, and control shows the rejection.
    assert.equal(
      (
        await call("POST", "/lists", {
          name: "big",
          type: "domain",
          items: ["a.example", "b.example", "good.example"],
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await call("POST", "/policies", {
          name: "Block big",
          type: "dns",
          precedence: 2,
          expression: "any(dns.domains[*] in $big)",
          action: "block",
        })
      ).status,
      201,
    );
    const rejected = await call<{ version: number }>("POST", "/config/publish", {});
    await edge.waitFor(/rejected bundle v\d+/);
    const edges = await eventually(
      () =>
        call<{
          items: {
            configStatus: { version: number; ok: boolean; error?: { message: string } } | null;
          }[];
        }>("GET", "/edges"),
      (r) => r.body.items[0]?.configStatus?.version === rejected.body.version,
      5000,
    );
    const status = edges.body.items[0]!.configStatus!;
    assert.equal(status.ok, false);
    assert.match(status.error?.message ?? "", /at most 2/);
    assert.deepEqual(
      A(await queryDns(dnsPort, "good.example")),
      ["192.0.2.20"],
      "the old config still serves",
    );

    await control.stop("SIGKILL");
    assert.deepEqual(A(await queryDns(dnsPort, "bad.example")), ["0.0.0.0"]);
    assert.deepEqual(A(await queryDns(dnsPort, "other.example")), ["192.0.2.20"]);

    await edge.stop();
    edge = runCli(edgeArgs); // no join token: the credential is on disk
    await edge.waitFor(/serving last good config v\d+/);
    await edge.waitFor(/DNS over UDP/);
    assert.deepEqual(A(await queryDns(dnsPort, "bad.example")), ["0.0.0.0"]);
    await edge.waitFor(/control unreachable/);
  });
});
