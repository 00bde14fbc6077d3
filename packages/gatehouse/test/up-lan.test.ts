// Issue 17 "Serve the network safely" and "Connect a device", end to end on loopback: `gatehouse
// up --listen 127.0.0.2` stands in for `--listen lan` (the LAN address is 127.0.0.2; clients are
// other 127.0.0.x sources). It opens DNS, DoT, DoH, the proxy and the HTTPS dashboard there;
// a source outside the location's networks gets REFUSED and 403; what the Connect API shows
// (DoH URL, DoT name, certificate) answers with kdig; the Apple profile parses as a plist with
// the DNS and certificate payloads; `gatehouse connect` prints the same.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parsePlist } from "plist";
import { KDIG_MISSING, kdig } from "./support/kdig.ts";
import { api, eventually, freePort, type Running, runCli } from "./support/processes.ts";

const skip = KDIG_MISSING;
if (skip) console.log(`# skipping the LAN end-to-end test: ${skip}`);

const LAN = "127.0.0.2";
const OUTSIDE = "127.0.0.9";

function proxyStatus(port: number, localAddress: string, path: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = httpRequest(
      { host: LAN, port, path, localAddress, headers: { host: "example.com" } },
      (r) => {
        r.resume();
        r.on("end", () => res(r.statusCode ?? 0));
      },
    );
    req.on("error", rej);
    req.end();
  });
}

