// Issue 17 "Connect a device", end to end in headless Chromium against a running Gatehouse:
// control in-process serving the dashboard built from its current source, told where a real edge (`gatehouse
// edge --control`, a child process with DNS, DoT, DoH and the proxy on loopback) listens. The
// Connect page shows the DNS address, DoH URL, DoT name, PAC URL and proxy with copy buttons and
// QR codes; what it shows answers (kdig over DoH and DoT, checking the certificate the page
// offers); its Apple profile parses as a plist with the DoH URL it shows; replacing the DoH URL
// revokes the old one; a device's own DoH URL answers, names the device in the log and is
// refused once revoked. Without `up`'s listeners the page is built from what the edges reported
// in their heartbeats, every edge listed.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildApp, DuckDbStore, type ServingEndpoints } from "@gatehouse/control";
import type { FastifyInstance } from "fastify";
import type { BrowserContext, Page } from "playwright-core";
import { parse as parsePlist } from "plist";
import { KDIG_MISSING, kdig } from "../../gatehouse/test/support/kdig.ts";
import {
  api,
  eventually,
  fakeUpstream,
  freePort,
  type Running,
  runCli,
} from "../../gatehouse/test/support/processes.ts";
import { dashboardDist, launchBrowser, SKIP, screenshot, signIn } from "./browser.ts";

const skip = SKIP || KDIG_MISSING;
if (skip) console.log(`# skipping the Connect page's browser test: ${skip}`);

const UPSTREAM_ANSWER = "192.0.2.81";

