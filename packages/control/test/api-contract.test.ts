// The API answers what its OpenAPI document says. Every response this file provokes — the
// success of every operation in the document and its failures (no credential, a role too low,
// an unknown id, a malformed request, a stale If-Match, a rule that does not compile) — is
// checked against the document: its status must be documented for that operation, and its
// body must validate against the schema documented for that status (ajv, over the document
// itself). At the end, every operation must have answered at least one success and one error.

import assert from "node:assert/strict";
import { createPrivateKey, webcrypto, X509Certificate } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { LightMyRequestResponse } from "fastify";
import { DuckDbStore } from "../src/analytics/duckdb-store.ts";
import { call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

interface Operation {
  readonly key: string;
  readonly method: string;
  readonly path: string;
  readonly pattern: RegExp;
  readonly responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  readonly op: { security?: unknown[] };
}

const PREFIX = "/api/v1";

/** The smallest Pi-hole gravity.db: its adlist and domainlist tables with one row each. */
async function gravityDb(): Promise<Buffer> {
  const path = join(tmpdir(), `gh-contract-gravity-${process.pid}.db`);
  const db = new DatabaseSync(path);
  db.exec(`CREATE TABLE adlist (id INTEGER PRIMARY KEY, address TEXT NOT NULL, enabled BOOLEAN NOT NULL DEFAULT 1, comment TEXT);
    CREATE TABLE domainlist (id INTEGER PRIMARY KEY, type INTEGER NOT NULL DEFAULT 0, domain TEXT NOT NULL, enabled BOOLEAN NOT NULL DEFAULT 1, comment TEXT);
    INSERT INTO domainlist (type, domain) VALUES (1, 'ads.example.org');`);
  db.close();
  try {
    return await readFile(path);
  } finally {
    await rm(path, { force: true });
  }
}
const MISSING_ID = "nope_000000";
/** A certificate for the Connect answers (test/fixtures/connect-certificate.pem says its origin). */
const CERT = await (async () => {
  const pem = await readFile(
    new URL("./fixtures/connect-certificate.pem", import.meta.url),
    "utf8",
  );
  const x = new X509Certificate(pem);
  return {
    source: "self-signed" as const,
    pem: pem.slice(pem.indexOf("-----BEGIN")),
    sha256: x.fingerprint256,
    subject: x.subject,
    notAfter: new Date(x.validTo).toISOString(),
    names: ["gatehouse.home.arpa"],
  };
})();

function p256Keys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as Promise<CryptoKeyPair>;
}

function escapeJsonPointer(s: string): string {
  return s.replaceAll("~", "~0").replaceAll("/", "~1");
}

