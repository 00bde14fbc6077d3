// Issue 17 "Moving in": `gatehouse import pihole` from a gravity.db and from Teleporter backups
// (v6 ZIP, v5 tar.gz), built here from the text fixtures in fixtures/import/pihole/ (written
// from Pi-hole's documented schema and file formats); then the real command against `gatehouse
// up`: import, publish, and a query the imported rules block is blocked.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ImportInputError, planImport } from "@gatehouse/control";
import { FIXTURES, gravityDb, tarGz, zip } from "./support/archives.ts";
import { answer } from "./support/dns-answer.ts";
import {
  refreshSubscriptions,
  runImport,
  serveText,
  startUp,
  type Up,
} from "./support/gatehouse-up.ts";
import { notMapped, policy } from "./support/import-plan.ts";
import { runCli } from "./support/processes.ts";

async function teleporterV6(extraSql = ""): Promise<Buffer> {
  return zip({
    "etc/pihole/gravity.db": await gravityDb(extraSql),
    "etc/pihole/pihole.toml": await readFile(join(FIXTURES, "pihole/pihole.toml")),
  });
}

async function teleporterV5(): Promise<Buffer> {
  const dir = join(FIXTURES, "pihole/v5");
  const files: Record<string, Buffer> = {};
  for (const f of await readdir(dir))
    files[f === "05-pihole-custom-cname.conf" ? `dnsmasq.d/${f}` : f] = await readFile(
      join(dir, f),
    );
  return tarGz(files);
}