describe("the Connect a device page, against a real edge", { skip }, () => {
  let tmp: string;
  let app: FastifyInstance;
  let analytics: DuckDbStore;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let edge: Running;
  let context: BrowserContext;
  let page: Page;
  let problems: string[] = [];
  let base: string;
  let serving: ServingEndpoints | undefined;
  const ports = { dns: 0, dot: 0, doh: 0, proxy: 0 };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "gh-dashboard-connect-"));
    const dist = await dashboardDist(tmp);
    analytics = await DuckDbStore.open({ path: ":memory:", threads: 1 });
    app = await buildApp({
      logger: false,
      // Publishes follow changes as under `gatehouse up` (there after 2 s).
      autoPublishDelayMs: 100,
      dashboardDir: dist,
      analytics,
      serving: () => serving,
    });
    base = await app.listen({ host: "127.0.0.1", port: 0 });
    const token = app.gatehouse.adminToken!;
    const call = api(base, token);
    upstream = await fakeUpstream(UPSTREAM_ANSWER);
    const setup: [string, string, unknown][] = [
      [
        "PUT",
        "/resolver",
        {
          upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
          dnssec: { validate: false },
        },
      ],
      ["POST", "/locations", { name: "Home", networks: ["127.0.0.1/32"] }],
      ["POST", "/config/publish", {}],
    ];
    for (const [method, path, body] of setup) {
      const r = await call(method, path, body);
      assert.ok(r.status < 300, `${method} ${path}: ${JSON.stringify(r.body)}`);
    }
    const join_ = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    const local = join(tmp, "local.yaml");
    writeFileSync(
      local,
      [
        "edge:",
        "  dns:",
        `    udp: [127.0.0.1:${ports.dns}]`,
        `    tcp: [127.0.0.1:${ports.dns}]`,
        `    dot: [127.0.0.1:${ports.dot}]`,
        `    doh: [127.0.0.1:${ports.doh}]`,
        `  proxy: { http: [127.0.0.1:${ports.proxy}] }`,
      ].join("\n"),
    );
    const edgeDir = join(tmp, "edge");
    edge = runCli([
      "edge",
      "--control",
      base,
      "--data-dir",
      edgeDir,
      "--local",
      local,
      "--join-token",
      join_.body.joinToken,
    ]);
    await edge.waitFor(/following \S+ as \S+/);
    // The edge made a self-signed certificate for DoT and DoH; control is told about it.
    const pem = readFileSync(join(edgeDir, "edge-selfsigned-cert.pem"), "utf8");
    const x = new X509Certificate(pem);
    serving = {
      scope: "lan",
      host: "127.0.0.1",
      dns: [`127.0.0.1:${ports.dns}`],
      dohPort: ports.doh,
      dotPort: ports.dot,
      proxyPort: ports.proxy,
      dashboardUrl: base,
      certificate: {
        source: "self-signed",
        pem,
        sha256: x.fingerprint256,
        subject: x.subject,
        notAfter: new Date(x.validTo).toISOString(),
        names: ["localhost", "127.0.0.1"],
      },
    };
    ({ context, page, problems } = await launchBrowser(join(tmp, "profile")));
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    await signIn(page, base, token);
  });

  after(async () => {
    await context?.close();
    await edge?.stop();
    await app?.close();
    await analytics?.close();
    await upstream?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const shown = async (label: string) =>
    ((await page.getByTestId(label).textContent()) ?? "").trim();

  it("shows each value with a copy button and a QR code, and the setup steps", async () => {
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Connect a device", exact: true })
      .click();
    await page.getByRole("heading", { name: "Connect a device" }).waitFor();
    await page.getByRole("heading", { name: "Home" }).waitFor();
    assert.equal(await shown("DNS servers"), "127.0.0.1");
    assert.match(
      await shown("DoH URL"),
      new RegExp(`^https://127\\.0\\.0\\.1:${ports.doh}/dns-query/[A-Za-z0-9_-]+$`),
    );
    assert.equal(await shown("DoT host name"), "127.0.0.1");
    assert.equal(await shown("PAC URL"), `http://127.0.0.1:${ports.proxy}/proxy.pac`);
    assert.equal(await shown("HTTP proxy"), `127.0.0.1:${ports.proxy}`);
    assert.equal(await shown("certificate fingerprint"), serving!.certificate!.sha256);
    for (const label of ["DNS servers", "DoH URL", "DoT host name", "PAC URL", "HTTP proxy"]) {
      const img = page.getByRole("img", { name: `QR code: ${label}` });
      await img.waitFor();
      assert.match((await img.getAttribute("src")) ?? "", /^data:image\/png;base64,/);
    }
    await page.getByRole("button", { name: "Copy DoH URL" }).click();
    await page
      .getByRole("button", { name: "Copy DoH URL" })
      .filter({ hasText: "Copied" })
      .waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await shown("DoH URL"));
    // The plain DNS port is not 53 here: the page says so.
    await page
      .getByText(/Plain DNS is on port \d+: phones, computers and routers only ask port 53/)
      .waitFor();
    for (const title of [
      "Windows 11 (DNS over HTTPS)",
      "macOS, iOS and iPadOS (configuration profile)",
      "Android 9 and later (Private DNS)",
      "ChromeOS",
      "Firefox (DNS over HTTPS)",
      "Chrome and Edge (secure DNS)",
      "Linux (systemd-resolved, DNS over TLS)",
      "Home router (every device on the network)",
    ])
      await page.getByText(title, { exact: true }).waitFor();
    await page.getByText("Linux (systemd-resolved, DNS over TLS)", { exact: true }).click();
    await page.getByText(`DNS=127.0.0.1:${ports.dot}#127.0.0.1`, { exact: false }).waitFor();
    await screenshot(page, "connect");
  });

  it("what the page shows answers: kdig over DoH and DoT with the certificate it offers", async () => {
    const [cert] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download certificate" }).click(),
    ]);
    const ca = join(tmp, "downloaded.crt");
    await cert.saveAs(ca);
    assert.equal(
      new X509Certificate(readFileSync(ca)).fingerprint256,
      serving!.certificate!.sha256,
    );
    const url = new URL(await shown("DoH URL"));
    const doh = await kdig([
      `@${url.hostname}`,
      "-p",
      url.port,
      `+https=${url.pathname}`,
      `+tls-ca=${ca}`,
      `+tls-hostname=${url.hostname}`,
      "www.connect.example",
      "A",
    ]);
    assert.match(doh, /status: NOERROR/);
    assert.match(
      doh,
      new RegExp(
        `www\\.connect\\.example\\.\\s+\\d+\\s+IN\\s+A\\s+${UPSTREAM_ANSWER.replaceAll(".", "\\.")}`,
      ),
    );
    const dot = await kdig([
      "@127.0.0.1",
      "-p",
      String(ports.dot),
      "+tls",
      `+tls-ca=${ca}`,
      `+tls-hostname=${await shown("DoT host name")}`,
      "www.connect.example",
      "A",
    ]);
    assert.match(dot, /status: NOERROR/);
    assert.ok(dot.includes(UPSTREAM_ANSWER), dot);
  });

  it("downloads an Apple profile that parses as a plist with the DoH URL shown and the certificate", async () => {
    const [dl] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download Apple profile (DoH)" }).click(),
    ]);
    assert.equal(dl.suggestedFilename(), "gatehouse-Home-doh.mobileconfig");
    const file = join(tmp, "profile.mobileconfig");
    await dl.saveAs(file);
    const doc = parsePlist(readFileSync(file, "utf8")) as {
      PayloadType: string;
      PayloadContent: Record<string, unknown>[];
    };
    assert.equal(doc.PayloadType, "Configuration");
    const [dns, root] = doc.PayloadContent;
    assert.equal(dns!["PayloadType"], "com.apple.dnsSettings.managed");
    assert.deepEqual(dns!["DNSSettings"], {
      DNSProtocol: "HTTPS",
      ServerURL: await shown("DoH URL"),
      ServerAddresses: ["127.0.0.1"],
    });
    assert.equal(root!["PayloadType"], "com.apple.security.root");
    assert.equal(
      new X509Certificate(root!["PayloadContent"] as Buffer).fingerprint256,
      serving!.certificate!.sha256,
    );
  });

  it("replacing the DoH URL revokes the old one", async () => {
    const old = new URL(await shown("DoH URL"));
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Replace the DoH URL" }).click();
    await eventually(
      () => shown("DoH URL"),
      (u) => u !== old.href && u.startsWith("https://"),
      10_000,
    );
    const refused = await eventually(
      () =>
        kdig([
          "@127.0.0.1",
          "-p",
          old.port,
          "+https=" + old.pathname,
          "-b",
          "127.0.0.7",
          "www.connect.example",
        ]),
      (o) => /status: REFUSED/.test(o),
      15_000,
    );
    assert.match(refused, /status: REFUSED/);
    const fresh = new URL(await shown("DoH URL"));
    const ok = await eventually(
      () =>
        kdig([
          "@127.0.0.1",
          "-p",
          fresh.port,
          `+https=${fresh.pathname}`,
          "-b",
          "127.0.0.7",
          "www.connect.example",
        ]),
      (o) => /status: NOERROR/.test(o),
      15_000,
    );
    assert.match(ok, /status: NOERROR/);
  });

  it("a device gets its own DoH URL, shown once: it answers, the log names the device, and revoking it refuses it", async () => {
    const form = page.getByRole("form", { name: "New device DoH URL" });
    await form.getByLabel("Device name").fill("kims-phone");
    await form.getByRole("button", { name: "Add a device URL" }).click();
    const label = "DoH URL for kims-phone";
    await page.getByTestId(label).waitFor();
    const url = new URL(await shown(label));
    const location = new URL(await shown("DoH URL"));
    assert.equal(url.host, location.host, "the same host and port as the location's");
    assert.notEqual(url.pathname, location.pathname);
    assert.match(url.pathname, /^\/dns-query\/[A-Za-z0-9_-]{43}$/);
    await page
      .getByRole("table", { name: "Device DoH URLs" })
      .getByRole("row")
      .filter({ hasText: "kims-phone" })
      .waitFor();
    await screenshot(page, "connect-device-url");
    // From an address outside the location's networks: the token is the credential.
    const query = () =>
      kdig([
        "@127.0.0.1",
        "-p",
        url.port,
        `+https=${url.pathname}`,
        "-b",
        "127.0.0.9",
        "device.connect.example",
      ]);
    const answered = await eventually(query, (o) => /status: NOERROR/.test(o), 15_000);
    assert.ok(answered.includes(UPSTREAM_ANSWER), answered);
    const token = app.gatehouse.adminToken!;
    const logged = await eventually(
      async () =>
        (
          await api(base, token)<{ records: { qname?: string; device?: string }[] }>(
            "GET",
            `/analytics/logs?domainPrefix=device.connect.example&from=${Date.now() - 600_000}`,
          )
        ).body.records,
      (rs) => rs.some((r) => r.device === "kims-phone"),
      20_000,
    );
    assert.ok(logged.length > 0);
    // Shown once: a reload shows the device but not its URL.
    await page.reload();
    await page.getByRole("table", { name: "Device DoH URLs" }).waitFor();
    assert.equal(await page.getByTestId(label).count(), 0);
    page.once("dialog", (d) => d.accept());
    await page
      .getByRole("table", { name: "Device DoH URLs" })
      .getByRole("row")
      .filter({ hasText: "kims-phone" })
      .getByRole("button", { name: "Revoke" })
      .click();
    await page.getByRole("table", { name: "Device DoH URLs" }).waitFor({ state: "detached" });
    const refused = await eventually(query, (o) => /status: REFUSED/.test(o), 15_000);
    assert.match(refused, /status: REFUSED/);
  });

  it("each location links to its Connect page (the DoH path alone has no host or port)", async () => {
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Locations", exact: true })
      .click();
    const row = page
      .getByRole("table", { name: "Locations" })
      .getByRole("row")
      .filter({ hasText: "Home" });
    await row.getByRole("link", { name: "Connect a device" }).click();
    await page.waitForURL(/\/connect\?location=/);
    await page.getByRole("heading", { name: "Home" }).waitFor();
    assert.match(await shown("DoH URL"), /^https:\/\/127\.0\.0\.1:\d+\/dns-query\//);
  });

  it("without up's listeners (a standalone control) the page is built from the edges' reports and lists each edge", async () => {
    serving = undefined;
    const token = app.gatehouse.adminToken!;
    const call = api(base, token);
    // The real edge has reported its listeners in its heartbeats; a second edge (enrolled here,
    // heartbeating by hand) serves the LAN under a public name.
    const join_ = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
    const enrolled = await fetch(`${base}/api/v1/edge/enroll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ joinToken: join_.body.joinToken, name: "lan-edge" }),
    }).then((r) => r.json() as Promise<{ credential: string }>);
    const beat = await fetch(`${base}/api/v1/edge/heartbeat`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${enrolled.credential}`,
      },
      body: JSON.stringify({
        version: "0.1.0",
        configVersion: 1,
        uptimeSeconds: 1,
        endpoints: {
          publicName: "dns.home.example",
          dns: { udp: ["192.0.2.10:53"], tcp: ["192.0.2.10:53"], dot: [], doh: ["192.0.2.10:443"] },
          proxy: [],
        },
      }),
    });
    assert.equal(beat.status, 200, await beat.text());
    await page.reload();
    await page.getByRole("heading", { name: "Home" }).waitFor();
    // Reachable from the network first: the LAN edge gives the values with their QR codes.
    assert.equal(await shown("served by"), "lan-edge");
    assert.match(
      await shown("DoH URL"),
      /^https:\/\/dns\.home\.example\/dns-query\/[A-Za-z0-9_-]+$/,
    );
    assert.equal(await shown("DNS servers"), "192.0.2.10");
    const table = page.getByRole("table", { name: "Edges serving this location" });
    await table.waitFor();
    const rows = table.getByRole("row");
    assert.equal(await rows.count(), 3, "a header and one row per edge");
    const local = rows.filter({ hasText: "loopback only" });
    assert.match(
      (await local.textContent()) ?? "",
      new RegExp(
        `127\\.0\\.0\\.1 port ${ports.dns}.*https://127\\.0\\.0\\.1:${ports.doh}/dns-query/`,
      ),
    );
    await local.getByText(/listens on loopback only/).waitFor();
    await rows
      .filter({ hasText: "lan-edge" })
      .getByRole("button", { name: "Copy DoH URL of lan-edge" })
      .waitFor();
    await screenshot(page, "connect-edges");
  });

  it("had no console error, page error, CSP violation or request outside loopback", () => {
    assert.deepEqual(problems, []);
  });
});