describe("every operation answers as the OpenAPI document says (pglite)", () => {
  let t: TestApp;
  let store: DuckDbStore;
  let listServer: Server;
  let listUrl = "";
  let doc: {
    paths: Record<string, Record<string, Operation["op"] & { responses: Operation["responses"] }>>;
  };
  let ops: Operation[] = [];
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const validators = new Map<string, ValidateFunction>();
  const seen = new Map<string, Set<number>>();
  const problems: string[] = [];
  const tokens: Record<"viewer" | "editor" | "admin", string> = {
    viewer: "",
    editor: "",
    admin: "",
  };

  function operationOf(method: string, url: string): Operation | undefined {
    const path = url.split("?")[0]!;
    return ops.find((o) => o.method === method && o.pattern.test(path));
  }

  /** Check one response against the document; record what went wrong instead of throwing. */
  function check(method: string, url: string, r: LightMyRequestResponse): void {
    const o = operationOf(method, url);
    const what = `${method} ${url} → ${r.statusCode}`;
    if (!o) {
      problems.push(`${what}: no operation in the document`);
      return;
    }
    const s = seen.get(o.key) ?? new Set<number>();
    seen.set(o.key, s.add(r.statusCode));
    const status = String(r.statusCode);
    const range = `${status[0]}XX`;
    const documented = o.responses[status] ? status : o.responses[range] ? range : undefined;
    if (documented === undefined) {
      problems.push(`${what}: status not documented (${Object.keys(o.responses).join(", ")})`);
      return;
    }
    const content = o.responses[documented]!.content;
    if (!content) {
      if (r.body !== "") problems.push(`${what}: documented without a body, got ${r.body}`);
      return;
    }
    const ctype = String(r.headers["content-type"] ?? "").split(";")[0]!;
    if (!(ctype in content)) {
      problems.push(`${what}: content type ${ctype} not documented (${Object.keys(content)})`);
      return;
    }
    if (ctype !== "application/json") return;
    const ref = `doc#/paths/${escapeJsonPointer(o.path)}/${o.method.toLowerCase()}/responses/${documented}/content/application~1json/schema`;
    let v = validators.get(ref);
    if (!v) {
      v = ajv.getSchema(ref);
      if (!v) throw new Error(`no schema at ${ref}`);
      validators.set(ref, v);
    }
    let body: unknown;
    try {
      body = JSON.parse(r.body);
    } catch {
      problems.push(`${what}: body is not JSON: ${r.body.slice(0, 200)}`);
      return;
    }
    if (!v(body))
      problems.push(
        `${what}: body does not match the documented schema: ${ajv.errorsText(v.errors)}; body ${r.body.slice(0, 300)}`,
      );
  }

  async function req(
    token: string | undefined,
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse> {
    const full = url.startsWith("/api/") || url.startsWith("/metrics") ? url : PREFIX + url;
    const r = await call(t.app, token, method as "GET", full, body, headers);
    check(method, full, r);
    return r;
  }
  const admin = (method: string, url: string, body?: unknown, headers?: Record<string, string>) =>
    req(tokens.admin, method, url, body, headers);
  const ok = async (r: Promise<LightMyRequestResponse>, status: number) => {
    const x = await r;
    assert.equal(x.statusCode, status, x.body);
    return x;
  };

  before(async () => {
    listServer = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("0.0.0.0 ads.example\n0.0.0.0 tracker.example\n");
    });
    await new Promise<void>((r) => listServer.listen(0, "127.0.0.1", r));
    listUrl = `http://127.0.0.1:${(listServer.address() as { port: number }).port}/hosts.txt`;
    store = await DuckDbStore.open({ path: ":memory:", threads: 1 });
    t = await openTestApp("pglite", {
      analytics: store,
      serving: () => ({
        scope: "lan",
        host: "gatehouse.home.arpa",
        dns: ["192.0.2.53:53"],
        dohPort: 443,
        dotPort: 853,
        proxyPort: 3128,
        certificate: CERT,
      }),
      longPollTimeoutMs: 200,
      auth: { maxFailures: 1_000_000 },
    });
    tokens.admin = t.token;
    doc = (await call(t.app, undefined, "GET", `${PREFIX}/openapi.json`)).json();
    ajv.addSchema(doc, "doc");
    ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
        responses: op.responses,
        op,
      })),
    );
    for (const role of ["viewer", "editor"] as const)
      tokens[role] = (await ok(admin("POST", "/tokens", { name: role, role }), 201)).json().token;
  });
  after(async () => {
    await t?.close();
    await store?.close();
    listServer?.close();
  });

  it("documents success and error responses for every operation, DELETEs as what they answer", () => {
    assert.ok(ops.length >= 70, `${ops.length} operations`);
    for (const o of ops) {
      const codes = Object.keys(o.responses);
      assert.ok(
        codes.some((c) => c.startsWith("2")),
        `${o.key}: no success response (${codes})`,
      );
      assert.ok(codes.includes("5XX"), `${o.key}: no 5XX`);
      if (o.op.security === undefined || o.op.security.length > 0)
        for (const c of ["401", "403", "429"])
          assert.ok(codes.includes(c), `${o.key}: guarded but ${c} undocumented`);
      if (o.path.includes("{")) assert.ok(codes.includes("404"), `${o.key}: no 404`);
      for (const c of codes.filter((x) => /^[45]/.test(x)))
        assert.ok(
          o.responses[c]!.content?.["application/json"],
          `${o.key} ${c}: no error body schema`,
        );
    }
    for (const k of [
      "DELETE /api/v1/policies/{id}",
      "DELETE /api/v1/lists/{id}",
      "DELETE /api/v1/tokens/{id}",
    ]) {
      const o = ops.find((x) => x.key === k)!;
      assert.ok(o.responses["204"], `${k}: 204 undocumented`);
      assert.equal(o.responses["200"], undefined, `${k}: documented as 200`);
    }
  });

  it("every success answers as documented", async () => {
    // Accounts and tokens.
    await ok(admin("GET", "/whoami"), 200);
    await ok(admin("GET", "/account"), 200);
    await ok(admin("GET", "/accounts"), 200);
    await ok(admin("POST", "/accounts", { name: "other" }), 201);
    const tokenList = await ok(admin("GET", "/tokens"), 200);
    const viewerId = tokenList.json().items.find((x: { name: string }) => x.name === "viewer").id;
    const spare = (
      await ok(admin("POST", "/tokens", { name: "spare", role: "viewer" }), 201)
    ).json();
    await ok(admin("DELETE", `/tokens/${spare.id}`), 204);
    assert.ok(viewerId);

    // Dashboard users and password sign-in.
    const ops = (
      await ok(admin("POST", "/users", { username: "ops", role: "editor" }), 201)
    ).json();
    await ok(admin("GET", "/users"), 200);
    await ok(admin("PUT", `/users/${ops.id}/password`, { password: "ops password 1" }), 200);
    const signed = await ok(
      req(undefined, "POST", "/auth/login", { username: "ops", password: "ops password 1" }),
      200,
    );
    const sessionCookie = ([] as string[])
      .concat(signed.headers["set-cookie"] ?? [])
      .find((c) => c.startsWith("gh_session="))!
      .split(";")[0]!;
    const withSession = { cookie: sessionCookie, "x-csrf-token": signed.json().csrfToken };
    await ok(req(undefined, "GET", "/auth/session", undefined, withSession), 200);
    await ok(
      req(
        undefined,
        "PUT",
        "/auth/password",
        { currentPassword: "ops password 1", newPassword: "ops password 2" },
        withSession,
      ),
      204,
    );
    await ok(req(undefined, "POST", "/auth/logout", undefined, withSession), 204);
    await ok(
      req(undefined, "POST", "/auth/login", { username: "ops", password: "wrong one" }),
      401,
    );
    await ok(
      admin("PUT", "/auth/password", { currentPassword: "x", newPassword: "0123456789" }),
      409,
    );
    await ok(admin("POST", "/users", { username: "OPS", role: "viewer" }), 409);
    await ok(admin("DELETE", `/users/${ops.id}`), 204);

    // Client names.
    const named = await ok(
      admin("POST", "/client-names", { client: "::ffff:192.168.1.23", name: "Kitchen iPad" }),
      200,
    );
    assert.equal(named.json().client, "192.168.1.23", "stored as the query log records it");
    await ok(admin("POST", "/client-names", { client: "not an ip", name: "x" }), 422);
    await ok(admin("GET", "/client-names"), 200);
    await ok(admin("DELETE", "/client-names/192.168.1.23"), 204);
    await ok(admin("DELETE", "/client-names/192.168.1.23"), 404);

    // Lists, items, subscriptions.
    const list = (
      await ok(admin("POST", "/lists", { name: "ads", type: "domain", items: ["a.example"] }), 201)
    ).json();
    await ok(admin("GET", "/lists"), 200);
    await ok(admin("GET", `/lists/${list.id}`), 200);
    await ok(admin("PATCH", `/lists/${list.id}`, { description: "ads" }), 200);
    await ok(admin("GET", `/lists/${list.id}/items`), 200);
    const text = { "content-type": "text/plain" };
    await ok(admin("POST", `/lists/${list.id}/items`, "b.example\n", text), 200);
    await ok(admin("POST", `/lists/${list.id}/items/remove`, "b.example\n", text), 200);
    await ok(
      admin("PUT", `/lists/${list.id}/items`, '["a.example","c.example"]', {
        "content-type": "application/json",
      }),
      200,
    );
    const feed = (await ok(admin("POST", "/lists", { name: "feed", type: "domain" }), 201)).json();
    await ok(admin("PUT", `/lists/${feed.id}/subscription`, { url: listUrl }), 200);
    await ok(admin("POST", `/lists/${feed.id}/subscription/refresh`), 200);
    await ok(admin("GET", `/lists/${feed.id}/subscription`), 200);
    await ok(admin("DELETE", `/lists/${feed.id}/subscription`), 204);
    const spareList = (
      await ok(admin("POST", "/lists", { name: "spare", type: "ip" }), 201)
    ).json();
    await ok(admin("DELETE", `/lists/${spareList.id}`), 204);

    // Policies.
    const policy = (
      await ok(
        admin("POST", "/policies", {
          name: "block ads",
          type: "dns",
          expression: "dns.fqdn in $ads",
          action: "block",
        }),
        201,
      )
    ).json();
    await ok(admin("GET", "/policies"), 200);
    await ok(admin("GET", `/policies/${policy.id}`), 200);
    const users = (await ok(admin("GET", `/lists/${list.id}/policies`), 200)).json();
    assert.deepEqual(
      users.policies.map((p: { name: string }) => p.name),
      ["block ads"],
    );
    await ok(admin("PATCH", `/policies/${policy.id}`, { description: "ads" }), 200);
    await ok(
      admin("POST", "/policies/validate", { type: "dns", expression: 'dns.fqdn == "x"' }),
      200,
    );
    const sparePolicy = (
      await ok(
        admin("POST", "/policies", {
          name: "s",
          type: "http",
          expression: "http.conn.dst_port == 443",
          action: "allow",
        }),
        201,
      )
    ).json();
    await ok(admin("DELETE", `/policies/${sparePolicy.id}`), 204);
    // The query log's one-click Block and its undo.
    await ok(admin("POST", "/quick-rules", { domain: "quick.example", action: "block" }), 200);
    await ok(
      admin("POST", "/quick-rules/remove", { domain: "quick.example", action: "block" }),
      200,
    );

    // Locations.
    const loc = (
      await ok(admin("POST", "/locations", { name: "office", networks: ["192.0.2.0/24"] }), 201)
    ).json();
    await ok(admin("GET", "/locations"), 200);
    await ok(admin("GET", `/locations/${loc.id}`), 200);
    await ok(admin("PATCH", `/locations/${loc.id}`, { name: "hq" }), 200);
    await ok(admin("POST", `/locations/${loc.id}/rotate-doh-token`), 200);
    await ok(admin("GET", `/locations/${loc.id}/connect`), 200);
    await ok(admin("GET", `/locations/${MISSING_ID}/connect`), 404);
    await ok(admin("GET", `/locations/${loc.id}/connect/apple-profile?transport=dot`), 200);
    await ok(admin("GET", `/locations/${loc.id}/connect/apple-profile?transport=ftp`), 400);
    const zone = (
      await ok(admin("POST", "/local-zones", { name: "lan.test", zone: "nas A 192.0.2.10" }), 201)
    ).json();
    await ok(admin("POST", "/local-zones", { name: "bad.test", zone: "nas A 999.1.1.1" }), 422);
    await ok(admin("POST", "/local-zones", { name: "lan.test", zone: "" }), 409);
    await ok(admin("GET", "/local-zones"), 200);
    await ok(admin("GET", `/local-zones/${zone.id}`), 200);
    await ok(admin("GET", `/local-zones/${MISSING_ID}`), 404);
    await ok(
      admin("PUT", `/local-zones/${zone.id}`, { name: "lan.test", zone: "nas A 192.0.2.11" }),
      200,
    );
    await ok(admin("PUT", `/local-zones/${zone.id}`, { name: "lan.test", zone: "x MX" }), 422);
    await ok(admin("DELETE", `/local-zones/${zone.id}`), 204);
    await ok(admin("DELETE", `/local-zones/${zone.id}`), 404);
    const spareLoc = (await ok(admin("POST", "/locations", { name: "spare" }), 201)).json();
    await ok(admin("DELETE", `/locations/${spareLoc.id}`), 204);

    // Identities.
    const user = (
      await ok(admin("POST", "/identities/users", { email: "a@example.com" }), 201)
    ).json();
    await ok(admin("GET", "/identities/users"), 200);
    await ok(admin("GET", `/identities/users/${user.id}`), 200);
    await ok(admin("PATCH", `/identities/users/${user.id}`, { name: "A" }), 200);
    await ok(admin("POST", `/identities/users/${user.id}/credential`), 200);
    await ok(admin("DELETE", `/identities/users/${user.id}/credential`), 200);
    const dev = (
      await ok(admin("POST", "/identities/devices", { name: "laptop", userId: user.id }), 201)
    ).json();
    await ok(admin("GET", "/identities/devices"), 200);
    await ok(admin("GET", `/identities/devices/${dev.id}`), 200);
    await ok(admin("PATCH", `/identities/devices/${dev.id}`, { name: "laptop2" }), 200);
    await ok(admin("POST", `/identities/devices/${dev.id}/credential`), 200);
    await ok(admin("POST", `/identities/devices/${dev.id}/doh-token`, {}), 422);
    const devLoc = (await ok(admin("POST", "/locations", { name: "devloc" }), 201)).json();
    await ok(
      admin("POST", `/identities/devices/${dev.id}/doh-token`, { locationId: devLoc.id }),
      200,
    );
    await ok(admin("DELETE", `/identities/devices/${dev.id}/doh-token`), 200);
    await ok(admin("DELETE", `/identities/devices/${dev.id}`), 204);
    await ok(admin("DELETE", `/locations/${devLoc.id}`), 204);
    await ok(admin("DELETE", `/identities/users/${user.id}`), 204);

    // Pausing blocking, everywhere and in one location, and resuming.
    await ok(admin("POST", "/pause", { minutes: 5 }), 200);
    await ok(admin("POST", "/pause", { locationId: loc.id }), 200);
    await ok(admin("GET", "/pause"), 200);
    await ok(admin("POST", "/pause/resume", { locationId: loc.id }), 200);
    await ok(admin("POST", "/pause/resume", {}), 200);

    // A client in a location's network: its page, settings of its own, and back to the global ones.
    await ok(admin("GET", "/clients/192.0.2.10"), 200);
    const own = { blocking: false, safeSearch: true, skipPolicies: [] };
    await ok(admin("PUT", "/clients/192.0.2.10/settings", own), 200);
    const global = { blocking: true, safeSearch: false, skipPolicies: [] };
    await ok(admin("PUT", "/clients/192.0.2.10/settings", global), 200);

    // Settings.
    const resolver = (await ok(admin("GET", "/resolver"), 200)).json();
    await ok(admin("PUT", "/resolver", resolver), 200);
    const settings = (await ok(admin("GET", "/settings"), 200)).json();
    await ok(admin("PUT", "/settings", settings), 200);

    // The root CA for TLS inspection: public downloads, the admin's view and import.
    await ok(req(undefined, "GET", "/tls/ca.pem"), 200);
    await ok(req(undefined, "GET", "/tls/ca.der"), 200);
    const ca = (await ok(admin("GET", "/tls/ca"), 200)).json();
    assert.equal(ca.source, "generated");
    const rootKeys = await p256Keys();
    const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=Contract Root",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      keys: rootKeys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const rootKey = createPrivateKey({
      key: Buffer.from(await webcrypto.subtle.exportKey("pkcs8", rootKeys.privateKey)),
      format: "der",
      type: "pkcs8",
    }).export({ format: "pem", type: "pkcs8" });
    await ok(
      admin("PUT", "/tls/ca", { certificate: rootCert.toString("pem"), privateKey: rootKey }),
      200,
    );

    // Config.
    const first = (await ok(admin("POST", "/config/publish"), 200)).json();
    await ok(admin("POST", "/config/publish", { force: true }), 200);
    await ok(admin("GET", "/config/check"), 200);
    await ok(
      admin("PUT", "/config/tests", {
        tests: [{ name: "a", dns: { query: "a.example" }, expect: { action: "allow" } }],
      }),
      200,
    );
    await ok(admin("GET", "/config/tests"), 200);
    await ok(admin("GET", "/config/preview"), 200);
    await ok(admin("POST", "/config/check"), 200);
    await ok(admin("PUT", "/config/tests", { tests: [] }), 200);
    await ok(admin("GET", "/config/versions"), 200);
    await ok(admin("GET", `/config/versions/${first.version}`), 200);
    await ok(admin("GET", `/config/versions/${first.version}/diff/${first.version + 1}`), 200);
    await ok(admin("POST", "/config/rollback", { version: first.version }), 200);
    const yaml = await ok(admin("GET", "/config/export"), 200);
    await ok(
      admin("PUT", "/config/export", yaml.body, { "content-type": "application/yaml" }),
      200,
    );
    await ok(
      admin("POST", "/config/check", yaml.body, { "content-type": "application/yaml" }),
      200,
    );
    await ok(admin("POST", "/config/plan", yaml.body, { "content-type": "application/yaml" }), 200);
    await ok(admin("GET", "/audit"), 200);

    // Import of another product's configuration (a dry run, then for real).
    const blocky = `upstreams:\n  groups:\n    default: [1.1.1.1]\nblocking:\n  denylists:\n    ads:\n      - |\n        ads.example.org\n  clientGroupsBlock:\n    default: [ads]\n`;
    const yamlType = { "content-type": "application/yaml" };
    await ok(admin("POST", "/import/blocky?dryRun=true", blocky, yamlType), 200);
    await ok(admin("POST", "/import/blocky", blocky, yamlType), 200);
    const metrics = (await ok(admin("GET", "/metrics"), 200)).body;
    assert.match(metrics, /gatehouse_control_imports_total\{product="blocky",result="dry_run"\} 1/);
    assert.match(metrics, /gatehouse_control_imports_total\{product="blocky",result="created"\} 1/);
    await ok(
      admin("POST", "/import/pihole?dryRun=true", await gravityDb(), {
        "content-type": "application/octet-stream",
      }),
      200,
    );
    await ok(
      admin(
        "POST",
        "/import/adguardhome?dryRun=true",
        "dns:\n  upstream_dns: [9.9.9.9]\n",
        yamlType,
      ),
      200,
    );

    // Edges and the edge-facing API.
    const join = (await ok(admin("POST", "/edges/join-tokens"), 201)).json().joinToken;
    const edge = (
      await ok(req(undefined, "POST", "/edge/enroll", { joinToken: join, name: "e1" }), 201)
    ).json();
    const cred = edge.credential as string;
    await ok(
      req(cred, "POST", "/edge/heartbeat", {
        version: "1.0.0",
        configVersion: 0,
        uptimeSeconds: 1,
      }),
      200,
    );
    const bundle = (await ok(req(cred, "GET", "/edge/config?after=0"), 200)).json();
    await ok(req(cred, "GET", `/edge/config?after=${bundle.version}`), 304);
    await ok(req(cred, "POST", "/edge/config-status", { version: bundle.version, ok: true }), 204);
    const edgeKeys = await p256Keys();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "CN=e1",
      keys: edgeKeys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    });
    await ok(req(cred, "POST", "/edge/tls/intermediate", { csr: csr.toString("pem") }), 200);
    const record = {
      ts: Date.now(),
      kind: "dns",
      id: "r1",
      client: "192.0.2.1",
      action: "block",
      transport: "udp",
      durationMs: 1,
      qname: "a.example",
    };
    await ok(
      req(cred, "POST", "/edge/logs", `${JSON.stringify(record)}\n`, {
        "content-type": "application/x-ndjson",
        "x-batch-id": "batch-1",
      }),
      200,
    );
    await ok(admin("GET", "/edges"), 200);
    await ok(admin("GET", `/edges/${edge.edgeId}`), 200);
    await ok(admin("PUT", `/edges/${edge.edgeId}/pin`, { version: first.version }), 200);
    await ok(admin("DELETE", `/edges/${edge.edgeId}/pin`), 200);
    // Rollouts: labels, a plan, a publish that starts a rollout, and every hand action.
    await ok(admin("PUT", `/edges/${edge.edgeId}/labels`, { labels: { role: "canary" } }), 200);
    await ok(
      admin("PUT", "/rollout-plan", {
        stages: [
          { name: "canary", labels: { role: "canary" }, bakeSeconds: 3600 },
          { name: "all", bakeSeconds: 3600 },
        ],
      }),
      200,
    );
    await ok(admin("GET", "/rollout-plan"), 200);
    await ok(
      admin("POST", "/policies", {
        name: "rollout contract",
        type: "dns",
        precedence: 4242,
        expression: 'dns.fqdn == "rollout.example"',
        action: "block",
      }),
      201,
    );
    await ok(admin("POST", "/config/publish", {}), 200);
    const ro = (await ok(admin("GET", "/rollouts"), 200)).json().items[0];
    assert.equal(ro.state, "baking");
    assert.deepEqual(ro.stages[0].edgeIds, [edge.edgeId]);
    await ok(admin("GET", `/rollouts/${ro.id}`), 200);
    await ok(admin("POST", `/rollouts/${ro.id}/pause`), 200);
    await ok(admin("POST", `/rollouts/${ro.id}/resume`), 200);
    await ok(admin("POST", `/rollouts/${ro.id}/promote`), 200);
    assert.equal(
      (await ok(admin("POST", `/rollouts/${ro.id}/abort`), 200)).json().state,
      "aborted",
    );
    await ok(admin("POST", `/rollouts/${ro.id}/abort`), 409);
    await ok(admin("DELETE", "/rollout-plan"), 204);
    await ok(admin("POST", `/edges/${edge.edgeId}/drain`), 200);
    await ok(admin("POST", `/edges/${edge.edgeId}/activate`), 200);
    await ok(admin("DELETE", `/edges/${edge.edgeId}`), 200);
    // A decommissioned edge is told so for good (410), on every edge route.
    await req(cred, "POST", "/edge/heartbeat", {
      version: "1.0.0",
      configVersion: 0,
      uptimeSeconds: 2,
    });

    // Analytics.
    const range = `from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`;
    await ok(admin("GET", `/analytics/timeseries?${range}`), 200);
    await ok(admin("GET", `/analytics/top?dimension=domain&${range}`), 200);
    await ok(admin("GET", `/analytics/logs?${range}`), 200);
    await ok(admin("GET", `/analytics/export?format=ndjson&${range}`), 200);
    await ok(admin("POST", "/analytics/simulate", { policies: [] }), 200);
    await ok(admin("GET", "/metrics"), 200);
    assert.deepEqual(problems, []);
  });

  it("every failure answers as documented: 401, 403, 404, 400, 412, 422", async () => {
    const concrete = (path: string) =>
      path.replace(/\{(id|from|to|version)\}/g, (_m, p) => (p === "id" ? MISSING_ID : "999999"));
    for (const o of ops) {
      const url = concrete(o.path);
      const body = ["POST", "PUT", "PATCH"].includes(o.method) ? {} : undefined;
      // No credential: 401 on every guarded operation; a bad join token on enrolment.
      const anon = await req(undefined, o.method, url, body);
      if (o.key === "POST /api/v1/edge/enroll" || o.key === "POST /api/v1/auth/login")
        assert.equal(anon.statusCode, 400, anon.body);
      else if (o.key === "GET /api/v1/tls/ca.pem" || o.key === "GET /api/v1/tls/ca.der")
        assert.equal(anon.statusCode, 200, anon.body); // public: devices download the root
      else assert.equal(anon.statusCode, 401, `${o.key}: ${anon.body}`);
      // A role too low: the viewer token on everything above viewer (edge routes: a token is
      // not an edge credential).
      await req(tokens.viewer, o.method, url, body);
      // The admin on an id that does not exist (404), with an empty body (400 where one is
      // required); a bogus query parameter on GETs (400 where the query is described).
      if (o.path.includes("{")) await req(tokens.admin, o.method, url, body);
      if (o.method === "GET") await req(tokens.admin, o.method, `${url}?bogus=1`);
    }
    await req(undefined, "POST", "/edge/enroll", { joinToken: "ghj_nope_nope", name: "x" });
    // Bodies that fail validation, a stale If-Match, expressions that do not compile.
    const list = (await req(tokens.admin, "GET", "/lists")).json().items[0];
    await req(
      tokens.admin,
      "PATCH",
      `/lists/${list.id}`,
      { description: "x" },
      { "if-match": '"999"' },
    );
    await req(tokens.admin, "POST", "/lists", { name: "Bad Name", type: "domain" });
    await req(tokens.admin, "POST", "/lists", { name: "ads", type: "domain" });
    await req(tokens.admin, "POST", `/lists/${list.id}/items`, "*.wild.example\n", {
      "content-type": "text/plain",
    });
    const bad = await req(tokens.admin, "POST", "/policies", {
      name: "bad",
      type: "dns",
      expression: "dns.fqdn ==",
      action: "block",
    });
    assert.equal(bad.statusCode, 422, bad.body);
    assert.equal(bad.json().error.code, "GH_ERR_INVALID_RULE");
    assert.equal(typeof bad.json().error.details.span.start, "number");
    await req(tokens.admin, "POST", "/policies/validate", { type: "dns", expression: "nope(" });
    await req(tokens.admin, "POST", "/policies", "{", { "content-type": "application/json" });
    await req(tokens.admin, "POST", "/policies", "x", { "content-type": "text/csv" });
    await req(tokens.admin, "POST", "/config/rollback", { version: 999999 });
    await req(tokens.admin, "POST", "/quick-rules", { domain: "*.x.example", action: "block" });
    await req(tokens.admin, "POST", "/pause", { locationId: MISSING_ID });
    await req(tokens.admin, "POST", "/pause", { minutes: 0 });
    await req(tokens.admin, "POST", "/quick-rules/remove", {
      domain: "a.example",
      action: "allow",
    });
    await req(tokens.admin, "POST", "/import/blocky", "just: text\n", {
      "content-type": "application/yaml",
    });
    await req(tokens.admin, "POST", "/import/pihole", "not a backup", {
      "content-type": "application/octet-stream",
    });
    await req(tokens.editor, "POST", "/import/adguardhome", "x", { "content-type": "text/plain" });
    // Guessing one token's secret: its id is throttled (429) after the failure limit.
    const target = (
      await req(tokens.admin, "POST", "/tokens", { name: "target", role: "viewer" })
    ).json();
    const statuses = new Set<number>();
    for (let i = 0; i < 25; i++)
      statuses.add((await req(`ght_${target.id}_${"x".repeat(43)}`, "GET", "/whoami")).statusCode);
    assert.ok(statuses.has(429), `statuses ${[...statuses]}`);
    assert.deepEqual(problems, []);
  });

  it("every operation answered at least one success and one error", () => {
    const missing: string[] = [];
    for (const o of ops) {
      const s = [...(seen.get(o.key) ?? [])];
      if (!s.some((c) => c >= 200 && c < 400)) missing.push(`${o.key}: no success (${s})`);
      if (!s.some((c) => c >= 400)) missing.push(`${o.key}: no error (${s})`);
    }
    assert.deepEqual(missing, []);
  });
});
