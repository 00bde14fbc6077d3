// Issue 17 "Moving in": `gatehouse import adguardhome` (AdGuardHome.yaml) and `gatehouse import
// blocky` (config.yml), from the fixtures in fixtures/import/ written from each product's
// documented configuration format; then both against `gatehouse up`: import, publish, and
// queries the imported rules block are blocked.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ImportInputError, planImport } from "@gatehouse/control";
import { FIXTURES } from "./support/archives.ts";
import { answer } from "./support/dns-answer.ts";
import {
  refreshSubscriptions,
  runImport,
  serveText,
  startUp,
  type Up,
} from "./support/gatehouse-up.ts";
import { notMapped, policy } from "./support/import-plan.ts";

const AGH = join(FIXTURES, "adguardhome/AdGuardHome.yaml");
const BLOCKY = join(FIXTURES, "blocky/config.yml");

describe("gatehouse import adguardhome: the mapping", () => {
  test("filters, user rules, rewrites, upstreams, clients and blocked services", async () => {
    const plan = await planImport("adguardhome", await readFile(AGH));
    assert.deepEqual(plan.lists.find((l) => l.name === "adguardhome_user_blocked")?.items, [
      "tracking.example.com",
      "telemetry.example.org",
      "example-bare.org",
    ]);
    assert.equal(
      policy(plan, "adguardhome: user rules, allowed").expression,
      "any(dns.domains[*] in $adguardhome_user_allowed)",
    );
    assert.equal(
      policy(plan, "adguardhome: filter AdGuard DNS filter").expression,
      "any(dns.domains[*] in $adguardhome_filter_1) and not any(dns.domains[*] in $adguardhome_filter_1.allow)",
    );
    assert.equal(policy(plan, "adguardhome: allowlist Work tools").action, "allow");
    assert.deepEqual(policy(plan, "adguardhome: rewrite nas.home.example").settings, {
      overrideIps: ["192.168.1.2", "fd00::2"],
    });
    assert.equal(
      policy(plan, "adguardhome: rewrite *.dev.home.example").expression,
      'ends_with(dns.fqdn, ".dev.home.example")',
    );
    assert.deepEqual(policy(plan, "adguardhome: user rule wiki.home.example").settings, {
      overrideIps: ["192.168.1.20"],
    });
    assert.equal(
      policy(plan, "adguardhome: no filtering for Work laptop").expression,
      "dns.src_ip in {192.168.1.40}",
    );
    // The client without filtering is decided first; allow rules before block rules.
    const order = plan.policies.map((p) => p.name);
    assert.equal(order[0], "adguardhome: no filtering for Work laptop");
    assert.ok(
      order.indexOf("adguardhome: user rules, allowed") <
        order.indexOf("adguardhome: user rules, blocked"),
    );
    assert.deepEqual(
      plan.upstreams.map((u) => u.address),
      ["https://dns10.quad9.net/dns-query", "tls://one.one.one.one:853", "udp://8.8.8.8:53"],
    );
    assert.deepEqual(
      plan.conditionalForwarding.map((c) => [c.suffix, c.upstreams.map((u) => u.address)]),
      [
        ["lan", ["udp://192.168.1.1:53"]],
        ["corp.example", ["udp://10.0.0.53:53", "udp://10.0.0.54:53"]],
        ["168.192.in-addr.arpa", ["udp://10.0.0.53:53", "udp://10.0.0.54:53"]],
      ],
    );
    assert.match(notMapped(plan, /quic:/), /QUIC/);
    assert.match(notMapped(plan, /\(\?!www/), /look-ahead/);
    assert.match(notMapped(plan, /\$client=/), /modifiers/);
    assert.match(notMapped(plan, /\|\|\*\.doubleclick/), /wildcard/);
    assert.match(notMapped(plan, /blocked service tiktok/), /no catalogue/);
    assert.match(notMapped(plan, /aa:bb:cc:dd:ee:ff/), /MAC addresses/);
    assert.match(notMapped(plan, /^client Kids tablet$/), /parental control, safe search/);
    assert.match(notMapped(plan, /A local file/), /only http and https/);
    assert.match(notMapped(plan, /keep\.home\.example/), /not mappable/);
  });

  test("a YAML file that is not AdGuard Home's is a clear error", async () => {
    await assert.rejects(planImport("adguardhome", Buffer.from("- a\n- b\n")), ImportInputError);
    await assert.rejects(planImport("adguardhome", Buffer.from("foo: [1, 2\n")), /not valid YAML/);
    await assert.rejects(planImport("adguardhome", Buffer.from("foo: 1\n")), /neither a dns nor/);
  });
});

describe("gatehouse import blocky: the mapping", () => {
  test("denylists, allowlists, client groups, custom DNS, conditional, upstreams", async () => {
    const plan = await planImport("blocky", await readFile(BLOCKY));
    const deny = policy(plan, "blocky: denylist ads");
    // `default` has ads; the network 192.168.178.0/24 is named with special only.
    assert.match(deny.expression, /^not dns\.src_ip in \{192\.168\.178\.0\/24\} and \(/);
    assert.match(deny.expression, /any\(dns\.domains\[\*\] in \$blocky_deny_ads_1\)/);
    assert.match(deny.expression, /ends_with\(dns\.fqdn, "\.wildcard\.example\.com"\)/);
    assert.match(deny.expression, /dns\.fqdn matches r"\(\?i\)\^banner\[0-9\]\+\\\."/);
    assert.equal(
      policy(plan, "blocky: denylist special").expression,
      "any(dns.domains[*] in $blocky_deny_special_1)",
    );
    assert.deepEqual(plan.lists.find((l) => l.name === "blocky_deny_ads_inline")?.items, [
      "someadsdomain.com",
      "anotheradsdomain.com",
    ]);
    const order = plan.policies.map((p) => p.name);
    assert.ok(order.indexOf("blocky: allowlist ads") < order.indexOf("blocky: denylist ads"));
    assert.deepEqual(policy(plan, "blocky: custom DNS otherdevice.lan").settings, {
      overrideIps: ["192.168.178.15", "2001:db8:85a3:8d3:1319:8a2e:370:7344"],
    });
    assert.equal(
      policy(plan, "blocky: custom DNS printer.lan").expression,
      'any(dns.domains[*] == "printer.lan")',
    );
    assert.deepEqual(
      plan.upstreams.map((u) => u.address),
      [
        "udp://5.9.164.112:53",
        "udp://1.1.1.1:53",
        "tls://fdns1.dismail.de:853",
        "https://dns.digitale-gesellschaft.ch/dns-query",
      ],
    );
    assert.deepEqual(
      plan.conditionalForwarding.map((c) => c.suffix),
      ["fritz.box", "lan.net"],
    );
    assert.match(notMapped(plan, /clientGroupsBlock laptop\*/), /client names/);
    assert.match(notMapped(plan, /\(\?=\.\*tracker\)/), /look-ahead/);
    assert.match(notMapped(plan, /local-denylist/), /a file on the Blocky machine/);
    assert.match(notMapped(plan, /upstream group laptop\*/), /per-client upstreams/);
    assert.match(notMapped(plan, /customDNS\.rewrite/), /no equivalent/);
  });

  test("a YAML file that is not Blocky's is a clear error", async () => {
    await assert.rejects(planImport("blocky", Buffer.from("foo: 1\n")), /not a Blocky config\.yml/);
  });
});

describe("gatehouse import adguardhome and blocky: against gatehouse up", () => {
  let dir: string;
  let u: Up;
  let lists: Server;
  let aghFile: string;
  let blockyFile: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-import-yaml-"));
    // The fixtures' lists are on the internet: the test serves its own under the same paths.
    const served = await serveText((path) =>
      path.includes("work-tools")
        ? "||worktool.example^\n"
        : "! a filter list\n||filtered.example^\n@@||ok.filtered.example^\n0.0.0.0 blockylist.example\n",
    );
    lists = served.server;
    const local = (text: string) =>
      text.replace(/https:\/\/(?![^\s'"]*dns-query)/g, `${served.url}/`);
    aghFile = join(dir, "AdGuardHome.yaml");
    blockyFile = join(dir, "config.yml");
    await writeFile(aghFile, local(await readFile(AGH, "utf8")));
    await writeFile(blockyFile, local(await readFile(BLOCKY, "utf8")));
    u = await startUp(dir);
  });

  after(async () => {
    await u?.up.stop();
    lists?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("AdGuard Home: import, publish, and the imported rules block and rewrite", async () => {
    const dry = await runImport(u, "adguardhome", aghFile, "--dry-run");
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /\+ block policy "adguardhome: user rules, blocked"/);
    assert.match(dry.out, /- blocked service tiktok: Gatehouse has no catalogue/);

    const r = await runImport(u, "adguardhome", aghFile);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Published as version \d+\./);
    assert.deepEqual((await refreshSubscriptions(u, "adguardhome_")).sort(), [
      "adguardhome_allowlist_1700000001: updated",
      "adguardhome_filter_1: updated",
    ]);
    for (const name of [
      "www.tracking.example.com", // ||tracking.example.com^ covers subdomains
      "ad7.example.net", // /regex/
      "spyware.example", // 0.0.0.0 hosts line
      "sub.filtered.example", // the filter list
    ])
      assert.deepEqual(await answer(u, name, ["0.0.0.0"]), ["0.0.0.0"], name);
    assert.deepEqual(await answer(u, "nas.home.example", ["192.168.1.2"]), ["192.168.1.2"]);
    assert.deepEqual(await answer(u, "x.dev.home.example", ["192.168.1.30"]), ["192.168.1.30"]);

    const again = await runImport(u, "adguardhome", aghFile);
    assert.match(again.out, /adguardhome: created 0, already there \d+/);
  });

  test("Blocky through POST /api/v1/import/blocky: import, publish, the rules block and answer; the CLI then finds it all there", async () => {
    const res = await fetch(`${u.apiUrl}/api/v1/import/blocky`, {
      method: "POST",
      headers: { authorization: `Bearer ${u.token}`, "content-type": "application/yaml" },
      body: await readFile(blockyFile),
    });
    const report = (await res.json()) as {
      created: string[];
      notMapped: { item: string; reason: string }[];
      publishedVersion?: number;
    };
    assert.equal(res.status, 200, JSON.stringify(report));
    assert.ok(report.created.some((c) => c.startsWith('block policy "blocky: denylist ads"')));
    assert.ok(report.notMapped.some((n) => n.item === "clientGroupsBlock laptop*"));
    assert.equal(typeof report.publishedVersion, "number");
    await refreshSubscriptions(u, "blocky_");
    for (const name of [
      "www.someadsdomain.com", // inline entry, subdomains too
      "a.wildcard.example.com", // *.wildcard.example.com
      "banner3.example", // /regex/
      "blockylist.example", // a subscribed denylist
    ])
      assert.deepEqual(await answer(u, name, ["0.0.0.0"]), ["0.0.0.0"], name);
    assert.deepEqual(await answer(u, "printer.lan", ["192.168.178.3"]), ["192.168.178.3"]);
    assert.deepEqual(await answer(u, "sub.printer.lan", ["192.168.178.3"]), ["192.168.178.3"]);

    const again = await runImport(u, "blocky", blockyFile);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /blocky: created 0, already there \d+/);
  });
});