describe("gatehouse up --listen (a LAN address) and Connect a device", { skip }, () => {
  let dir = "";
  let up: Running;
  let token = "";
  let apiUrl = "";
  let call: ReturnType<typeof api>;
  let banner = "";
  const ports = { dns: 0, proxy: 0, dot: 0, doh: 0, https: 0 };
  let locationId = "";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-up-lan-"));
    ports.dns = await freePort();
    ports.proxy = await freePort();
    up = runCli([
      "up",
      "--data-dir",
      join(dir, "data"),
      "--listen",
      LAN,
      "--dns",
      `${LAN}:${ports.dns}`,
      "--proxy",
      `${LAN}:${ports.proxy}`,
      "--metrics",
      `127.0.0.1:${await freePort()}`,
    ]);
    [, token = ""] = await up.waitFor(/Admin token \(shown once, keep it\): (\S+)/, 120_000);
    await up.waitFor(/Ctrl-C stops everything/);
    banner = up.output();
    const [, apiPort] = /dashboard\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(banner) ?? [];
    apiUrl = `http://127.0.0.1:${apiPort}`;
    call = api(apiUrl, token);
    ports.dot = Number(/DNS over TLS\s+127\.0\.0\.2:(\d+)/.exec(banner)?.[1]);
    ports.doh = Number(/DNS over HTTPS\s+https:\/\/127\.0\.0\.2:(\d+)/.exec(banner)?.[1]);
    ports.https = Number(/dashboard\s+https:\/\/127\.0\.0\.2:(\d+)\//.exec(banner)?.[1]);
    const locs = await call<{ items: { id: string; version: number }[] }>("GET", "/locations");
    locationId = locs.body.items[0]!.id;
  });
  after(async () => {
    await up?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the banner says what listens where, who may use it, and the certificate's fingerprint", () => {
    assert.ok(ports.dot > 0 && ports.doh > 0 && ports.https > 0, banner);
    assert.match(banner, /Gatehouse is running on loopback only \(127\.0\.0\.2, 127\.0\.0\.1\)/);
    assert.match(banner, new RegExp(`DNS over UDP\\s+127\\.0\\.0\\.2:${ports.dns}`));
    assert.match(banner, new RegExp(`HTTP proxy\\s+127\\.0\\.0\\.2:${ports.proxy}`));
    assert.match(
      banner,
      /Who may use DNS and the proxy: clients in 127\.0\.0\.0\/8, ::1\/128, 10\.0\.0\.0\/8/,
    );
    assert.match(banner, /any other source gets REFUSED over DNS and 403 from the proxy/);
    assert.match(banner, /certificate\s+self-signed, SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    assert.doesNotMatch(banner, /\(loopback only\)\s*$/m);
  });

  test("a source outside the location's networks gets REFUSED over DNS and 403 from the proxy", async () => {
    const r = await call("PATCH", `/locations/${locationId}`, { networks: ["127.0.0.1/32"] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await call("POST", "/config/publish", {});
    const outside = await eventually(
      () => kdig(["-b", OUTSIDE, `@${LAN}`, "-p", String(ports.dns), "blocked.example", "A"]),
      (o) => /status: REFUSED/.test(o),
      15_000,
    );
    assert.match(outside, /status: REFUSED/);
    const tcp = await kdig([
      "-b",
      OUTSIDE,
      "+tcp",
      `@${LAN}`,
      "-p",
      String(ports.dns),
      "blocked.example",
    ]);
    assert.match(tcp, /status: REFUSED/);
    const inside = await kdig([
      "-b",
      "127.0.0.1",
      `@${LAN}`,
      "-p",
      String(ports.dns),
      "blocked.example",
      "A",
    ]);
    assert.match(inside, /status: NOERROR/);
    assert.match(inside, /blocked\.example\.\s+\d+\s+IN\s+A\s+0\.0\.0\.0/);
    // DoT from outside without a location: refused too.
    const dot = await kdig([
      "-b",
      OUTSIDE,
      "+tls",
      `@${LAN}`,
      "-p",
      String(ports.dot),
      "blocked.example",
    ]);
    assert.match(dot, /status: REFUSED/);
    assert.equal(await proxyStatus(ports.proxy, OUTSIDE, "http://example.com/"), 403);
    assert.equal(await proxyStatus(ports.proxy, "127.0.0.1", "/proxy.pac"), 200);
  });

  test("what the Connect API shows answers: DoH URL and DoT name with kdig, checking the certificate", async () => {
    const r = await call<{
      doh: { url: string; port: number };
      dot: { hostname: string; address: string; port: number };
      dns: { address: string; port: number }[];
      proxy: { address: string; pacUrl: string };
      certificate: { pem: string; sha256: string; source: string };
      profiles: { doh: string; dot: string };
      guides: { id: string; steps: string[] }[];
      networks: string[];
    }>("GET", `/locations/${locationId}/connect`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const info = r.body;
    const loc = await call<{ dohToken: string; networks: string[] }>(
      "GET",
      `/locations/${locationId}`,
    );
    const hostPort = ports.doh === 443 ? LAN : `${LAN}:${ports.doh}`;
    assert.equal(info.doh.url, `https://${hostPort}/dns-query/${loc.body.dohToken}`);
    assert.equal(info.doh.port, ports.doh);
    assert.deepEqual(info.dns, [{ address: LAN, port: ports.dns }]);
    assert.deepEqual(info.dot, { hostname: LAN, address: LAN, port: ports.dot });
    assert.equal(info.proxy.pacUrl, `http://${LAN}:${ports.proxy}/proxy.pac`);
    assert.deepEqual(info.networks, loc.body.networks);
    assert.equal(info.certificate.source, "self-signed");
    assert.ok(banner.includes(info.certificate.sha256), "the banner shows the same fingerprint");
    for (const id of [
      "windows",
      "apple",
      "android",
      "chromeos",
      "firefox",
      "chrome",
      "linux",
      "router",
    ])
      assert.ok(
        info.guides.some((g) => g.id === id),
        `a guide for ${id}`,
      );
    const ca = join(dir, "gatehouse.pem");
    await writeFile(ca, info.certificate.pem);
    const url = new URL(info.doh.url);
    // The DoH URL carries the location: a source outside its networks is answered with it.
    const doh = await kdig([
      "-b",
      OUTSIDE,
      `@${url.hostname}`,
      "-p",
      String(info.doh.port),
      `+https=${url.pathname}`,
      `+tls-ca=${ca}`,
      `+tls-hostname=${url.hostname}`,
      "blocked.example",
      "A",
    ]);
    assert.match(doh, /status: NOERROR/);
    assert.match(doh, /blocked\.example\.\s+\d+\s+IN\s+A\s+0\.0\.0\.0/);
    const dot = await kdig([
      "-b",
      "127.0.0.1",
      `@${info.dot.address}`,
      "-p",
      String(info.dot.port),
      "+tls",
      `+tls-ca=${ca}`,
      `+tls-hostname=${info.dot.hostname}`,
      "blocked.example",
      "A",
    ]);
    assert.match(dot, /status: NOERROR/);
    assert.match(dot, /0\.0\.0\.0/);
    // A rotated token is revoked: the old URL stops working.
    await call("POST", `/locations/${locationId}/rotate-doh-token`);
    await call("POST", "/config/publish", {});
    const old = await eventually(
      () =>
        kdig([
          "-b",
          OUTSIDE,
          `@${LAN}`,
          "-p",
          url.port,
          `+https=${url.pathname}`,
          "blocked.example",
        ]),
      (o) => /status: REFUSED/.test(o),
      15_000,
    );
    assert.match(old, /status: REFUSED/);
  });

  test("the Apple profile parses as a plist with the DNS settings and the certificate", async () => {
    const info = (
      await call<{
        doh: { url: string };
        dot: { hostname: string };
        certificate: { pem: string; sha256: string };
      }>("GET", `/locations/${locationId}/connect`)
    ).body;
    for (const transport of ["doh", "dot"] as const) {
      const res = await fetch(
        `${apiUrl}/api/v1/locations/${locationId}/connect/apple-profile?transport=${transport}`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/x-apple-aspen-config");
      const doc = parsePlist(await res.text()) as {
        PayloadType: string;
        PayloadUUID: string;
        PayloadContent: Record<string, unknown>[];
      };
      assert.equal(doc.PayloadType, "Configuration");
      assert.match(
        doc.PayloadUUID,
        /^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/,
      );
      const [dns, root, ...rest] = doc.PayloadContent;
      assert.equal(rest.length, 0);
      assert.equal(dns!["PayloadType"], "com.apple.dnsSettings.managed");
      assert.deepEqual(
        dns!["DNSSettings"],
        transport === "doh"
          ? { DNSProtocol: "HTTPS", ServerURL: info.doh.url, ServerAddresses: [LAN] }
          : { DNSProtocol: "TLS", ServerName: info.dot.hostname, ServerAddresses: [LAN] },
      );
      assert.equal(root!["PayloadType"], "com.apple.security.root");
      const der = root!["PayloadContent"] as Buffer;
      assert.equal(new X509Certificate(der).fingerprint256, info.certificate.sha256);
      assert.equal(
        createHash("sha256").update(der).digest("hex"),
        info.certificate.sha256.replaceAll(":", "").toLowerCase(),
      );
    }
  });

  test("the dashboard and API are served over HTTPS on the LAN address", async () => {
    const info = (
      await call<{ certificate: { pem: string } }>("GET", `/locations/${locationId}/connect`)
    ).body;
    const status = await new Promise<number>((res, rej) => {
      const req = httpsRequest(
        {
          host: LAN,
          port: ports.https,
          path: "/api/v1/locations",
          ca: info.certificate.pem,
          headers: { authorization: `Bearer ${token}` },
        },
        (r) => {
          r.resume();
          r.on("end", () => res(r.statusCode ?? 0));
        },
      );
      req.on("error", rej);
      req.end();
    });
    assert.equal(status, 200);
  });

  test("gatehouse connect prints what the Connect page shows", async () => {
    const p = runCli(["connect", "--control", apiUrl, "--no-qr"], { GATEHOUSE_TOKEN: token });
    const code = await p.stop("SIGCONT");
    const out = p.output();
    assert.equal(code, 0, out);
    const info = (
      await call<{ doh: { url: string }; dot: { hostname: string } }>(
        "GET",
        `/locations/${locationId}/connect`,
      )
    ).body;
    assert.match(out, /Connect a device to "This machine and local networks"/);
    assert.ok(out.includes(`DoH URL         ${info.doh.url}`), out);
    assert.match(out, new RegExp(`DNS servers\\s+${LAN} port ${ports.dns}`));
    assert.match(out, /Windows 11 \(DNS over HTTPS\):/);
    assert.match(out, /Android 9 and later \(Private DNS\):/);
    assert.match(out, /Home router/);
    const unknown = runCli(["connect", "--control", apiUrl, "--location", "nowhere"], {
      GATEHOUSE_TOKEN: token,
    });
    assert.equal(await unknown.stop("SIGCONT"), 1);
    assert.match(unknown.output(), /no location named "nowhere"/);
    // --device: the device's own DoH URL (printed once) in place of the location's; it answers
    // from outside the location's networks with the location's policies.
    const dev = runCli(["connect", "--control", apiUrl, "--no-qr", "--device", "kims-laptop"], {
      GATEHOUSE_TOKEN: token,
    });
    assert.equal(await dev.stop("SIGCONT"), 0, dev.output());
    const devUrl = /DoH URL\s+(https:\/\/\S+)/.exec(dev.output())?.[1];
    assert.ok(devUrl && devUrl !== info.doh.url, dev.output());
    assert.match(devUrl, /\/dns-query\/[A-Za-z0-9_-]{43}$/);
    assert.match(dev.output(), /shown this once/);
    const u = new URL(devUrl);
    const ca = join(dir, "gatehouse.pem");
    const viaDevice = await eventually(
      () =>
        kdig([
          "-b",
          OUTSIDE,
          `@${u.hostname}`,
          "-p",
          u.port,
          `+https=${u.pathname}`,
          `+tls-ca=${ca}`,
          `+tls-hostname=${u.hostname}`,
          "blocked.example",
          "A",
        ]),
      (o) => /status: NOERROR/.test(o),
      15_000,
    );
    assert.match(viaDevice, /blocked\.example\.\s+\d+\s+IN\s+A\s+0\.0\.0\.0/);
    const prof = runCli(["connect", "--control", apiUrl, "--profile", "dot"], {
      GATEHOUSE_TOKEN: token,
    });
    assert.equal(await prof.stop("SIGCONT"), 0);
    const doc = parsePlist(prof.output()) as { PayloadContent: { DNSSettings?: unknown }[] };
    assert.equal(
      (doc.PayloadContent[0]!.DNSSettings as { DNSProtocol: string }).DNSProtocol,
      "TLS",
    );
  });
});
