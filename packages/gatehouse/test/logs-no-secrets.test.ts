// Issue "Observability", structured logs: an end-to-end run of `gatehouse control` and an edge
// that enrols with a join token, a publish, API tokens, proxy authentication with a device
// credential, query-log shipping and shutdown. Every secret the run handled is then looked for in
// all the output: only the admin token's one-time banner line may show it. The operational lines
// must be JSON with a level and a component. The edge runs at debug level, so its DNS and proxy
// data planes write a line per request (with the query-log record's id) into that output too.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
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
  return new Promise<number>((res, rej) => {
    const req = request(
      { host: "127.0.0.1", port: proxyPort, method: "GET", path: url, headers },
      (r) => {
        r.resume();
        r.on("end", () => res(r.statusCode ?? 0));
      },
    );
    req.on("error", rej);
    req.end();
  });
}

const basic = (user: string, pass: string) =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

let dir: string;
let control: Running | undefined;
let edge: Running | undefined;
let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
let origin: Server;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gh-logs-"));
  upstream = await fakeUpstream("192.0.2.30");
  origin = createServer((_req, res) => res.end("origin"));
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", () => r()));
});
after(async () => {
  await edge?.stop();
  await control?.stop();
  await upstream?.close();
  origin?.close();
  await rm(dir, { recursive: true, force: true });
});