describe("gatehouse import pihole: the mapping", () => {
  test("gravity.db: exact and regex domains, groups, clients and adlists", async () => {
    const plan = await planImport("pihole", await gravityDb());
    const kids = "{192.168.1.50 192.168.1.64/28}";
    // The Kids clients are outside the Default group: Default's rules leave them out.
    assert.deepEqual(plan.lists.find((l) => l.name === "pihole_denied")?.items, [
      "telemetry.example.com",
      "ads.example.org",
    ]);
    assert.equal(
      policy(plan, "pihole: denied domains").expression,
      `not dns.src_ip in ${kids} and (dns.fqdn in $pihole_denied)`,
    );
    assert.equal(
      policy(plan, "pihole: denied domains (Kids)").expression,
      `dns.src_ip in ${kids} and (dns.fqdn in $pihole_denied_kids)`,
    );
    assert.equal(policy(plan, "pihole: allowed domains").action, "allow");
    assert.match(
      policy(plan, "pihole: deny regex ^tracker\\.example\\.org$;querytype=AAAA").expression,
      /dns\.fqdn matches r"\(\?i\)\^tracker\\\.example\\\.org\$" and dns\.query_rtype in \{"AAAA"\}/,
    );
    // Allow (exact, regex) before deny, then the adlists: first match wins.
    const order = plan.policies.map((p) => p.name);
    assert.ok(order.indexOf("pihole: allowed domains") < order.indexOf("pihole: denied domains"));
    assert.ok(
      order.indexOf("pihole: allow regex ^cdn[0-9]*\\.ads\\.example\\.org$") <
        order.indexOf("pihole: denied domains"),
    );
    const adlist = plan.lists.find((l) => l.name === "pihole_adlist_1");
    assert.equal(
      adlist?.subscription?.url,
      "https://raw.githubusercontent.com/StevenBlack/hosts/master/hosts",
    );
    // What cannot be mapped, and why.
    assert.match(notMapped(plan, /\^\(\.\+\)/), /back-reference/);
    assert.match(notMapped(plan, /reply=nodata/), /;reply=nodata has no equivalent/);
    assert.match(notMapped(plan, /12:34:56:78:9a:bc/), /MAC addresses/);
    assert.match(notMapped(plan, /old\.example\.org/), /disabled/);
    assert.match(notMapped(plan, /analytics\.example\.net/), /no enabled group/);
    assert.match(notMapped(plan, /file:\/\/\/etc/), /only http and https/);
    assert.match(notMapped(plan, /Easyprivacy/), /disabled/);
  });

  test("v6 Teleporter ZIP: upstreams, conditional forwarding, local DNS records and CNAMEs", async () => {
    const plan = await planImport("pihole", await teleporterV6());
    assert.deepEqual(
      plan.upstreams.map((u) => u.address),
      ["udp://9.9.9.9:53", "udp://149.112.112.112:53", "udp://127.0.0.1:5335"],
    );
    assert.match(notMapped(plan, /docker-resolver/), /need an IP address/);
    assert.deepEqual(plan.conditionalForwarding, [
      { suffix: "fritz.box", upstreams: [{ address: "udp://192.168.1.1:53" }] },
      { suffix: "1.168.192.in-addr.arpa", upstreams: [{ address: "udp://192.168.1.1:53" }] },
    ]);
    assert.deepEqual(policy(plan, "pihole: local record printer.home.arpa").settings, {
      overrideIps: ["192.168.1.3", "fd00::3"],
    });
    assert.equal(policy(plan, "pihole: local record nas").expression, 'dns.fqdn == "nas"');
    assert.deepEqual(policy(plan, "pihole: local CNAME media.home.arpa").settings, {
      overrideHost: "nas.home.arpa",
    });
    // The gravity part is there too.
    assert.ok(plan.lists.some((l) => l.name === "pihole_denied"));
  });

  test("v5 Teleporter tar.gz: JSON tables, setupVars.conf, custom.list, the CNAME file", async () => {
    const plan = await planImport("pihole", await teleporterV5());
    assert.deepEqual(
      plan.upstreams.map((u) => u.address),
      ["udp://1.1.1.1:53", "udp://1.0.0.1:53", "udp://[2606:4700:4700::1111]:53"],
    );
    assert.deepEqual(
      plan.conditionalForwarding.map((c) => c.suffix),
      ["lan", "1.168.192.in-addr.arpa"],
    );
    assert.deepEqual(
      plan.lists.filter((l) => l.subscription).map((l) => l.subscription!.url),
      [
        "https://raw.githubusercontent.com/StevenBlack/hosts/master/hosts",
        "https://adaway.org/hosts.txt",
      ],
    );
    assert.equal(policy(plan, "pihole: denied domains").expression, "dns.fqdn in $pihole_denied");
    assert.deepEqual(policy(plan, "pihole: local record nas.lan").settings, {
      overrideIps: ["192.168.1.2"],
    });
    assert.deepEqual(policy(plan, "pihole: local CNAME media.lan").settings, {
      overrideHost: "nas.lan",
    });
    assert.match(notMapped(plan, /\(\?!www/), /look-around|not supported|unrecognized/i);
  });

  test("a gravity.db without group tables puts everything in the Default group; list names stay unique", async () => {
    const plan = await planImport(
      "pihole",
      await gravityDb(`DROP TABLE domainlist_by_group; DROP TABLE adlist_by_group;
        INSERT INTO "group" (id, enabled, name) VALUES (3, 1, 'kids!');`),
    );
    // No assignment table: the Kids-only domain applies to everyone (but the Kids clients, who
    // are still outside Default).
    assert.deepEqual(plan.lists.find((l) => l.name === "pihole_denied")?.items, [
      "telemetry.example.com",
      "ads.example.org",
      "games.example.com",
    ]);
    assert.ok(plan.lists.some((l) => l.name === "pihole_adlist_1"));

    const twoKids = await planImport(
      "pihole",
      await gravityDb(`INSERT INTO "group" (id, enabled, name) VALUES (3, 1, 'kids!');
        INSERT INTO client (id, ip) VALUES (4, '192.168.1.99');
        INSERT INTO client_by_group VALUES (4, 3);
        INSERT INTO domainlist (id, type, domain) VALUES (20, 1, 'other.example.com');
        DELETE FROM domainlist_by_group WHERE domainlist_id = 20;
        INSERT INTO domainlist_by_group VALUES (20, 3);`),
    );
    const names = twoKids.lists
      .map((l) => l.name)
      .filter((n) => n.startsWith("pihole_denied_kids"));
    assert.deepEqual(names, ["pihole_denied_kids", "pihole_denied_kids_2"]);
    assert.match(
      policy(twoKids, "pihole: denied domains (kids!)").expression,
      /^dns\.src_ip in \{192\.168\.1\.99\} and \(dns\.fqdn in \$pihole_denied_kids_2\)$/,
    );
  });

  test("a file that is none of these is a clear error", async () => {
    await assert.rejects(planImport("pihole", Buffer.from("hello")), (e: unknown) => {
      assert.ok(e instanceof ImportInputError);
      assert.match(e.message, /not a Pi-hole gravity\.db \(SQLite\) or Teleporter backup/);
      return true;
    });
    await assert.rejects(
      planImport("pihole", zip({ "etc/readme.txt": "x" })),
      /neither gravity\.db nor/,
    );
  });
});

describe("gatehouse import pihole: against gatehouse up", () => {
  let dir: string;
  let u: Up;
  let lists: Server;
  let backup: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-import-"));
    // The adlist is served locally (the fixture's URL is on the internet).
    const served = await serveText(
      "# a hosts list\n0.0.0.0 ads.example.biz\n0.0.0.0 tracker.example.biz\n",
    );
    lists = served.server;
    backup = join(dir, "pi-hole_teleporter.zip");
    await writeFile(
      backup,
      await teleporterV6(`UPDATE adlist SET address = '${served.url}/hosts' WHERE id = 1;`),
    );
    u = await startUp(dir);
  });

  after(async () => {
    await u?.up.stop();
    lists?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("--dry-run prints what it would create and what it cannot map, and changes nothing", async () => {
    const before = await u.call<{ items: unknown[] }>("GET", "/policies");
    const r = await runImport(u, "pihole", backup, "--dry-run");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Would create:/);
    assert.match(r.out, /\+ block policy "pihole: denied domains"/);
    assert.match(r.out, /\+ list \$pihole_adlist_1 subscribed to http:\/\/127\.0\.0\.1:\d+\/hosts/);
    assert.match(r.out, /\+ conditional forwarding of fritz\.box to udp:\/\/192\.168\.1\.1:53/);
    assert.match(
      r.out,
      /Not mapped:\n(.*\n)*\s+- client 12:34:56:78:9a:bc \(the TV, by MAC\): .*MAC addresses/,
    );
    assert.match(r.out, /Dry run: nothing was changed\./);
    const afterRun = await u.call<{ items: unknown[] }>("GET", "/policies");
    assert.equal(afterRun.body.items.length, before.body.items.length);
  });

  test("the import creates and publishes; the imported rules block; a second run skips everything", async () => {
    const r = await runImport(u, "pihole", backup);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Published as version \d+\./);
    assert.deepEqual(await refreshSubscriptions(u, "pihole_"), ["pihole_adlist_1: updated"]);

    assert.deepEqual(
      await answer(u, "telemetry.example.com", ["0.0.0.0"]),
      ["0.0.0.0"],
      "exact deny",
    );
    assert.deepEqual(await answer(u, "ad42.example.com", ["0.0.0.0"]), ["0.0.0.0"], "regex deny");
    assert.deepEqual(
      await answer(u, "stats.g.doubleclick.net", ["0.0.0.0"]),
      ["0.0.0.0"],
      "regex deny",
    );
    assert.deepEqual(await answer(u, "ads.example.biz", ["0.0.0.0"]), ["0.0.0.0"], "the adlist");
    assert.deepEqual(
      await answer(u, "nas.home.arpa", ["192.168.1.2"]),
      ["192.168.1.2"],
      "local DNS record",
    );

    const resolver = await u.call<{ conditionalForwarding?: { suffix: string }[] }>(
      "GET",
      "/resolver",
    );
    assert.deepEqual(
      resolver.body.conditionalForwarding?.map((c) => c.suffix),
      ["fritz.box", "1.168.192.in-addr.arpa"],
    );

    const again = await runImport(u, "pihole", backup);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /pihole: created 0, already there \d+/);
    assert.doesNotMatch(again.out, /Published as version/);
  });

  test("without GATEHOUSE_TOKEN a real run says what to set", async () => {
    const p = runCli(["import", "pihole", backup], { GATEHOUSE_TOKEN: "" });
    const code = await p.stop("SIGCONT");
    assert.equal(code, 2);
    assert.match(p.output(), /set GATEHOUSE_TOKEN/);
  });
});
