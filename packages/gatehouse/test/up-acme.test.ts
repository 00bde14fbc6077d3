// Issue 17: DoT, DoH and the HTTPS dashboard with a certificate from an ACME CA — Debian's
// `pebble` test CA on loopback. Pebble resolves the name through a fake DNS server (every A is
// 127.0.0.3, the address `gatehouse up --listen 127.0.0.3` serves) and checks the HTTP-01
// challenge there; kdig then verifies the DoT certificate against pebble's root for that name.
// Skipped, saying why, without pebble or kdig.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ensureSelfSigned } from "@gatehouse/edge";
import { needsRenewal } from "../src/commands/acme.ts";
import { has, KDIG_MISSING, kdig } from "./support/kdig.ts";
import { api, fakeUpstream, freePort, type Running, runCli } from "./support/processes.ts";

const skip = has("pebble") ? KDIG_MISSING : "pebble not installed (Debian's pebble package)";
if (skip) console.log(`# skipping the ACME test: ${skip}`);

// Not 127.0.0.2, which the --listen test takes with the default ports.
const LAN = "127.0.0.3";
const NAME = "gatehouse.acme.test";

function getText(url: string, ca: string): Promise<string> {
  return new Promise((res, rej) => {
    const req = httpsRequest(url, { ca }, (r) => {
      let body = "";
      r.on("data", (d: Buffer) => {
        body += d.toString();
      });
      r.on("end", () => res(body));
    });
    req.on("error", rej);
    req.end();
  });
}

test("renewal is due with a third of the lifetime left, or when a name is missing", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gh-acme-renew-"));
  try {
    const { cert } = await ensureSelfSigned({ dir, names: ["a.example"], ips: [] });
    const x = new X509Certificate(cert);
    const from = new Date(x.validFrom).getTime();
    const to = new Date(x.validTo).getTime();
    const third = (to - from) / 3;
    assert.equal(needsRenewal(cert, ["a.example"], from + 1000), false);
    assert.equal(needsRenewal(cert, ["a.example"], to - third - 60_000), false);
    assert.equal(needsRenewal(cert, ["a.example"], to - third + 60_000), true);
    assert.equal(needsRenewal(cert, ["a.example", "b.example"], from + 1000), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe("gatehouse up with a certificate from an ACME CA (pebble)", { skip }, () => {
  let dir = "";
  let pebble: ChildProcess | undefined;
  let pebbleOut = "";
  let dns: Awaited<ReturnType<typeof fakeUpstream>> | undefined;
  let up: Running;
  let banner = "";
  let pebbleCa = "";
  let mgmtPort = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-up-acme-"));
    const tls = await ensureSelfSigned({
      dir: join(dir, "pebble-tls"),
      names: ["localhost"],
      ips: ["127.0.0.1"],
    });
    pebbleCa = tls.cert;
    dns = await fakeUpstream(LAN);
    const dirPort = await freePort();
    mgmtPort = await freePort();
    const challengePort = await freePort();
    const config = join(dir, "pebble.json");
    await writeFile(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${dirPort}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: tls.certFile,
          privateKey: tls.keyFile,
          httpPort: challengePort,
          tlsPort: await freePort(),
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
        },
      }),
    );
    pebble = spawn("pebble", ["-config", config, "-dnsserver", `127.0.0.1:${dns.port}`], {
      env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const collect = (d: Buffer) => {
      pebbleOut += d.toString();
    };
    pebble.stdout!.on("data", collect);
    pebble.stderr!.on("data", collect);
    const end = Date.now() + 30_000;
    while (!/Listening on/.test(pebbleOut)) {
      if (Date.now() > end || pebble.exitCode !== null)
        throw new Error(`pebble did not start:\n${pebbleOut}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    up = runCli([
      "up",
      "--data-dir",
      join(dir, "data"),
      "--listen",
      LAN,
      "--hostname",
      NAME,
      "--acme-directory",
      `https://127.0.0.1:${dirPort}/dir`,
      "--acme-ca",
      tls.certFile,
      "--acme-http",
      `${LAN}:${challengePort}`,
      "--dns",
      `${LAN}:${await freePort()}`,
      "--proxy",
      `${LAN}:${await freePort()}`,
      "--metrics",
      `127.0.0.1:${await freePort()}`,
      "--api",
      `127.0.0.1:${await freePort()}`,
      "--dot",
      `${LAN}:${await freePort()}`,
      "--doh",
      `${LAN}:${await freePort()}`,
    ]);
    await up.waitFor(/Ctrl-C stops everything/, 180_000);
    banner = up.output();
  });
  after(async () => {
    await up?.stop();
    pebble?.kill();
    await dns?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the certificate comes from the CA: DoT verifies against pebble's root for the host name", async () => {
    assert.match(banner, /certificate\s+from the ACME CA, SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    assert.ok(
      dns!.queries.some((q) => q === NAME),
      `pebble asked for ${NAME}: ${dns!.queries}`,
    );
    const root = await getText(`https://127.0.0.1:${mgmtPort}/roots/0`, pebbleCa);
    assert.match(root, /BEGIN CERTIFICATE/);
    const rootFile = join(dir, "pebble-root.pem");
    await writeFile(rootFile, root);
    const dotPort = /DNS over TLS\s+127\.0\.0\.3:(\d+)/.exec(banner)?.[1];
    assert.ok(dotPort, banner);
    const out = await kdig([
      `@${LAN}`,
      "-p",
      dotPort,
      "+tls",
      `+tls-ca=${rootFile}`,
      `+tls-hostname=${NAME}`,
      "blocked.example",
      "A",
    ]);
    assert.match(out, /status: NOERROR/);
    assert.match(out, /0\.0\.0\.0/);
    // The name it was not issued for does not verify.
    const wrong = await kdig([
      `@${LAN}`,
      "-p",
      dotPort,
      "+tls",
      `+tls-ca=${rootFile}`,
      "+tls-hostname=other.acme.test",
      "blocked.example",
    ]);
    assert.doesNotMatch(wrong, /status: NOERROR/);
  });

  test("the Connect answer names the ACME certificate, and the Apple profile carries no root for it", async () => {
    const [, token] = /Admin token \(shown once, keep it\): (\S+)/.exec(banner) ?? [];
    const [, apiPort] = /dashboard\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(banner) ?? [];
    const call = api(`http://127.0.0.1:${apiPort}`, token!);
    const locs = await call<{ items: { id: string }[] }>("GET", "/locations");
    const id = locs.body.items[0]!.id;
    const info = await call<{
      certificate: { source: string; names: string[] };
      doh: { url: string };
      dot: { hostname: string };
    }>("GET", `/locations/${id}/connect`);
    assert.equal(info.body.certificate.source, "acme");
    assert.deepEqual(info.body.certificate.names, [NAME]);
    assert.match(
      info.body.doh.url,
      new RegExp(`^https://${NAME.replaceAll(".", "\\.")}(:\\d+)?/dns-query/`),
    );
    assert.equal(info.body.dot.hostname, NAME);
    const res = await fetch(
      `http://127.0.0.1:${apiPort}/api/v1/locations/${id}/connect/apple-profile?transport=dot`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    const xml = await res.text();
    assert.match(xml, /com\.apple\.dnsSettings\.managed/);
    assert.doesNotMatch(xml, /com\.apple\.security\.root/);
  });
});
