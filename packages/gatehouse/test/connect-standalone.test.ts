// Issue 17 "Connect a device" for a standalone control: `gatehouse control` with an edge started
// elsewhere (`gatehouse edge --control URL --public-name NAME`, DoT and DoH on loopback ports with
// a certificate for the name). The edge reports its listeners, certificate and public name in its
// heartbeat; the Connect API builds the DoH URL and the DoT name from them, and kdig answers
// through what it shows (checking the certificate it shows). `gatehouse connect --control URL`
// prints the same, every edge listed when there are several (the second with two workers).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ConnectInfoView } from "@gatehouse/contract";
import { ensureSelfSigned } from "@gatehouse/edge";
import { KDIG_MISSING, kdig } from "./support/kdig.ts";
import {
  type api,
  eventually,
  fakeUpstream,
  freePort,
  type Running,
  runCli,
  startControlProcess,
} from "./support/processes.ts";

const skip = KDIG_MISSING;
if (skip) console.log(`# skipping the standalone Connect test: ${skip}`);

const NAME = "dns.example.lan";

describe("Connect a device with a standalone control and an edge elsewhere", { skip }, () => {
  let dir = "";
  let control: Running;
  const edges: Running[] = [];
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let controlUrl = "";
  let token = "";
  let call: ReturnType<typeof api>;
  let locationId = "";
  let dohToken = "";
  let edgeId = "";
  const ports = { dns: 0, dot: 0, doh: 0, proxy: 0 };
  let certPem = "";
  let published = 0;

  const joinToken = async () => {
    const r = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.joinToken;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-connect-standalone-"));
    upstream = await fakeUpstream("192.0.2.30");
    const started = await startControlProcess(join(dir, "control"));
    control = started.proc;
    controlUrl = `http://127.0.0.1:${started.port}`;
    token = started.token;
    call = started.call;
    const r = await call("PUT", "/resolver", {
      upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
      dnssec: { validate: false },
      rateLimit: false,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const loc = await call<{ id: string; dohToken: string }>("POST", "/locations", {
      name: "home",
      networks: ["127.0.0.0/8"],
    });
    assert.equal(loc.status, 201, JSON.stringify(loc.body));
    locationId = loc.body.id;
    dohToken = loc.body.dohToken;
    const pub = await call<{ version: number }>("POST", "/config/publish", {});
    assert.equal(pub.status, 200, JSON.stringify(pub.body));
    published = pub.body.version;

    // The edge's certificate covers its public name (as an ACME or files one would).
    const cert = await ensureSelfSigned({ dir: join(dir, "tls"), names: [NAME], ips: [] });
    certPem = cert.cert;
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    const local = join(dir, "edge-local.yaml");
    await writeFile(
      local,
      [
        "edge:",
        "  dns:",
        `    udp: ["127.0.0.1:${ports.dns}"]`,
        `    tcp: ["127.0.0.1:${ports.dns}"]`,
        `    dot: ["127.0.0.1:${ports.dot}"]`,
        `    doh: ["127.0.0.1:${ports.doh}"]`,
        `  proxy: { http: ["127.0.0.1:${ports.proxy}"] }`,
        `  tls: { certFile: ${JSON.stringify(cert.certFile)}, keyFile: ${JSON.stringify(cert.keyFile)} }`,
        "",
      ].join("\n"),
    );
    const edge = runCli([
      "edge",
      "--control",
      controlUrl,
      "--data-dir",
      join(dir, "edge-a"),
      "--local",
      local,
      "--public-name",
      NAME,
      "--name",
      "edge-a",
      "--heartbeat-interval",
      "0.2",
      "--join-token",
      await joinToken(),
    ]);
    edges.push(edge);
    [, edgeId = ""] = await edge.waitFor(/following \S+ as (\S+)/);
    // The edge reports its listeners from its first heartbeat; it answers once it has the config.
    await eventually(
      () => call<{ configVersion: number | null }>("GET", `/edges/${edgeId}`),
      (r) => (r.body.configVersion ?? 0) >= published,
      30_000,
    );
  });

  after(async () => {
    for (const e of edges) await e.stop();
    await control?.stop();
    await upstream?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const connectInfo = () =>
    eventually(
      () => call<ConnectInfoView>("GET", `/locations/${locationId}/connect`),
      (r) => r.status === 200,
      15_000,
    ).then((r) => {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    });

  test("the edges API shows what the edge reported: listeners, certificate, public name", async () => {
    const r = await eventually(
      () => call<{ endpoints: unknown }>("GET", `/edges/${edgeId}`),
      (x) => x.body.endpoints != null,
      15_000,
    );
    const e = r.body.endpoints as unknown as {
      publicName: string;
      dns: { udp: string[]; tcp: string[]; dot: string[]; doh: string[] };
      proxy: string[];
      certificate: { sha256: string; names: string[]; selfSigned: boolean; notAfter: string };
    };
    assert.equal(e.publicName, NAME);
    assert.deepEqual(e.dns, {
      udp: [`127.0.0.1:${ports.dns}`],
      tcp: [`127.0.0.1:${ports.dns}`],
      dot: [`127.0.0.1:${ports.dot}`],
      doh: [`127.0.0.1:${ports.doh}`],
    });
    assert.deepEqual(e.proxy, [`127.0.0.1:${ports.proxy}`]);
    const x = new X509Certificate(certPem);
    assert.equal(e.certificate.sha256, x.fingerprint256);
    assert.deepEqual(e.certificate.names, [NAME]);
    assert.equal(e.certificate.selfSigned, true);
  });

  test("the Connect API shows the edge's DoH URL and DoT name; kdig answers through them", async () => {
    const info = await connectInfo();
    assert.deepEqual(info.servedBy, { id: edgeId, name: "edge-a" });
    assert.equal(info.doh?.url, `https://${NAME}:${ports.doh}/dns-query/${dohToken}`);
    assert.equal(info.doh?.port, ports.doh);
    assert.deepEqual(info.dot, { hostname: NAME, address: "127.0.0.1", port: ports.dot });
    assert.deepEqual(info.dns, [{ address: "127.0.0.1", port: ports.dns }]);
    assert.equal(info.proxy?.pacUrl, `http://127.0.0.1:${ports.proxy}/proxy.pac`);
    assert.equal(info.certificate?.sha256, new X509Certificate(certPem).fingerprint256);
    // Its listeners are on loopback: the answer says so, and how to change it.
    assert.ok(
      info.warnings.some((w) => /Edge "edge-a" listens on loopback only/.test(w)),
      JSON.stringify(info.warnings),
    );
    const ca = join(dir, "shown.pem");
    await writeFile(ca, info.certificate!.pem);
    const url = new URL(info.doh!.url);
    // The name is not in DNS here: kdig goes to the address shown, checking the name shown.
    const doh = await kdig([
      `@${info.dns[0]!.address}`,
      "-p",
      url.port,
      `+https=${url.pathname}`,
      `+tls-ca=${ca}`,
      `+tls-hostname=${url.hostname}`,
      "www.example",
      "A",
    ]);
    assert.match(doh, /status: NOERROR/);
    assert.match(doh, /www\.example\.\s+\d+\s+IN\s+A\s+192\.0\.2\.30/);
    const dot = await kdig([
      `@${info.dot!.address}`,
      "-p",
      String(info.dot!.port),
      "+tls",
      `+tls-ca=${ca}`,
      `+tls-hostname=${info.dot!.hostname}`,
      "www.example",
      "A",
    ]);
    assert.match(dot, /status: NOERROR/);
    assert.match(dot, /192\.0\.2\.30/);
    // The certificate is checked: another name is refused.
    const wrong = await kdig([
      `@${info.dot!.address}`,
      "-p",
      String(info.dot!.port),
      "+tls",
      `+tls-ca=${ca}`,
      "+tls-hostname=other.example",
      "www.example",
      "A",
    ]);
    assert.doesNotMatch(wrong, /status: NOERROR/);
  });

  test("gatehouse connect --control prints what the page shows; a second edge is listed too", async () => {
    const p = runCli(["connect", "--control", controlUrl, "--no-qr"], { GATEHOUSE_TOKEN: token });
    assert.equal(await p.stop("SIGCONT"), 0, p.output());
    const out = p.output();
    const info = await connectInfo();
    assert.match(out, /Connect a device to "home"/);
    assert.ok(out.includes(`edge            edge-a (${edgeId})`), out);
    assert.ok(out.includes(`DoH URL         ${info.doh!.url}`), out);
    assert.ok(out.includes(`DoT host name   ${NAME} (port ${ports.dot})`), out);
    assert.ok(out.includes(`PAC URL         ${info.proxy!.pacUrl}`), out);
    assert.ok(out.includes(info.certificate!.sha256), out);
    assert.match(out, /Edge "edge-a" listens on loopback only/);
    const json = runCli(["connect", "--control", controlUrl, "--json"], {
      GATEHOUSE_TOKEN: token,
    });
    assert.equal(await json.stop("SIGCONT"), 0, json.output());
    assert.deepEqual(JSON.parse(json.output()), info);

    // A second edge with two workers (its primary heartbeats for them), plain DNS and DoH with
    // no public name: both edges are listed, each with its addresses and certificate.
    const dnsB = await freePort();
    const dohB = await freePort();
    const localB = join(dir, "edge-b-local.yaml");
    const cert = await ensureSelfSigned({ dir: join(dir, "tls"), names: [NAME], ips: [] });
    await writeFile(
      localB,
      [
        "edge:",
        "  dns:",
        `    udp: ["127.0.0.1:${dnsB}"]`,
        `    tcp: ["127.0.0.1:${dnsB}"]`,
        `    doh: ["127.0.0.1:${dohB}"]`,
        `  tls: { certFile: ${JSON.stringify(cert.certFile)}, keyFile: ${JSON.stringify(cert.keyFile)} }`,
        "",
      ].join("\n"),
    );
    const b = runCli([
      "edge",
      "--control",
      controlUrl,
      "--data-dir",
      join(dir, "edge-b"),
      "--local",
      localB,
      "--proxy",
      `127.0.0.1:${await freePort()}`,
      "--workers",
      "2",
      "--name",
      "edge-b",
      "--heartbeat-interval",
      "0.2",
      "--join-token",
      await joinToken(),
    ]);
    edges.push(b);
    await b.waitFor(/following \S+ as \S+/);
    const both = await eventually(connectInfo, (i) => (i.edges?.length ?? 0) === 2, 30_000);
    assert.deepEqual(
      both.edges?.map((e) => e.name),
      ["edge-a", "edge-b"],
    );
    const eb = both.edges![1]!;
    assert.deepEqual(eb.dns, [{ address: "127.0.0.1", port: dnsB }]);
    assert.equal(eb.doh?.url, `https://127.0.0.1:${dohB}/dns-query/${dohToken}`);
    assert.equal(eb.dot, undefined);
    assert.equal(eb.certificate?.sha256, new X509Certificate(certPem).fingerprint256);
    const p2 = runCli(["connect", "--control", controlUrl, "--no-qr"], { GATEHOUSE_TOKEN: token });
    assert.equal(await p2.stop("SIGCONT"), 0, p2.output());
    const out2 = p2.output();
    assert.match(out2, /Edges serving "home" \(a device may use any\):/);
    assert.match(out2, /^ {2}edge-a \(/m);
    assert.match(out2, /^ {2}edge-b \(/m);
    assert.ok(out2.includes(`127.0.0.1 port ${dnsB}`), out2);
    assert.ok(out2.includes(`DoH URL       https://127.0.0.1:${dohB}/dns-query/${dohToken}`), out2);
  });
});