test("an end-to-end run logs JSON lines and never a secret but the admin token banner", async () => {
  const apiPort = await freePort();
  const dnsPort = await freePort();
  const proxyPort = await freePort();
  const originPort = (origin.address() as AddressInfo).port;
  control = runCli([
    "control",
    "--data-dir",
    join(dir, "control"),
    "--listen",
    `127.0.0.1:${apiPort}`,
  ]);
  const [, adminToken] = await control.waitFor(/admin token \(shown once, keep it\): (\S+)/);
  const admin = api(`http://127.0.0.1:${apiPort}`, adminToken!);

  assert.equal(
    (
      await admin("PUT", "/resolver", {
        upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
        dnssec: { validate: false },
      })
    ).status,
    200,
  );
  assert.equal(
    (
      await admin("POST", "/locations", {
        name: "lo",
        networks: ["127.0.0.0/8"],
        requireProxyAuth: true,
      })
    ).status,
    201,
  );
  // The origin is on loopback, which the proxy refuses unless a policy names it.
  const allow = await admin("POST", "/policies", {
    name: "Allow the test origin",
    type: "net",
    precedence: 10,
    expression: `net.dst.ip == 127.0.0.1 and net.dst.port == ${originPort}`,
    action: "allow",
    settings: { allowPrivateDestinations: ["127.0.0.1"] },
  });
  assert.equal(allow.status, 201, JSON.stringify(allow.body));
  const apiToken = await admin<{ token: string }>("POST", "/tokens", {
    name: "viewer",
    role: "viewer",
  });
  assert.equal(apiToken.status, 201, JSON.stringify(apiToken.body));
  const device = await admin<{ credential: string }>("POST", "/identities/devices", {
    name: "laptop",
  });
  assert.equal(device.status, 201, JSON.stringify(device.body));
  assert.equal((await admin("POST", "/config/publish", {})).status, 200);
  const joined = await admin<{ joinToken: string }>("POST", "/edges/join-tokens", {});
  assert.equal(joined.status, 201);

  // The viewer token in use, and a wrong token of the right shape that control refuses.
  const viewer = api(`http://127.0.0.1:${apiPort}`, apiToken.body.token);
  assert.equal((await viewer("GET", "/policies")).status, 200);
  const forged = `ght_0123456789abcdef_${"Q".repeat(43)}`;
  assert.equal((await api(`http://127.0.0.1:${apiPort}`, forged)("GET", "/policies")).status, 401);

  edge = runCli(
    [
      "edge",
      "--control",
      `http://127.0.0.1:${apiPort}`,
      "--data-dir",
      join(dir, "edge"),
      "--dns",
      `127.0.0.1:${dnsPort}`,
      "--proxy",
      `127.0.0.1:${proxyPort}`,
      "--join-token",
      joined.body.joinToken,
    ],
    { GATEHOUSE_LOG_LEVEL: "debug" },
  );
  await edge.waitFor(/applied config v\d+/);
  const edgeCredential = (
    JSON.parse(await readFile(join(dir, "edge", "credential.json"), "utf8")) as {
      credential: string;
    }
  ).credential;

  // Proxy authentication with the device credential; a wrong password is refused.
  const target = `http://127.0.0.1:${originPort}/`;
  const wrongPassword = "not-the-credential-4711";
  assert.equal(await proxyGet(proxyPort, target), 407);
  assert.equal(
    await proxyGet(proxyPort, target, {
      "proxy-authorization": basic("laptop", device.body.credential),
    }),
    200,
  );
  assert.equal(
    await proxyGet(proxyPort, target, { "proxy-authorization": basic("laptop", wrongPassword) }),
    407,
  );
  // DNS, then the query log shipped to control with the edge credential.
  assert.equal((await queryDns(dnsPort, "seen.example")).rcode, "NOERROR");
  const shipped = await eventually(
    () => admin<{ records: { id: string }[] }>("GET", "/analytics/logs?domainSuffix=seen.example"),
    (r) => r.status === 200 && r.body.records.length > 0,
    10_000,
  );
  await edge.stop();
  await control.stop();

  const out = `${control.output()}\n${edge.output()}`;
  const secrets: Record<string, string> = {
    "join token": joined.body.joinToken,
    "edge credential": edgeCredential,
    "API token": apiToken.body.token,
    "refused API token": forged,
    "device credential": device.body.credential,
    "device Basic header": basic("laptop", device.body.credential).slice(6),
    "wrong proxy password": wrongPassword,
  };
  for (const [what, s] of Object.entries(secrets))
    assert.ok(!out.includes(s), `the ${what} appears in the output:\n${out}`);
  const adminLines = out.split("\n").filter((l) => l.includes(adminToken!));
  assert.deepEqual(adminLines, [`  admin token (shown once, keep it): ${adminToken}`]);
  const shaped = out.match(/gh[a-z]_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g) ?? [];
  assert.deepEqual(shaped, [adminToken]);
  // The dashboard password of the first admin: printed once, on its own line, nowhere else.
  const pw = /dashboard user admin, password \(shown once, keep it\): (\S+)/.exec(out)?.[1];
  assert.ok(pw, out);
  assert.deepEqual(
    out.split("\n").filter((l) => l.includes(pw)),
    [`  dashboard user admin, password (shown once, keep it): ${pw}`],
  );

  // Operational lines are JSON with a level and a component; the edge's sync says what it applied.
  const json = edge
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { level?: string; component?: string; msg?: string });
  assert.ok(json.length > 0, edge.output());
  for (const j of json) {
    assert.match(j.level ?? "", /^(trace|debug|info|warn|error|fatal)$/);
    assert.equal(typeof j.component, "string");
  }
  assert.ok(
    json.some((j) => j.component === "sync" && /applied config v\d+/.test(j.msg ?? "")),
    edge.output(),
  );
  // Per-request lines: the DNS query at debug under the id its shipped record has; the proxy's
  // refusals of a missing and a wrong credential at info, the allowed request at debug.
  type RequestLine = { level: string; component: string; reqId?: string; reason?: string };
  const requests = json as RequestLine[];
  const dnsLine = requests.find(
    (j) => j.component === "dns" && j.reqId === shipped.body.records[0]!.id,
  );
  assert.equal(dnsLine?.level, "debug", edge.output());
  const proxyLines = requests.filter((j) => j.component === "proxy" && j.reqId !== undefined);
  assert.deepEqual(
    proxyLines.map((j) => [j.level, j.reason ?? null]),
    [
      ["info", "auth_required"],
      ["debug", null],
      ["info", "auth_failed"],
    ],
    edge.output(),
  );
  // Control's request lines (Fastify's pino) carry a request id, and no headers.
  const enrolLine = control
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { reqId?: string; req?: { url?: string; headers?: unknown } })
    .find((j) => j.req?.url === "/api/v1/edge/enroll");
  assert.ok(enrolLine?.reqId, control.output());
  assert.equal(enrolLine.req?.headers, undefined);
});
